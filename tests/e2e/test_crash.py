"""Crash safety over stdio. The real server is SIGKILLed at random moments of whole stories (scripts/stress.py
with a fixed seed), and the crash windows that a random kill rarely hits are set up by hand: a journal append
cut short (inside a multi-byte character), and a record whose BACKEND-LOG.md write never happened."""

from __future__ import annotations

from pathlib import Path

import pytest
from scripts.stress import Summary, expected_log, stress

from storyfence.commands import demo_script as s
from storyfence.core import log_reader
from storyfence.core.journal import decode
from tests.support.client import call
from tests.support.server import connect

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

IMPL = Path(s.STORY) / "_implementation"
JOURNAL = IMPL / ".storyfence" / "journal.jsonl"
LOG = IMPL / "BACKEND-LOG.md"
CORE_FILE = "packages/core/src/orders/cancel-order.ts"


def assert_nothing_lost_or_torn(summary: Summary) -> None:
    assert summary.problems == []
    assert summary.lost == 0
    assert summary.torn_files == 0
    assert summary.torn_logs == 0
    assert summary.state_errors == 0
    assert summary.unreconciled == 0
    assert summary.phantom == 0
    assert summary.rewritten == 0
    assert summary.landed_unrecorded == 0  # no write or delete on disk without its journal record
    assert summary.leftover_tmp == set()  # no staged file survives the transaction after a kill
    assert summary.survivors == 0  # no process of a killed server keeps running
    assert summary.refusals == []


async def test_fifteen_random_sigkills_lose_no_acknowledged_write_and_tear_no_file(
    example_repo: Path, tmp_path: Path
) -> None:
    # example_repo: the fixture fails clearly when examples/node_modules is missing
    summary = await stress(kills=15, seed=2024, workdir=tmp_path, typecheck="fake", tail_rate=0.5, say=lambda _: None)
    assert summary.kills == 15
    assert_nothing_lost_or_torn(summary)
    assert summary.acked_writes >= 15
    assert summary.tails_injected >= 1


async def test_sigkills_during_real_typechecks_lose_nothing(example_repo: Path, tmp_path: Path) -> None:
    summary = await stress(kills=3, seed=11, workdir=tmp_path, typecheck="real", work_window=3.0, say=lambda _: None)
    assert summary.kills == 3
    assert_nothing_lost_or_torn(summary)


def journal_bytes(root: Path) -> bytes:
    return (root / JOURNAL).read_bytes()


async def test_a_journal_append_cut_inside_a_multibyte_character_is_ignored_then_truncated(
    example_repo: Path,
) -> None:
    root = example_repo
    async with connect(root) as client:
        await call(client, "begin_chunk", story=s.STORY, name="Stornierung — Kern", objective="AC1")
        await call(client, "write_file", story=s.STORY, path=CORE_FILE, content=s.CANCEL_ORDER_BROKEN)
    clean = journal_bytes(root)
    first_line = clean.split(b"\n", 1)[0]
    dash = first_line.index("—".encode())
    torn = first_line[: dash + 2]  # a prefix that ends inside the 3-byte em dash: not UTF-8 on its own
    with (root / JOURNAL).open("ab") as fh:
        fh.write(torn)
    async with connect(root) as client:
        # read-only tools tolerate the torn tail and see the acknowledged state
        status = await call(client, "story_status", story=s.STORY)
        assert [f["path"] for f in status["chunks"][0]["files"]] == [CORE_FILE]
        assert journal_bytes(root) == clean + torn  # readers never repair
        await call(client, "edit_file", story=s.STORY, path=CORE_FILE, edits=[s.CANCEL_ORDER_FIX])
    repaired = journal_bytes(root)
    assert repaired.startswith(clean)
    assert torn not in repaired[len(clean) :]
    assert repaired.endswith(b"\n")
    records, good = decode(repaired.decode("utf-8"))
    assert good == len(repaired)
    assert [r.event.type for r in records] == ["chunk_opened", "file_changed", "file_changed"]


async def test_a_record_whose_log_write_was_lost_is_written_by_the_next_transaction_and_only_once(
    example_repo: Path,
) -> None:
    root = example_repo
    async with connect(root) as client:
        await call(client, "begin_chunk", story=s.STORY, name="cancelOrder use case", objective="AC1")
        await call(client, "write_file", story=s.STORY, path=CORE_FILE, content=s.CANCEL_ORDER_BROKEN)
        await call(client, "edit_file", story=s.STORY, path=CORE_FILE, edits=[s.CANCEL_ORDER_FIX])
        assert (await call(client, "run_typecheck", story=s.STORY))["outcome"] == "passed"
        before_section = (root / LOG).read_bytes() if (root / LOG).exists() else None
        closed = await call(client, "append_chunk_log", story=s.STORY, **s.CHUNK_1_LOG)  # closes: the rest lands
        assert closed["chunk_closed"] is True
    # a kill between the journal's fsync and the log's rename leaves the log as it was before
    if before_section is None:
        (root / LOG).unlink()
    else:
        (root / LOG).write_bytes(before_section)
    async with connect(root) as client:
        status = await call(client, "story_status", story=s.STORY)  # a read does not write
        assert status["chunks"][0]["logged"] is True
        assert not (root / LOG).exists() or (root / LOG).read_bytes() == before_section
        await call(client, "begin_chunk", story=s.STORY, name="next", objective="AC2")  # any transaction repairs
    records, _ = decode(journal_bytes(root).decode("utf-8"))
    appends = [a for r in records if (a := getattr(r.event, "log_append", ""))]
    text = (root / LOG).read_text(encoding="utf-8")
    assert text == expected_log(s.STORY, appends)
    first, _second = log_reader.parse_log(text)
    assert first.complete
    assert first.files == (CORE_FILE,)


async def test_the_same_type_error_failing_again_after_a_pass_is_logged_again(example_repo: Path) -> None:
    root = example_repo
    async with connect(root) as client:
        await call(client, "begin_chunk", story=s.STORY, name="cancelOrder use case", objective="AC1")
        await call(client, "write_file", story=s.STORY, path=CORE_FILE, content=s.CANCEL_ORDER_BROKEN)
        assert (await call(client, "run_typecheck", story=s.STORY))["outcome"] == "failed"
        await call(client, "edit_file", story=s.STORY, path=CORE_FILE, edits=[s.CANCEL_ORDER_FIX])
        assert (await call(client, "run_typecheck", story=s.STORY))["outcome"] == "passed"
        undo = {"old_text": s.CANCEL_ORDER_FIX["new_text"], "new_text": s.CANCEL_ORDER_FIX["old_text"]}
        await call(client, "edit_file", story=s.STORY, path=CORE_FILE, edits=[undo])
        assert (await call(client, "run_typecheck", story=s.STORY))["outcome"] == "failed"
    records, _ = decode(journal_bytes(root).decode("utf-8"))
    appends = [a for r in records if (a := getattr(r.event, "log_append", ""))]
    assert [r.event.type for r in records if getattr(r.event, "log_append", "")] == [
        "chunk_opened",
        "typecheck_ran",
        "typecheck_ran",
    ]
    text = (root / LOG).read_text(encoding="utf-8")
    # the second block may repeat the first word for word; the log must still carry both
    assert len(log_reader.parse_failures(text)) == 2
    assert text == expected_log(s.STORY, appends)
