"""Changes the server did not make, found at a chunk boundary by holding the working tree against the journal.

What the journal accounts for, per path, is the last content the story recorded there (its own writes and
the outside changes it already took in), else the content the path had when the story began (the baseline
of uncommitted files), else the story's base commit. A path whose content differs from that is an outside
change; it is judged exactly like a write (policy, SCOPE.md, content rules). A refused one (a stray) stays
refused until the path is back to what the journal accounts for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from storyfence.core.events import DirtyFile, FileObserved, StrayCleared
from storyfence.core.fence import Bounds
from storyfence.core.models import ChangeKind, FileChange
from storyfence.core.workflow import StoryState


@dataclass(frozen=True)
class Seen:
    """An outside change: the path, what happened to it against what the journal accounts for, its content now."""

    path: str
    kind: ChangeKind
    sha256: str | None  # None: the file is gone


def recorded(state: StoryState) -> dict[str, str | None]:
    """Per path, the content hash the story last recorded there (None: it deleted the file)."""
    known: dict[str, str | None] = {}
    for chunk in state.chunks:
        for change in chunk.changes:
            known[change.path] = change.sha256 if change.kind != "deleted" else None
    return known


def candidates(state: StoryState, baseline: Mapping[str, DirtyFile], changed: Mapping[str, str]) -> set[str]:
    """Every path whose content must be hashed to find the outside changes: what git lists as changed since
    the base commit, what the story recorded, what was dirty when it began, and the strays."""
    return set(changed) | set(recorded(state)) | set(baseline) | {s.change.path for s in state.strays}


def outside_changes(
    state: StoryState,
    baseline: Mapping[str, DirtyFile],
    changed: Mapping[str, str],
    disk: Mapping[str, str | None],
) -> tuple[list[Seen], list[str]]:
    """The outside changes not judged yet, and the strays found undone.

    `changed` is git's list of paths that differ from the base commit (server-owned files left out), with
    git's kind; `disk` the content hash now of every path `candidates` named (None: absent).
    """
    known = recorded(state)
    strays = {s.change.path: s for s in state.strays}
    seen: list[Seen] = []
    undone: list[str] = []
    for path in sorted(candidates(state, baseline, changed)):
        now = disk.get(path)
        if path in known:
            before: str | None = known[path]
            differs = now != before
            absent_before = before is None
        elif path in baseline:
            before = baseline[path].sha256
            differs = now != before
            absent_before = before is None
        else:
            differs = path in changed  # git compared it with the base commit
            absent_before = changed.get(path) == "created"
        stray = strays.get(path)
        if stray is not None:
            if not differs:
                undone.append(path)
            elif now != stray.change.sha256:
                seen.append(Seen(path, _kind(now, absent_before), now))
            continue
        if differs:
            seen.append(Seen(path, _kind(now, absent_before), now))
    return seen, undone


def _kind(now: str | None, absent_before: bool) -> ChangeKind:
    if now is None:
        return "deleted"
    return "created" if absent_before else "modified"


def judge(bounds: Bounds, seen: Seen, chunk: int | None, *, old_text: str | None, new_text: str | None) -> FileObserved:
    """An outside change, judged like a write of the same change: the path's rules, then the content rules
    (`old_text` is the base commit's text, None when the file is new; `new_text` None when it is gone)."""
    decision = bounds.decide(seen.path)
    if decision.allowed:
        decision = bounds.content_refusal(seen.path, old_text, new_text if seen.sha256 else None) or decision
    change = FileChange(path=seen.path, kind=seen.kind, sha256=seen.sha256, outside=True)
    return FileObserved(
        chunk=chunk,
        change=change,
        allowed=decision.allowed,
        rule=decision.rule,
        reason=decision.reason,
        instead=decision.instead,
    )


def undone_events(paths: list[str]) -> list[StrayCleared]:
    return [StrayCleared(path=path, by="undone") for path in paths]
