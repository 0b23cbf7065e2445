"""A story's saved journal head (issue 15, item 5: a server start costs the same at 2,000 writes as at 20): a
new process's status reads only what was appended after the head, and the head is never trusted past the
bytes it was folded from, the code that folded it, or a transaction."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from storyfence.adapters import journal_head
from storyfence.adapters.policy_file import load_builtin
from storyfence.adapters.private_cache import read_entry, write_entry
from storyfence.app.service import StoryfenceService
from storyfence.core.errors import StateError, WorkflowError
from storyfence.core.story_paths import StoryPaths
from storyfence.core.workflow import StoryState
from tests.support.repos import story_inputs, write_tree

STORY = "STORY-001"
PATHS = StoryPaths(STORY, STORY)
EVERY = 5


@pytest.fixture(autouse=True)
def small_heads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_head, "HEAD_EVERY", EVERY)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_tree(root, {"packages/core/src/a.ts": "export const a = 0;\n", **story_inputs(STORY)})
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def service(repo: Path) -> StoryfenceService:
    """A new process: nothing verified in memory."""
    return StoryfenceService(repo, load_builtin())


def history(repo: Path, writes: int) -> StoryfenceService:
    sf = service(repo)
    sf.begin_chunk(STORY, "history", "AC1")
    for n in range(writes):
        sf.write_file(STORY, f"packages/core/src/m{n % 3}.ts", f"export const m = {n};\n")
    return sf


def head_of(repo: Path) -> dict[str, Any]:
    entry = read_entry(journal_head.head_file(repo / PATHS.journal))
    assert isinstance(entry, dict)
    return entry  # pyright: ignore[reportUnknownVariableType]


def journal_lines(repo: Path) -> int:
    return len((repo / PATHS.journal).read_bytes().splitlines())


def test_a_new_process_reads_the_head_and_only_the_records_after_it(repo: Path) -> None:
    sf = history(repo, 2 * EVERY)
    assert not Path(journal_head.head_file(repo / PATHS.journal)).exists()  # a write never pays for a head
    service(repo).story_status(STORY)  # a new process reads the journal whole: it saves the head where it ends
    assert head_of(repo)["records"] == journal_lines(repo)
    sf.write_file(STORY, "packages/core/src/m0.ts", "export const m = 99;\n")  # appended after the head
    want = sf.story_status(STORY).model_dump()
    fresh = service(repo)
    assert fresh.story_status(STORY).model_dump() == want
    cache = fresh.story(STORY).store.view.cache
    assert cache is not None
    assert cache.records is None  # from the head: the records before it were not decoded
    assert cache.count == journal_lines(repo)


def test_a_long_read_from_a_head_saves_a_newer_head(repo: Path) -> None:
    sf = history(repo, 2 * EVERY)
    service(repo).story_status(STORY)
    first = head_of(repo)["records"]
    for n in range(EVERY):
        sf.write_file(STORY, "packages/core/src/m1.ts", f"export const m = {100 + n};\n")
    want = sf.story_status(STORY).model_dump()
    assert service(repo).story_status(STORY).model_dump() == want  # from the head, then EVERY records or more
    assert head_of(repo)["records"] == journal_lines(repo) > first
    again = service(repo)
    assert again.story_status(STORY).model_dump() == want
    cache = again.story(STORY).store.view.cache
    assert cache is not None
    assert cache.records is None


def test_a_journal_edited_inside_the_head_is_still_refused(repo: Path) -> None:
    history(repo, 2 * EVERY)
    service(repo).story_status(STORY)
    path = repo / PATHS.journal
    lines = path.read_bytes().splitlines(keepends=True)
    assert head_of(repo)["records"] >= 3
    lines[1] = lines[1].replace(b'"seq":1', b'"seq":7')  # a record the head covers, edited by hand
    path.write_bytes(b"".join(lines))
    with pytest.raises(StateError, match="journal"):
        service(repo).story_status(STORY)


def test_a_head_folded_by_other_code_is_not_used(repo: Path) -> None:
    history(repo, 2 * EVERY)
    service(repo).story_status(STORY)
    file = journal_head.head_file(repo / PATHS.journal)
    entry = head_of(repo)
    entry["state"]["status"] = "complete"  # what this code would never have folded from this journal
    entry["code"] = "0" * 64
    write_entry(file, entry)
    assert service(repo).story_status(STORY).status == "open"


def test_a_transaction_never_decides_on_the_head(repo: Path) -> None:
    sf = history(repo, 2 * EVERY)
    sf.report_blocker(STORY, "blocked by hand", "a test")
    service(repo).story_status(STORY)  # a read from the start saves a head holding BLOCKED
    file = journal_head.head_file(repo / PATHS.journal)
    entry = head_of(repo)
    assert entry["state"]["status"] == "blocked"
    entry["state"]["status"] = "open"  # a head that lies (right code, right bytes)
    write_entry(file, entry)
    fresh = service(repo)
    assert fresh.story_status(STORY).status == "open"  # a status reads the head (a cache the user's own)
    with pytest.raises(WorkflowError, match="BLOCKED"):
        fresh.write_file(STORY, "packages/core/src/a.ts", "export const a = 9;\n")
    assert (repo / "packages/core/src/a.ts").read_text(encoding="utf-8") == "export const a = 0;\n"


def test_a_torn_or_foreign_head_reads_as_no_head(repo: Path) -> None:
    sf = history(repo, 2 * EVERY)
    service(repo).story_status(STORY)
    want = sf.story_status(STORY).model_dump()
    file = Path(journal_head.head_file(repo / PATHS.journal))
    for broken in (b'{"code": "', b"[]", json.dumps({"code": journal_head.code_id()}).encode()):
        file.write_bytes(broken)
        assert service(repo).story_status(STORY).model_dump() == want


def _heads(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("head-*.json")}


def _saved_at(journal: Path, seconds: int) -> None:
    """A head for `journal` (its fields need not hold: only its file matters here), last used `seconds` after 1970."""
    journal_head.save(journal, "0" * 64, 10, 1, b"{}\n", StoryState())
    os.utime(journal_head.head_file(journal), ns=(seconds * 10**9, seconds * 10**9))


def test_the_cache_folder_keeps_only_the_most_recently_used_heads_and_nothing_else_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("STORYFENCE_CACHE_DIR", str(folder))
    monkeypatch.setattr(journal_head, "HEADS_KEPT", 3)
    others = [folder / n for n in ("start-00000000.json", "hook-00000000.json", ".entry-x.tmp", "head-notes.txt")]
    for other in others:
        other.write_text("{}")
    journals = [tmp_path / f"gone-{n}" / "journal.jsonl" for n in range(5)]
    for n, journal in enumerate(journals):
        _saved_at(journal, n)
    assert _heads(folder) == {Path(journal_head.head_file(j)).name for j in journals[2:]}
    assert all(other.exists() for other in others)


def test_a_head_a_new_process_uses_is_kept_over_heads_saved_since_but_not_used(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cache"
    monkeypatch.setenv("STORYFENCE_CACHE_DIR", str(folder))
    history(repo, 8)
    service(repo).story_status(STORY)  # a new process's read decodes them all: it saves a head
    mine = Path(journal_head.head_file(repo / PATHS.journal))
    assert mine.exists()
    os.utime(mine, ns=(0, 0))  # the oldest of them all
    _saved_at(tmp_path / "a" / "journal.jsonl", 1)
    _saved_at(tmp_path / "b" / "journal.jsonl", 2)
    monkeypatch.setattr(journal_head, "HEADS_KEPT", 3)
    assert service(repo).story_status(STORY).story == STORY  # a new process starts from the head: it is used
    _saved_at(tmp_path / "c" / "journal.jsonl", 3)
    assert mine.exists()
    assert not Path(journal_head.head_file(tmp_path / "a" / "journal.jsonl")).exists()
