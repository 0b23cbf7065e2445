"""What a story's journal says, for `storyfence audit`: the records that verify, the writes, the base commit,
the baseline, and whether BACKEND-LOG.md and BLOCKERS.md are what the journal records the server wrote."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from storyfence.core import log_reader, logbook
from storyfence.core.errors import StateError
from storyfence.core.events import (
    BaselineChecked,
    ChunkClosed,
    ChunkLogged,
    ChunkOpened,
    DirtyFile,
    Event,
    FileChanged,
    FileObserved,
    StoryBlocked,
    StoryCompleted,
    TypecheckRan,
)
from storyfence.core.journal import Record, decode
from storyfence.core.models import FileChange
from storyfence.core.workflow import Chunk, StoryState, derive


@dataclass(frozen=True)
class Finding:
    """One thing the audit found: its kind (listed in audit.py), the path it is about, and what is wrong; the
    line of that file it is about, when the audit knows it."""

    kind: str
    path: str
    detail: str
    line: int | None = None


# --- the journal ---------------------------------------------------------------------------------------------


def read_journal(path: Path, label: str) -> tuple[list[Record], Finding | None]:
    """The verified records, and a finding if the journal does not verify.

    On a broken chain the records are the longest prefix that verifies, so the comparison with git still
    runs (on fewer records it can only find more, never fewer, differences).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], None
    text = raw.decode("utf-8", errors="replace")  # a bad byte then fails its line's hash, with its line number
    try:
        records, _ = decode(text, label)
        return records, None
    except StateError as exc:
        error = str(exc)
    lines = text.split("\n")[:-1]  # complete lines; decode ignores an unterminated tail too
    good, bad = 0, len(lines)  # decode(first `good` lines) verifies; decode(first `bad` lines) does not
    while bad - good > 1:
        middle = (good + bad) // 2
        try:
            decode("".join(line + "\n" for line in lines[:middle]), label)
            good = middle
        except StateError:
            bad = middle
    records, _ = decode("".join(line + "\n" for line in lines[:good]), label)
    detail = f"{error}; only the {len(records)} record(s) before it were compared with git"
    return records, Finding("journal-broken", label, detail, line=good + 1)


def last_writes(events: list[Event]) -> dict[str, tuple[int, FileChange]]:
    """Per path, the chunk and the last change the journal accounts for (in order of first write): the server's
    writes, and the changes made outside it that a chunk boundary took in."""
    last: dict[str, tuple[int, FileChange]] = {}
    for event in events:
        if not isinstance(event, FileChanged | FileObserved) or event.chunk is None:
            continue
        if isinstance(event, FileChanged) or event.allowed:
            last[event.change.path] = (event.chunk, event.change)
    return last


def base_commit(events: list[Event]) -> str | None:
    """git HEAD when the story's first chunk opened."""
    for event in events:
        if isinstance(event, ChunkOpened):
            return event.base_commit
    return None


def baseline(events: list[Event]) -> dict[str, DirtyFile]:
    """What was already uncommitted when the story's first chunk opened (empty for older journals)."""
    for event in events:
        if isinstance(event, ChunkOpened):
            return {dirty.path: dirty for dirty in event.baseline or ()}
    return {}


# --- the log -------------------------------------------------------------------------------------------------


def _block_name(event: Event) -> str:
    if isinstance(event, ChunkLogged):
        return f"the chunk {event.chunk} section"
    if isinstance(event, TypecheckRan):
        return f"the chunk {event.chunk} typecheck failure block"
    if isinstance(event, ChunkOpened):
        return f"the chunk {event.number} section"
    if isinstance(event, ChunkClosed):
        if event.log_append.startswith("### "):  # journals from before chunks opened in the log
            return f"the chunk {event.chunk} after-the-log addendum"
        return f"the chunk {event.chunk} section"
    if isinstance(event, StoryBlocked):
        return "the BLOCKED note"
    if isinstance(event, StoryCompleted):
        return "the BACKEND COMPLETE block"
    if isinstance(event, BaselineChecked):
        return f"the chunk {event.chunk} base-commit check block"
    return "a block"


