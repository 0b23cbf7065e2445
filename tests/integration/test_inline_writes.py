"""Writes on the event loop (stdio): taken there only when the story's lock is free at once. A write that finds
it held does nothing, moves to a worker thread and waits there, so the loop keeps serving other calls."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import anyio
import pytest
from mcp import Client

from storyfence.adapters.policy_file import load_builtin
from storyfence.app.service import StoryfenceService
from storyfence.cli import make_service
from storyfence.core.errors import WouldWait
from storyfence.core.story_paths import StoryPaths
from storyfence.mcp.roots import Binding
from storyfence.mcp.server import build_server
from tests.support.client import call
from tests.support.repos import story_inputs, write_tree

STORY = "STORY-001"
PATHS = StoryPaths(STORY, STORY)
TARGET = "packages/core/src/orders/cancel.ts"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    files = {"packages/core/src/orders/order.ts": "export type Order = { id: string };\n", **story_inputs(STORY)}
    return write_tree(tmp_path / "repo", files)


class StoryLockHeld:
    """The story's lock, held as another transaction (a typecheck, another server) holds it; released once."""

    def __init__(self, repo: Path) -> None:
        (repo / PATHS.server_dir).mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(repo / PATHS.lock, os.O_RDWR | os.O_CREAT, 0o644)

    def __enter__(self) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def test_a_write_told_not_to_wait_finds_the_lock_held_and_does_nothing(repo: Path) -> None:
    service = StoryfenceService(repo, load_builtin())
    service.begin_chunk(STORY, "n", "o")
    journal_before = (repo / PATHS.journal).read_bytes()
    with StoryLockHeld(repo), pytest.raises(WouldWait):
        service.write_file(STORY, TARGET, "export const a = 1;\n", wait=False)
    assert not (repo / TARGET).exists()
    assert (repo / PATHS.journal).read_bytes() == journal_before
    service.write_file(STORY, TARGET, "export const a = 1;\n", wait=False)  # free: it lands
    assert (repo / TARGET).read_text(encoding="utf-8") == "export const a = 1;\n"


@pytest.mark.anyio
async def test_an_inline_write_that_finds_the_lock_held_waits_off_the_loop_and_lands_after(repo: Path) -> None:
    service = make_service(repo, None)
    server = build_server(Binding(repo, lambda r: make_service(r, None), service), inline_writes=True)
    async with Client(server) as client:
        await call(client, "begin_chunk", story=STORY, name="n", objective="o")
        await call(client, "write_file", story=STORY, path=TARGET, content="export const a = 1;\n")  # on the loop
        written: dict[str, object] = {}

        async def write() -> None:
            written.update(await call(client, "write_file", story=STORY, path=TARGET, content="export const a = 2;\n"))

        held = StoryLockHeld(repo)
        held.__enter__()
        async with anyio.create_task_group() as tg:
            tg.start_soon(write)
            try:
                await anyio.wait_all_tasks_blocked()  # the write is in, waiting for the lock
                with anyio.fail_after(30):  # and the loop still serves
                    read = await call(client, "read_file", path="packages/core/src/orders/order.ts")
                    status = await call(client, "story_status", story=STORY)
                assert "export type Order" in str(read["content"])
                assert status["status"] == "open"
                assert written == {}
                assert (repo / TARGET).read_text(encoding="utf-8") == "export const a = 1;\n"
            finally:
                held.__exit__()  # the other transaction ends: the write goes on
    assert (repo / TARGET).read_text(encoding="utf-8") == "export const a = 2;\n"
    assert written["bytes"] == len("export const a = 2;\n")
