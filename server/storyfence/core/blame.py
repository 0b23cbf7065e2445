"""A new failure from an old one: what a chunk is blamed for when a package it did not change fails its check.

The gate checks the packages a chunk changed and the packages that depend on them (core/dependents.py). An
error in a changed package always counts. An error in a package the chunk did not change (a dependent, or a
dependency turbo checked along) counts unless it is old:

- the package's own check at the story's base commit (a `PackageBaseline`, taken once per package per story
  the first time it can change an outcome, and recorded in the journal) printed an error with the same file,
  code and message (not line numbers: they move) at least as many times as this run prints it;
- and no check of that package recorded since the story began printed it fewer times (a failure the story
  fixed and then brought back is the story's).

A run whose every error is old passes, but only when each package whose check failed in it is one the chunk
did not change whose check failed at the base commit too: an old error never hides a package that was
passing and now fails for a reason the output does not show. Where the baseline could not be taken, where
the output was capped, or where the run does not say which package's check failed, nothing is excused.
An excused error is moved to the run's `preexisting` and named in its note; it is never a fix attempt.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from storyfence.core import logbook
from storyfence.core.diagnostics import MAX_DIAGNOSTICS, strip_ansi
from storyfence.core.events import BaselineChecked, ChunkOpened, Event, TypecheckRan

# the log's own code spans, outcome words and diagnostic items: the base-commit block reads like the rest
from storyfence.core.logbook import (
    code_span,
    diagnostic_item,
    outcome_words,
)
from storyfence.core.models import CommandRun, Diagnostic, PackageBaseline
from storyfence.core.steps import Step
from storyfence.core.workflow import StoryState, apply, ensure

Key = tuple[str, str, str]
"""What makes two errors the same error across commits: file, code and message."""

# turbo's summary after a run: "  Failed:    @example/api#check-types, @example/backend#check-types"
_TURBO_FAILED = re.compile(r"^\s*Failed:\s+(?P<tasks>\S.*?)\s*$", re.MULTILINE)


def key(diagnostic: Diagnostic) -> Key:
    return (diagnostic.file, diagnostic.code, diagnostic.message)


def owner(path: str, dirs: Collection[str]) -> str | None:
    """The workspace package directory (one of `dirs`, never the root ".") nearest above `path`, or None."""
    current = posixpath.dirname(path) if path else ""
    while current not in ("", ".", "/"):
        if current in dirs:
            return current
        current = posixpath.dirname(current)
    return None


@dataclass(frozen=True)
class Memory:
    """What the story's journal knows: its base commit, the baselines taken, every check run so far."""

    base_commit: str | None
    baselines: Mapping[str, PackageBaseline]  # by package directory: the first one recorded
    history: tuple[CommandRun, ...]


def remember(events: Iterable[Event]) -> Memory:
    base: str | None = None
    opened = False
    baselines: dict[str, PackageBaseline] = {}
    history: list[CommandRun] = []
    for event in events:
        if isinstance(event, ChunkOpened) and not opened:
            base, opened = event.base_commit, True
        elif isinstance(event, BaselineChecked):
            for baseline in event.baselines:
                baselines.setdefault(baseline.dir, baseline)
        elif isinstance(event, TypecheckRan):
            history.extend(event.runs)
    return Memory(base_commit=base, baselines=baselines, history=tuple(history))


@dataclass(frozen=True)
class Scope:
    """The packages of one run_typecheck call."""

    changed: frozenset[str]  # the directories of the packages the chunk changed
    dirs: frozenset[str]  # every workspace package directory except the root
    names: Mapping[str, str]  # package name -> directory

    def name(self, directory: str) -> str:
        return next((n for n, d in self.names.items() if d == directory), directory)


def _errors(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "error"]


