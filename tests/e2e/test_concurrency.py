"""Concurrency over stdio: two real servers on one repo and story, and many calls at once from one client.
No recorded write or log section is lost, two sections never interleave, and the loser of a race gets a
clear workflow error. Assertions are on the journal (decoded and chain-verified) and on BACKEND-LOG.md."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult
from scripts.stress import expected_log

from storyfence.commands import demo_script as s
from storyfence.core import log_reader
from storyfence.core.events import FileChanged
from storyfence.core.journal import Record, decode
from tests.support.client import CALL_TIMEOUT, call, text_of
from tests.support.server import connect

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

IMPL = Path(s.STORY) / "_implementation"
FAST_POLICY = '[typecheck]\ncommand = ["node", "-e", "process.exit(0)", "{package}"]\ntimeout_seconds = 60\n'


@pytest.fixture
def fast_policy(tmp_path: Path) -> Path:
    policy = tmp_path / "fast.toml"
    policy.write_text(FAST_POLICY, encoding="utf-8")
    return policy


def journal(root: Path) -> list[Record]:
    raw = (root / IMPL / ".storyfence" / "journal.jsonl").read_bytes()
    records, good = decode(raw.decode("utf-8"))
    assert good == len(raw)  # every byte verified: no torn or interleaved line
    return records


def log_text(root: Path) -> str:
    return (root / IMPL / "BACKEND-LOG.md").read_text(encoding="utf-8")


def assert_log_is_the_journal(root: Path, records: list[Record]) -> None:
    """BACKEND-LOG.md is the header plus every appended block, whole and in journal order."""
    appends = [a for r in records if (a := getattr(r.event, "log_append", ""))]
    assert log_text(root) == expected_log(s.STORY, appends)


async def race(calls: list[tuple[Client, str, dict[str, Any]]]) -> list[CallToolResult]:
    """Fire every call at once; their results in the order given."""
    results: list[CallToolResult | None] = [None] * len(calls)

    async def one(index: int, client: Client, tool: str, arguments: dict[str, Any]) -> None:
        results[index] = await client.call_tool(tool, arguments)

    with anyio.fail_after(CALL_TIMEOUT):
        async with anyio.create_task_group() as tg:
            for index, (client, tool, arguments) in enumerate(calls):
                tg.start_soon(one, index, client, tool, arguments)
    return [r for r in results if r is not None]


def winner_and_loser(results: list[CallToolResult]) -> tuple[CallToolResult, str]:
    winners = [r for r in results if not r.is_error]
    losers = [text_of(r) for r in results if r.is_error]
    assert len(winners) == 1, [text_of(r) for r in results]
    assert len(losers) == len(results) - 1
    return winners[0], losers[0]


async def test_two_servers_racing_through_chunks_each_step_has_one_winner_and_a_clear_refusal(
    example_repo: Path, fast_policy: Path
) -> None:
    root = example_repo
    story = {"story": s.STORY}
    rounds = 3
    async with connect(root, "--policy", str(fast_policy)) as a, connect(root, "--policy", str(fast_policy)) as b:
        for number in range(1, rounds + 1):
            opened = await race(
                [(c, "begin_chunk", {**story, "name": f"race {number}", "objective": "AC1"}) for c in (a, b)]
            )
            _, refusal = winner_and_loser(opened)
            assert f"begin_chunk refused in state OPEN: chunk {number} (race {number}) is still open" in refusal

            writes = await race(
                [
                    (
                        c,
                        "write_file",
                        {**story, "path": f"packages/core/src/orders/r{number}-{i}.ts", "content": "export {};\n"},
                    )
                    for i, c in enumerate((a, b))
                ]
            )
            assert not any(r.is_error for r in writes)

            logged = await race([(c, "append_chunk_log", {**story, **s.CHUNK_1_LOG}) for c in (a, b)])
            _, refusal = winner_and_loser(logged)
            assert f"chunk {number} already has its log section (the log is append-only)" in refusal

            checked = await race([(c, "run_typecheck", story) for c in (a, b)])
            winner, refusal = winner_and_loser(checked)
            assert winner.structured_content is not None
            assert winner.structured_content["chunk_closed"] is True
            assert "run_typecheck refused" in refusal
            assert "already passed" in refusal or "needs an open chunk" in refusal
        status = await call(a, "story_status", **story)
        assert ([c["closed"] for c in status["chunks"]], status["earlier_chunks"]) == ([True], rounds - 1)
        assert len(status["recent"]) == min(rounds - 1, 4)
        assert all(line.endswith(", closed") for line in status["recent"])

    records = journal(root)
    per_chunk = ["chunk_opened", "file_changed", "file_changed", "chunk_logged", "typecheck_ran", "chunk_closed"]
    assert [r.event.type for r in records] == per_chunk * rounds
    sections = log_reader.parse_log(log_text(root))
    assert [(sec.number, sec.name) for sec in sections] == [(n, f"race {n}") for n in range(1, rounds + 1)]
    assert all(sec.complete for sec in sections)
    for sec in sections:
        assert sorted(sec.files) == [f"packages/core/src/orders/r{sec.number}-{i}.ts" for i in (0, 1)]
    assert_log_is_the_journal(root, records)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def test_two_servers_writing_many_files_at_once_lose_no_recorded_write(example_repo: Path) -> None:
    root = example_repo
    story = {"story": s.STORY}
    async with connect(root) as a, connect(root) as b:
        await call(a, "begin_chunk", **story, name="many writers", objective="AC1")
        calls: list[tuple[Client, str, dict[str, Any]]] = []
        for name, client in (("a", a), ("b", b)):
            for i in range(20):
                path = f"packages/core/src/orders/{name}{i}.ts"
                calls.append(
                    (client, "write_file", {**story, "path": path, "content": f"export const {name}{i} = {i};\n"})
                )
            for i in range(5):  # both servers also fight over one file
                content = f"export const shared = '{name}{i}';\n"
                calls.append(
                    (client, "write_file", {**story, "path": "packages/core/src/orders/shared.ts", "content": content})
                )
        results = await race(calls)
        assert [text_of(r) for r in results if r.is_error] == []
        acknowledged = Counter(
            (r.structured_content["change"]["path"], r.structured_content["change"]["sha256"])
            for r in results
            if r.structured_content is not None
        )
        await call(b, "append_chunk_log", **story, **s.CHUNK_1_LOG)
        assert (await call(a, "run_typecheck", **story))["chunk_closed"] is True  # the section's rest lands

    records = journal(root)
    changes = [r.event.change for r in records if isinstance(r.event, FileChanged)]
    assert Counter((c.path, c.sha256) for c in changes) == acknowledged
    assert len(changes) == 50
    last: dict[str, str | None] = {}
    for change in changes:
        last[change.path] = change.sha256
    for path, digest in last.items():  # the disk holds what the journal recorded last, for every path
        assert sha((root / path).read_text(encoding="utf-8")) == digest
    [section] = log_reader.parse_log(log_text(root))
    assert section.complete
    assert sorted(section.files) == sorted(last)
    assert_log_is_the_journal(root, records)


async def test_concurrent_edits_of_one_file_from_one_client_are_all_applied_and_recorded(example_repo: Path) -> None:
    root = example_repo
    path = "packages/core/src/orders/counters.ts"
    lines = 30
    story = {"story": s.STORY}
    async with connect(root) as client:
        await call(client, "begin_chunk", **story, name="concurrent edits", objective="AC1")
        original = "".join(f"export const c{i} = 0;\n" for i in range(lines))
        await call(client, "write_file", **story, path=path, content=original)
        edits = [
            (
                client,
                "edit_file",
                {**story, "path": path, "edits": [{"old_text": f"c{i} = 0;", "new_text": f"c{i} = {i + 1};"}]},
            )
            for i in range(lines)
        ]
        results = await race(edits)
        assert [text_of(r) for r in results if r.is_error] == []
        # two log sections at once from the same client: one lands, the other is refused
        logged = await race([(client, "append_chunk_log", {**story, **s.CHUNK_1_LOG})] * 2)
        _, refusal = winner_and_loser(logged)
        assert "already has its log section" in refusal
        assert (await call(client, "run_typecheck", **story))["chunk_closed"] is True

    final = (root / path).read_text(encoding="utf-8")
    assert final == "".join(f"export const c{i} = {i + 1};\n" for i in range(lines))  # no edit lost another
    records = journal(root)
    changes = [r.event.change for r in records if isinstance(r.event, FileChanged)]
    assert len(changes) == lines + 1
    assert len({c.sha256 for c in changes}) == lines + 1
    assert changes[-1].sha256 == sha(final)
    [section] = log_reader.parse_log(log_text(root))
    assert section.files == (path,)
    assert_log_is_the_journal(root, records)
