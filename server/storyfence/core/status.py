"""What the server tells the model about a story's state, in words: its signal and the next step."""

from __future__ import annotations

from collections.abc import Sequence

from storyfence.core.checks import unchecked_advice
from storyfence.core.models import CommandRun, TypecheckOutcome, UncheckedFile
from storyfence.core.story_paths import LOG
from storyfence.core.workflow import Chunk, StoryState


def signal(state: StoryState) -> str:
    """The seed's signal: BACKEND COMPLETE, BLOCKED: <reason>, or nothing while work goes on."""
    if state.status == "complete":
        return "BACKEND COMPLETE"
    if state.status == "blocked":
        return f"BLOCKED: {state.blocked_reason}"
    return ""


def next_step(state: StoryState) -> str:
    if state.status == "complete":
        return "the story is complete: nothing more to do."
    if state.status == "blocked":
        return "the story is blocked: stop and report the blocker to the user."
    chunk = state.current
    if state.strays:
        return state.stray_advice() + (f" (chunk {chunk.number} cannot close until then)" if chunk else "")
    if chunk is not None:
        return chunk.next_step()
    if state.closed_chunks:
        return "start the next chunk with begin_chunk, or call complete_story if all backend work is done."
    return "read the story, then call begin_chunk(story, name, objective) for the first chunk."


def typecheck_message(
    outcome: TypecheckOutcome,
    runs: Sequence[CommandRun],
    unchecked: Sequence[UncheckedFile],
    chunk: Chunk,
    max_fix: int,
) -> str:
    """What one run_typecheck call found, and what to do about it."""
    cmds = ", ".join(f"`{r.display}`" for r in runs) or "no command"
    note = "".join(f" Not type-checked: {u.path} ({u.reason})." for u in unchecked)
    old = "".join(f" `{r.display}`: {r.note}." for r in runs if r.preexisting and r.outcome == "passed")
    if outcome == "passed":
        return f"typecheck passed: {cmds}.{old}{note}"
    if outcome == "not_needed":
        return f"no changed file needs a typecheck; nothing to run.{note}"
    if outcome == "unchecked":
        return f"the chunk cannot close: {unchecked_advice(unchecked)}. Commands run: {cmds}.{note}"
    if outcome == "tooling_error":
        notes = "; ".join(r.note for r in runs if r.outcome in ("tooling_error", "timeout"))
        return f"the typecheck could not run (tooling, not type errors; not a fix attempt): {notes}"
    left = max_fix - chunk.failed_fix_attempts
    count = sum(len([d for d in r.diagnostics if d.severity == "error"]) for r in runs)
    before = sum(len(r.preexisting) for r in runs)
    old = (
        f" ({before} more were already there before the story: not blamed, see each run's preexisting)"
        if before
        else ""
    )
    return (
        f"typecheck failed with {count} type error(s){old}; logged under chunk {chunk.number} in {LOG}. "
        f"Fix them ({left} fix attempt(s) left before the story is BLOCKED), then call run_typecheck."
    )
