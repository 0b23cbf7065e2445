"""Whole stories over stdio with the official client on a copy of the example monorepo, with the
real `pnpm check-types` (turbo + tsc). Assertions are on the files the server wrote, not only results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storyfence.commands import demo_script as s
from storyfence.core import log_reader
from storyfence.core.journal import decode
from tests.support.client import call, refused
from tests.support.demo_story import CANCEL_ORDER_WRONG_FIXES
from tests.support.server import connect

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

CORE_FILE = "packages/core/src/orders/cancel-order.ts"
IMPL = Path(s.STORY) / "_implementation"


def log_text(root: Path) -> str:
    return (root / IMPL / "BACKEND-LOG.md").read_text(encoding="utf-8")


def journal_events(root: Path) -> list[str]:
    records, _ = decode((root / IMPL / ".storyfence" / "journal.jsonl").read_text(encoding="utf-8"))
    return [r.event.type for r in records]


async def test_a_whole_story_runs_from_read_story_to_backend_complete(example_repo: Path) -> None:
    root = example_repo
    async with connect(root) as client:
        story = await call(client, "read_story", story=s.STORY)
        assert story["scope"]["narrows"] is True
        assert "packages/core/src/orders/**" in story["scope"]["in_scope"]
        assert story["status"]["status"] == "idle"

        await call(client, "begin_chunk", story=s.STORY, name="cancelOrder use case", objective="AC1-AC3")
        await call(client, "write_file", story=s.STORY, path=CORE_FILE, content=s.CANCEL_ORDER_BROKEN)
        await call(client, "edit_file", story=s.STORY, path="packages/core/src/index.ts", edits=[s.INDEX_EXPORT])
        early = await refused(client, "begin_chunk", story=s.STORY, name="next", objective="too early")
        assert "call append_chunk_log" in early
        assert "call run_typecheck" in early

        failed = await call(client, "run_typecheck", story=s.STORY)
        assert failed["outcome"] == "failed"
        [run] = failed["runs"]
        # core and the packages that depend on it, in one turbo command
        assert run["argv"] == [
            "pnpm",
            "exec",
            "turbo",
            "run",
            "check-types",
            "--filter",
            "...@example/core",
            "--continue",
        ]
        assert failed["dependents"] == ["@example/api", "@example/backend"]
        assert run["exit_code"] not in (0, None)
        assert [(d["file"], d["line"], d["code"]) for d in run["diagnostics"]] == [(CORE_FILE, 22, "TS2820")]
        assert failed["failed_fix_attempts"] == 0
        assert "### Chunk 1 — typecheck failed (run 1" in log_text(root)
        assert f"`{CORE_FILE}:22:40` TS2820" in log_text(root)

        await call(client, "edit_file", story=s.STORY, path=CORE_FILE, edits=[s.CANCEL_ORDER_FIX])
        passed = await call(client, "run_typecheck", story=s.STORY)
        assert passed["outcome"] == "passed"
        assert passed["chunk_closed"] is False  # not logged yet
        logged = await call(client, "append_chunk_log", story=s.STORY, **s.CHUNK_1_LOG)
        assert logged["chunk_closed"] is True

        await call(client, "begin_chunk", story=s.STORY, name="cancel endpoint", objective="AC1-AC4")
        await call(
            client, "write_file", story=s.STORY, path="apps/api/api/orders/[id]/cancel.ts", content=s.CANCEL_ENDPOINT
        )
        await call(client, "write_file", story=s.STORY, path="__http__/orders-cancel.http", content=s.CANCEL_HTTP)
        checked = await call(client, "run_typecheck", story=s.STORY)
        assert checked["outcome"] == "passed"
        assert [r["package"] for r in checked["runs"]] == ["@example/api"]
        assert checked["unchecked"] == ["__http__/orders-cancel.http"]
        await call(client, "append_chunk_log", story=s.STORY, **s.CHUNK_2_LOG)
        done = await call(client, "complete_story", story=s.STORY)
        assert done["signal"] == "BACKEND COMPLETE"
        assert "COMPLETE" in await refused(client, "write_file", story=s.STORY, path=CORE_FILE, content="x")

    text = log_text(root)
    sections = log_reader.parse_log(text)
    assert [(sec.number, sec.name) for sec in sections] == [(1, "cancelOrder use case"), (2, "cancel endpoint")]
    assert all(sec.complete for sec in sections)
    assert sections[0].files == (CORE_FILE, "packages/core/src/index.ts")
    assert sections[1].files == ("apps/api/api/orders/[id]/cancel.ts", "__http__/orders-cancel.http")
    assert "failed (exit 2" in sections[0].fields["Commands run"]
    assert "passed (exit 0" in sections[0].fields["Commands run"]
    assert sections[1].fields["Reused"].startswith("cancelOrder from @example/core")
    assert text.rstrip().endswith("BACKEND COMPLETE")
    assert (root / CORE_FILE).read_text(encoding="utf-8") == s.CANCEL_ORDER_BROKEN.replace(
        "status: 'canceled'", "status: 'cancelled'"
    )
    assert not (root / IMPL / "BLOCKERS.md").exists()
    assert journal_events(root)[-1] == "story_completed"


async def test_a_chunk_that_keeps_failing_ends_blocked_after_two_failed_fix_attempts(example_repo: Path) -> None:
    root = example_repo
    async with connect(root) as client:
        await call(client, "begin_chunk", story=s.STORY, name="cancelOrder use case", objective="AC1")
        await call(client, "write_file", story=s.STORY, path=CORE_FILE, content=s.CANCEL_ORDER_BROKEN)
        first = await call(client, "run_typecheck", story=s.STORY)
        assert (first["outcome"], first["failed_fix_attempts"], first["signal"]) == ("failed", 0, "")
        assert "nothing changed" in await refused(client, "run_typecheck", story=s.STORY)

        await call(client, "edit_file", story=s.STORY, path=CORE_FILE, edits=[CANCEL_ORDER_WRONG_FIXES[0]])
        second = await call(client, "run_typecheck", story=s.STORY)
        assert (second["outcome"], second["failed_fix_attempts"], second["signal"]) == ("failed", 1, "")

        await call(client, "edit_file", story=s.STORY, path=CORE_FILE, edits=[CANCEL_ORDER_WRONG_FIXES[1]])
        third = await call(client, "run_typecheck", story=s.STORY)
        assert third["outcome"] == "failed"
        assert third["failed_fix_attempts"] == 2
        assert third["signal"].startswith("BLOCKED: typecheck still failing after 2 fix attempts")

        assert "BLOCKED" in await refused(client, "write_file", story=s.STORY, path=CORE_FILE, content="x")
        assert "BLOCKED" in await refused(client, "begin_chunk", story=s.STORY, name="n", objective="o")
        status = await call(client, "story_status", story=s.STORY)
        assert status["status"] == "blocked"
        assert status["signal"] == third["signal"]

    blockers = (root / IMPL / "BLOCKERS.md").read_text(encoding="utf-8")
    assert blockers.startswith("# Blockers — STORY-042")
    assert third["signal"] in blockers
    assert blockers.rstrip().endswith(third["signal"])
    assert blockers.count("pnpm exec turbo run check-types --filter ...@example/core --continue") >= 3
    assert "TS2322" in blockers  # 'annulled' is not an OrderStatus
    assert log_reader.parse_failures(log_text(root)) == [(1, 1), (1, 2), (1, 3)]
    assert "**BLOCKED: typecheck still failing" in log_text(root)
    assert "status: 'annulled'" in (root / CORE_FILE).read_text(encoding="utf-8")


async def test_a_restart_in_the_middle_of_a_chunk_keeps_its_state_and_its_writes(example_repo: Path) -> None:
    root = example_repo
    async with connect(root) as client:
        await call(client, "begin_chunk", story=s.STORY, name="cancelOrder use case", objective="AC1")
        await call(client, "write_file", story=s.STORY, path=CORE_FILE, content=s.CANCEL_ORDER_BROKEN)
        await call(client, "edit_file", story=s.STORY, path=CORE_FILE, edits=[s.CANCEL_ORDER_FIX])
    # the server process has exited; a new one must see the same open chunk
    async with connect(root) as client:
        status = await call(client, "story_status", story=s.STORY)
        assert status["status"] == "open"
        [chunk] = status["chunks"]
        assert [(f["path"], f["kind"]) for f in chunk["files"]] == [(CORE_FILE, "created"), (CORE_FILE, "modified")]
        assert "call append_chunk_log" in await refused(client, "begin_chunk", story=s.STORY, name="n", objective="o")
        await call(client, "append_chunk_log", story=s.STORY, **s.CHUNK_1_LOG)
        passed = await call(client, "run_typecheck", story=s.STORY)
        assert passed["outcome"] == "passed"
        assert passed["chunk_closed"] is True
    [section] = log_reader.parse_log(log_text(root))
    assert section.files == (CORE_FILE,)
    assert journal_events(root) == [
        "chunk_opened",
        "file_changed",
        "file_changed",
        "chunk_logged",
        "typecheck_ran",
        "chunk_closed",
    ]


async def test_pnpm_missing_is_a_tooling_failure_and_not_a_fix_attempt(example_repo: Path) -> None:
    root = example_repo
    async with connect(root, env={"PATH": "/usr/bin:/bin"}) as client:
        await call(client, "begin_chunk", story=s.STORY, name="cancelOrder use case", objective="AC1")
        await call(client, "write_file", story=s.STORY, path=CORE_FILE, content=s.CANCEL_ORDER_BROKEN)
        for _ in range(3):  # never counts toward BLOCKED, and may be retried without a write
            result = await call(client, "run_typecheck", story=s.STORY)
            assert result["outcome"] == "tooling_error"
            assert result["failed_fix_attempts"] == 0
            assert "not found on PATH" in result["message"]
        status = await call(client, "story_status", story=s.STORY)
        assert status["status"] == "open"
        assert status["chunks"][0]["typecheck"] == "none"
    assert not (root / IMPL / "BLOCKERS.md").exists()


async def test_a_hung_typecheck_is_killed_with_its_process_group_within_the_timeout(example_repo: Path) -> None:
    root = example_repo
    pid_file = root.parent / "grandchild.pid"
    hang = (
        "const cp=require('child_process');"
        "const c=cp.spawn('sleep',['300'],{stdio:'ignore'});"
        f"require('fs').writeFileSync({json.dumps(str(pid_file))}, String(c.pid));"
        "setInterval(()=>{},1000);"
    )
    policy = root.parent / "hang.toml"
    policy.write_text(
        # one hung command is enough: core's dependents would get one each
        f'[typecheck]\ncommand = ["node", "-e", {json.dumps(hang)}, "{{package}}"]\ntimeout_seconds = 3\n'
        "dependents = false\n",
        encoding="utf-8",
    )
    async with connect(root, "--policy", str(policy)) as client:
        await call(client, "begin_chunk", story=s.STORY, name="cancelOrder use case", objective="AC1")
        await call(client, "write_file", story=s.STORY, path=CORE_FILE, content=s.CANCEL_ORDER_BROKEN)
        result = await call(client, "run_typecheck", story=s.STORY)
        assert result["outcome"] == "tooling_error"
        [run] = result["runs"]
        assert run["outcome"] == "timeout"
        assert run["exit_code"] is None
        assert 3 <= run["duration_seconds"] < 30
        assert result["failed_fix_attempts"] == 0
    grandchild = int(pid_file.read_text(encoding="utf-8"))
    stat = Path(f"/proc/{grandchild}/stat")
    # killed with the group: gone, or a zombie waiting for init to reap it
    assert not stat.exists() or stat.read_text(encoding="utf-8").split(") ")[1][0] == "Z"


async def test_bad_story_input_gets_a_clear_error_and_changes_nothing(example_repo: Path) -> None:
    root = example_repo
    async with connect(root) as client:
        assert "expected its folder at one of STORY-999/STORY-999.md" in await refused(
            client, "read_story", story="STORY-999"
        )
        assert "does not look like a story id" in await refused(client, "read_story", story="../STORY-042")
        assert "does not look like a story id" in await refused(
            client, "begin_chunk", story="x", name="n", objective="o"
        )
        assert "name must not be empty" in await refused(client, "begin_chunk", story=s.STORY, name="  ", objective="o")
        no_chunk = await refused(client, "write_file", story=s.STORY, path=CORE_FILE, content="x")
        assert "needs an open chunk" in no_chunk
        assert "call begin_chunk" in no_chunk
        await call(client, "begin_chunk", story=s.STORY, name="n", objective="o")
        empty = {**s.CHUNK_1_LOG, "summary": "   "}
        assert "summary must not be empty" in await refused(client, "append_chunk_log", story=s.STORY, **empty)
        no_reuse = {**s.CHUNK_1_LOG, "reuse": {"reused": "", "new": "x", "why_new": "y"}}
        assert "reused" in await refused(client, "append_chunk_log", story=s.STORY, **no_reuse)
        status = await call(client, "story_status", story=s.STORY)
        assert status["chunks"][0]["logged"] is False
    assert journal_events(root) == ["chunk_opened"]
    [section] = log_reader.parse_log(log_text(root))  # the chunk's heading and Objective, nothing else
    assert (section.number, section.fields) == (1, {"Objective": "o"})
    assert not (root / CORE_FILE).exists()