def _listed(chunk: Chunk, state: StoryState) -> tuple[FileChange, ...]:
    """The changes the chunk's section lists: all of them once it ended (closed, or open when the story was
    blocked), none while its section holds only its heading; up to its log in journals from before that."""
    if not chunk.opened_in_log:
        return chunk.changes[: chunk.changes_at_log]
    ended = chunk.closed or (state.status == "blocked" and chunk is state.current)
    return chunk.changes if ended else ()


def check_log(events: list[Event], *, log: Path, log_rel: str, blockers: Path, blockers_rel: str) -> list[Finding]:
    """BACKEND-LOG.md (`log`) holds every block the journal appended, and each chunk section lists exactly the
    files the journal recorded for that chunk up to its log; BLOCKERS.md (`blockers`) is what the server wrote.
    The `_rel` paths name the files in the findings."""
    state = derive(events)
    appended = [e for e in events if getattr(e, "log_append", "")]
    try:
        text = log.read_text(encoding="utf-8")
    except FileNotFoundError:
        if appended:
            return [Finding("log-mismatch", log_rel, "the journal records log entries but BACKEND-LOG.md is missing")]
        text = ""
    except UnicodeDecodeError:
        return [Finding("log-mismatch", log_rel, "BACKEND-LOG.md is not UTF-8 text: it was not written by the server")]
    findings: list[Finding] = []
    sections = log_reader.parse_log(text)
    counts = Counter(s.number for s in sections)
    # a chunk has a section once it was logged (journals before chunks opened in the log) or once it began
    logged = {c.number: c for c in state.chunks if c.logged or c.opened_in_log}
    reported: set[int] = set()
    for number, count in sorted(counts.items()):
        if count > 1:
            findings.append(
                Finding("log-mismatch", log_rel, f"{count} sections for chunk {number}; the server wrote one")
            )
            reported.add(number)
        if number not in logged:
            findings.append(
                Finding("log-mismatch", log_rel, f"a section for chunk {number}, which the journal never logged")
            )
            reported.add(number)
    by_number = {s.number: s for s in sections}
    for number, chunk in logged.items():
        section = by_number.get(number)
        if section is None:
            findings.append(
                Finding("log-mismatch", log_rel, f"chunk {number} was logged, but its section is not in the log")
            )
            reported.add(number)
            continue
        expected = [path for path, _ in logbook.collapse_changes(_listed(chunk, state))]
        if list(section.files) != expected:
            missing = [p for p in expected if p not in section.files]
            extra = [p for p in section.files if p not in expected]
            parts = [f"missing {', '.join(missing)}"] if missing else []
            parts += [f"not recorded: {', '.join(extra)}"] if extra else []
            why = "; ".join(parts) or "listed in another order"
            findings.append(
                Finding(
                    "log-mismatch",
                    log_rel,
                    f"chunk {number}'s Files changed does not match the journal's record ({why})",
                )
            )
            reported.add(number)
    for event in appended:
        block: str = getattr(event, "log_append", "")
        if block.lstrip("\n") in text:
            continue
        if isinstance(event, ChunkLogged | ChunkClosed) and event.chunk in reported:
            continue  # already reported, more precisely
        findings.append(
            Finding(
                "log-mismatch",
                log_rel,
                f"{_block_name(event)} the journal records is not in BACKEND-LOG.md as the server wrote it",
            )
        )
    blocked = [e for e in events if isinstance(e, StoryBlocked)]
    if blocked:
        try:
            have = blockers.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            have = None
        if have != blocked[-1].blockers:
            findings.append(
                Finding(
                    "log-mismatch",
                    blockers_rel,
                    "BLOCKERS.md is missing" if have is None else "BLOCKERS.md is not what the server wrote",
                )
            )
    return findings
