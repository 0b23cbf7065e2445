"""Cost that does not grow with the story (issue 15, item 5): a status reads only what was appended since the
last read, and lists the latest chunks, not all of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyfence.adapters import store, verified
from storyfence.app.service import StoryfenceService
from storyfence.core.models import PortsAdapters, Reuse
from tests.integration.test_write_ahead_segment import STORY, V2, A, service, small_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return small_repo(tmp_path)


def test_story_status_decodes_only_what_was_appended_since_it_last_read(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storyfence.core import journal as journal_module

    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    for n in range(30):
        sf.write_file(STORY, A, f"export const findOrder = {n};\n")
    sf.story_status(STORY)
    decoded: list[int] = []
    real = journal_module.decode

    def counting(text: str, *args: object, **kwargs: object) -> object:
        decoded.append(text.count("\n"))
        return real(text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "decode", counting)  # a transaction's read
    monkeypatch.setattr(verified, "decode", counting)  # a status's read
    sf.write_file(STORY, A, V2)
    sf.story_status(STORY)
    service(repo).story_status(STORY)  # a new process reads it all once
    assert decoded[:2] == [0, 0]  # the write's transaction and the status: nothing new to decode
    assert decoded[2] > 30


def test_a_status_lists_the_last_chunk_names_a_few_before_it_and_counts_the_rest(repo: Path) -> None:
    """A story of 100 chunks must not answer story_status with all of them (382 KB at 2,000 writes): the last in
    full, the few before it in a line each, all of them counted (their sections are in BACKEND-LOG.md)."""
    import anyio

    from storyfence.app.stories import RECENT_CHUNKS
    from tests.support.policies import policy_allowing_unchecked

    sf = StoryfenceService(repo, policy_allowing_unchecked("packages/**"))
    total = RECENT_CHUNKS + 3
    for n in range(1, total + 1):
        sf.begin_chunk(STORY, f"chunk {n}", "o")
        sf.write_file(STORY, A, f"export const findOrder = {n};\n")
        sf.write_file(STORY, "packages/core/src/b.ts", f"export const b = {n};\n")
        sf.append_chunk_log(
            STORY, "s", Reuse(reused="a", new="b", why_new="c"), PortsAdapters(core="x", adapters="y"), "none"
        )
        anyio.run(sf.run_typecheck, STORY)
    status = sf.story_status(STORY)
    [last] = status.chunks
    assert (last.number, last.closed, len(last.files), last.file_count) == (total, True, 2, 2)
    assert last.command_count == len(last.commands)
    runs = "1 typecheck run" if last.command_count == 1 else f"{last.command_count} typecheck runs"
    assert status.recent == [
        f'chunk {n} "chunk {n}": 2 file changes, {runs}, closed' for n in range(total - RECENT_CHUNKS, total)
    ]
    assert (status.earlier_chunks, status.earlier_files) == (total - 1, 2 * (total - 1))
    assert sf.read_story(STORY).status.earlier_chunks == total - 1


def test_a_recent_line_is_made_once_per_chunk_object_and_never_for_another() -> None:
    """A status names the chunks before the last with lines made once per chunk (a closed chunk never changes);
    a chunk object of the same number but other facts gets its own line."""
    import dataclasses

    from storyfence.app.stories import recent_line
    from storyfence.core.workflow import Chunk

    open_chunk = Chunk(number=3, name="orders port", objective="o")
    closed = dataclasses.replace(open_chunk, closed=True, name="orders port, done")
    assert recent_line(open_chunk) == 'chunk 3 "orders port": 0 file changes, 0 typecheck runs, open'
    assert recent_line(closed) == 'chunk 3 "orders port, done": 0 file changes, 0 typecheck runs, closed'
    assert recent_line(open_chunk) is recent_line(open_chunk)  # made once
    assert recent_line(open_chunk) == 'chunk 3 "orders port": 0 file changes, 0 typecheck runs, open'