def failed_packages(run: CommandRun, names: Mapping[str, str]) -> frozenset[str] | None:
    """The directories of the packages whose check failed in `run`: turbo's summary names them, a command
    that checks one package is that package; None when the run does not say (or names an unknown package)."""
    if run.exit_code == 0:
        return frozenset()
    found = _TURBO_FAILED.findall(strip_ansi(run.output_tail))
    if found:
        dirs: set[str] = set()
        for task in found[-1].split(","):
            directory = names.get(task.strip().rsplit("#", 1)[0])
            if directory is None:
                return None
            dirs.add(directory)
        return frozenset(dirs)
    return frozenset(run.packages) if len(run.packages) == 1 else None


def implicated(run: CommandRun, scope: Scope) -> frozenset[str]:
    """The packages the chunk did not change that a failed run would blame: the owners of its errors and
    the packages whose check failed."""
    if run.outcome != "failed":
        return frozenset()
    found = {owner(d.file, scope.dirs) for d in _errors(run.diagnostics)}
    found |= failed_packages(run, scope.names) or frozenset()
    return frozenset(d for d in found if d is not None and d not in scope.changed and d in scope.dirs)


def counts_anyway(run: CommandRun, scope: Scope) -> bool:
    """Whether `run` fails the chunk whatever any baseline says: an error in a package the chunk changed,
    or one that is in no workspace package."""
    if run.outcome != "failed":
        return False
    return any((where := owner(d.file, scope.dirs)) is None or where in scope.changed for d in _errors(run.diagnostics))


def wanting(runs: Sequence[CommandRun], scope: Scope, memory: Memory) -> tuple[str, ...]:
    """The packages that need their check at the base commit before these runs can be judged, sorted. None
    when the call fails anyway: a baseline is taken only when it can change the outcome."""
    if any(counts_anyway(run, scope) for run in runs):
        return ()
    needed: set[str] = set()
    for run in runs:
        needed |= implicated(run, scope)
    return tuple(sorted(needed - set(memory.baselines)))


def allowance(directory: str, memory: Memory, dirs: Collection[str]) -> Counter[Key]:
    """How many times each error in `directory` may appear and still be old: its baseline's count, lowered
    by every check of the package recorded in the story since (a check that printed it fewer times)."""
    baseline = memory.baselines.get(directory)
    if baseline is None or not baseline.available:
        return Counter()
    allowed = Counter(key(d) for d in _errors(baseline.errors))
    for run in memory.history:
        if directory in run.packages and run.outcome in ("passed", "failed"):
            printed = _errors((*run.diagnostics, *run.preexisting))
            allowed &= Counter(key(d) for d in printed if owner(d.file, dirs) == directory)
    return allowed


def _count(diagnostics: Sequence[Diagnostic], scope: Scope) -> str:
    per = Counter(owner(d.file, scope.dirs) or "." for d in diagnostics)
    return ", ".join(f"{n} in {scope.name(d)}" for d, n in sorted(per.items()))


