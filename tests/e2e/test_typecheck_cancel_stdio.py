"""Cancelling run_typecheck over stdio with the official client: progress arrives while the command runs; on
`notifications/cancelled` the command's whole process group dies (the command and the child it started), the run
is recorded as cancelled tooling, never as a fix attempt, and the server goes on serving."""

from __future__ import annotations

import json
import os
import select
from pathlib import Path
from typing import Any

import anyio
import pytest

from storyfence.app.gate import CANCELLED_NOTE
from storyfence.commands import demo_script as s
from tests.support.client import call
from tests.support.server import connect

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

# the "typecheck": starts a child (in its process group), writes both pids, then waits forever
HANG = (
    "const {{spawn}}=require('child_process');const fs=require('fs');"
    "const child=spawn(process.execPath,['-e','setInterval(()=>{{}},1000)'],{{stdio:'ignore'}});"
    "fs.writeFileSync({pids},process.pid+' '+child.pid);console.log('checking');setInterval(()=>{{}},1000);"
)


def wait_gone(pid: int, seconds: float) -> bool:
    """True once process `pid` has ended (or was already gone), within `seconds`; a pidfd wait, no polling."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], seconds)
        return bool(readable)
    finally:
        os.close(fd)


async def test_a_cancelled_typecheck_kills_its_process_group_and_is_not_a_fix_attempt(
    example_repo: Path, tmp_path: Path
) -> None:
    pids_file = tmp_path / "pids"
    os.mkfifo(pids_file)  # reading it waits for the command to write its pids: no polling
    policy = tmp_path / "hang.toml"
    command = ["node", "-e", HANG.format(pids=json.dumps(str(pids_file))), "{package}"]
    policy.write_text(f"[typecheck]\ncommand = {json.dumps(command)}\n", encoding="utf-8")
    progress: list[str] = []
    running = anyio.Event()

    async def on_progress(_progress: float, _total: float | None, message: str | None) -> None:
        progress.append(message or "")
        running.set()

    async with connect(example_repo, "--policy", str(policy)) as client:
        await call(client, "begin_chunk", story=s.STORY, name="hang", objective="cancel a typecheck")
        await call(client, "write_file", story=s.STORY, path="packages/core/src/orders/x.ts", content="export {};\n")
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:

                async def typecheck() -> None:
                    await client.call_tool("run_typecheck", {"story": s.STORY}, progress_callback=on_progress)

                tg.start_soon(typecheck)
                pids = await anyio.to_thread.run_sync(pids_file.read_text, "utf-8", abandon_on_cancel=True)
                await running.wait()
                tg.cancel_scope.cancel()  # the client abandons the call: notifications/cancelled
        command_pid, child_pid = (int(p) for p in pids.split())
        assert wait_gone(command_pid, 30)
        assert wait_gone(child_pid, 30)
        # still serving. The cancelled run is recorded right after its process group is gone; story_status reads
        # without the story's lock, so it can come first: ask again until the record is there (each ask is a
        # round trip, no sleep), within the deadline
        with anyio.fail_after(30):
            status: dict[str, Any] = await call(client, "story_status", story=s.STORY)
            while not status["chunks"][0]["commands"]:
                status = await call(client, "story_status", story=s.STORY)
    [chunk] = status["chunks"]
    assert chunk["failed_fix_attempts"] == 0
    assert chunk["closed"] is False
    last = chunk["commands"][-1]
    assert (last["outcome"], last["exit_code"], last["note"]) == ("tooling_error", None, CANCELLED_NOTE)
    assert any(message.startswith("running node -e") for message in progress), progress