def judge(run: CommandRun, scope: Scope, memory: Memory) -> CommandRun:
    """`run` as the chunk is blamed for it: old errors moved to `preexisting`, and a run whose every error is
    old (and whose every failed check failed at the base commit too) passed, with a note saying so."""
    if run.outcome != "failed":
        return run
    concerned = implicated(run, scope)
    missing = [memory.baselines[d] for d in sorted(concerned) if d in memory.baselines]
    missing = [b for b in missing if not b.available]
    words = [f"no baseline for {b.package} ({b.reason}): its errors count" for b in missing]
    if len(run.diagnostics) >= MAX_DIAGNOSTICS:
        words.append(f"the output holds {MAX_DIAGNOSTICS} diagnostics or more: none is excused as old")
        return _noted(run, words)
    printed = Counter(key(d) for d in _errors(run.diagnostics))
    allowed = {d: allowance(d, memory, scope.dirs) for d in concerned}
    old: list[Diagnostic] = []
    new: list[Diagnostic] = []
    for diagnostic in run.diagnostics:
        where = owner(diagnostic.file, scope.dirs)
        if (
            diagnostic.severity == "error"
            and where in allowed
            and printed[key(diagnostic)] <= allowed[where][key(diagnostic)]
        ):
            old.append(diagnostic)
        else:
            new.append(diagnostic)
    if not old:
        return _noted(run, words)
    commit = (memory.base_commit or "")[:12]
    still = _errors(new)
    if still:
        note = f"{len(still)} new type error(s); {_count(old, scope)} already there before the story (not blamed)"
        return run.model_copy(update={"diagnostics": tuple(new), "preexisting": tuple(old), "note": note})
    failed = failed_packages(run, scope.names)
    unexplained = (
        ["the run does not say which package's check failed"]
        if failed is None
        else [
            scope.name(d) for d in sorted(failed) if d in scope.changed or not memory.baselines.get(d, _ABSENT).failed
        ]
    )
    if unexplained:
        words.append(
            f"its errors were already there before the story ({_count(old, scope)}), but the failed check of "
            f"{', '.join(unexplained)} was not failing then (or this chunk changed it), so the run counts"
        )
        return _noted(run, words)
    note = (
        f"every type error was already there before the story: {_count(old, scope)} "
        f"(the same file, code and message at the story's base commit {commit}); not blamed on this chunk, "
        "not a fix attempt"
    )
    return run.model_copy(
        update={"outcome": "passed", "diagnostics": tuple(new), "preexisting": tuple(old), "note": note}
    )


_ABSENT = PackageBaseline(package="", dir="", commit=None, available=False)


def _noted(run: CommandRun, words: Sequence[str]) -> CommandRun:
    if not words:
        return run
    return run.model_copy(update={"note": "; ".join([run.note, *words] if run.note else words)})


# --- recording baselines ------------------------------------------------------------------------------------


def render_baselines(
    *, number: int, commit: str | None, baselines: Sequence[PackageBaseline], setup: Sequence[CommandRun] = ()
) -> str:
    """The BACKEND-LOG.md block for baselines taken in chunk `number`: each package's check at the story's
    base commit, and the errors it printed then (the old errors, never blamed on the story)."""
    where = code_span(commit[:12]) if commit else "none (the story did not begin on a git commit)"
    lines = [
        f"### Chunk {number} {logbook.DASH} before the story: packages it did not change, at the base commit",
        f"- Base commit: {where}; checked in a temporary git worktree, never in the working tree",
        *(f"- Setup: {_command(run)}" for run in setup),
    ]
    for baseline in baselines:
        name = code_span(baseline.package)
        if not baseline.available:
            lines.append(f"- {name}: no baseline, so its errors count: {logbook.clean_line(baseline.reason)}")
            continue
        state = "failing then" if baseline.failed else "passing then"
        run = f": {_command(baseline.run)}" if baseline.run is not None else ""
        reason = f" ({logbook.clean_line(baseline.reason)})" if baseline.reason else ""
        lines += [
            f"- {name} {state}{reason}{run}",
            *(line for d in baseline.errors for line in diagnostic_item(d)),
        ]
    return "\n".join(lines) + "\n\n"


def _command(run: CommandRun) -> str:
    return f"{code_span(run.display)} → {outcome_words(run)}"


def record_baselines(
    state: StoryState, *, commit: str | None, baselines: Sequence[PackageBaseline], setup: Sequence[CommandRun] = ()
) -> Step:
    """The step that records baselines taken during the open chunk's typecheck (the workflow does not move)."""
    ensure(state, "run_typecheck")
    chunk = state.current
    assert chunk is not None
    text = render_baselines(number=chunk.number, commit=commit, baselines=baselines, setup=setup)
    event = BaselineChecked(
        chunk=chunk.number, commit=commit, baselines=tuple(baselines), setup=tuple(setup), log_append=text
    )
    return Step(before=state, events=(event,), state=apply(state, event))
