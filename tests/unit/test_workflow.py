"""The chunk workflow: the state derived from journal events, and the table that allows or refuses tools."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storyfence.core.errors import WorkflowError
from storyfence.core.events import (
    ChunkClosed,
    ChunkLogged,
    ChunkOpened,
    Event,
    FileChanged,
    StoryBlocked,
    StoryCompleted,
    TypecheckRan,
)
from storyfence.core.models import CommandRun, FileChange, PortsAdapters, Reuse, UncheckedFile
from storyfence.core.workflow import Action, StoryState, derive, ensure, should_block

ACTIONS: tuple[Action, ...] = (
    "begin_chunk",
    "write",
    "run_typecheck",
    "append_chunk_log",
    "complete_story",
    "report_blocker",
)


# --- events, spelled as the service records them ------------------------------------------------------------


def opened(n: int = 1) -> ChunkOpened:
    return ChunkOpened(number=n, name=f"step {n}", objective="AC1: cancel an order")


def wrote(n: int = 1, path: str = "packages/core/src/orders/cancel-order.ts") -> FileChanged:
    return FileChanged(chunk=n, change=FileChange(path=path, kind="modified", sha256="0" * 64))


def checked(outcome: str, n: int = 1) -> TypecheckRan:
    run_outcome = {"not_needed": "passed", "tooling_error": "tooling_error"}.get(outcome, outcome)
    run = CommandRun(
        argv=("pnpm", "check-types", "--filter", "@example/core"),
        package="@example/core",
        exit_code=None if run_outcome == "tooling_error" else (0 if run_outcome == "passed" else 2),
        outcome=run_outcome,  # type: ignore[arg-type]
        duration_seconds=1.5,
    )
    runs = () if outcome == "not_needed" else (run,)
    block = f"typecheck failed in chunk {n}\n" if outcome == "failed" else ""
    return TypecheckRan(chunk=n, runs=runs, outcome=outcome, log_append=block)  # type: ignore[arg-type]


def logged(n: int = 1) -> ChunkLogged:
    return ChunkLogged(
        chunk=n,
        summary="cancel order use case",
        reuse=Reuse(reused="OrderRepository", new="cancelOrder", why_new="no cancel use case existed"),
        ports_adapters=PortsAdapters(core="cancelOrder", adapters="the Vercel function"),
        notes_risks="none",
        log_append=f"## Chunk {n} — step {n}\n",
    )


def closed(n: int = 1) -> ChunkClosed:
    return ChunkClosed(chunk=n)


def blocked(reason: str = "the order API is missing") -> StoryBlocked:
    return StoryBlocked(chunk=1, reason=reason, details="d", by="model", blockers="# BLOCKERS\n")


def completed() -> StoryCompleted:
    return StoryCompleted(chunks=1, log_append="\nBACKEND COMPLETE\n")


ONE_CLOSED: list[Event] = [opened(1), wrote(1), logged(1), checked("passed"), closed(1)]


def refusal(state: StoryState, action: Action) -> str:
    before = state
    with pytest.raises(WorkflowError) as caught:
        ensure(state, action)
    assert state == before  # an illegal action changes nothing
    return str(caught.value)


# --- the transition table -------------------------------------------------------------------------------

TABLE_CASES = [
    # idle, nothing done yet
    ([], "begin_chunk", None),
    ([], "write", "call begin_chunk(story, name, objective) first"),
    ([], "run_typecheck", "call begin_chunk(story, name, objective) first"),
    ([], "append_chunk_log", "call begin_chunk(story, name, objective) first"),
    ([], "complete_story", "no chunk has been closed yet"),
    ([], "report_blocker", None),
    # a chunk is open
    ([opened()], "begin_chunk", "chunk 1 is not logged: call append_chunk_log"),
    ([opened()], "write", None),
    ([opened()], "run_typecheck", None),
    ([opened()], "append_chunk_log", None),
    ([opened()], "complete_story", "chunk 1 (step 1) is still open"),
    ([opened()], "report_blocker", None),
    # idle again after a closed chunk
    (ONE_CLOSED, "begin_chunk", None),
    (ONE_CLOSED, "write", "call begin_chunk(story, name, objective) first"),
    (ONE_CLOSED, "complete_story", None),
    (ONE_CLOSED, "report_blocker", None),
]


@pytest.mark.parametrize(("events", "action", "refused_with"), TABLE_CASES)
def test_each_action_is_allowed_or_refused_by_the_transition_table(
    events: list[Event], action: Action, refused_with: str | None
) -> None:
    state = derive(events)
    if refused_with is None:
        ensure(state, action)
    else:
        message = refusal(state, action)
        assert message.startswith(f"{action} refused in state {state.status.upper()}: ")
        assert refused_with in message


def test_a_write_with_no_chunk_open_is_refused_and_told_to_call_begin_chunk() -> None:
    message = refusal(derive([]), "write")
    assert message == (
        "write refused in state IDLE: a write needs an open chunk and none is open: "
        "call begin_chunk(story, name, objective) first."
    )


@pytest.mark.parametrize(
    ("events", "missing", "done"),
    [
        ([opened(), wrote()], ["append_chunk_log", "run_typecheck"], []),
        ([opened(), wrote(), logged()], ["run_typecheck"], ["append_chunk_log"]),
        ([opened(), wrote(), checked("passed")], ["append_chunk_log"], ["run_typecheck"]),
        ([opened(), wrote(), checked("passed"), wrote()], ["append_chunk_log", "run_typecheck"], []),
        ([opened(), wrote(), logged(), checked("tooling_error")], ["run_typecheck"], ["append_chunk_log"]),
    ],
)
def test_begin_chunk_while_a_chunk_is_open_names_the_missing_steps(
    events: list[Event], missing: list[str], done: list[str]
) -> None:
    message = refusal(derive(events), "begin_chunk")
    assert message.startswith("begin_chunk refused in state OPEN: chunk 1 (step 1) is still open: ")
    for step in missing:
        assert f"call {step}" in message
    for step in done:
        assert f"call {step}" not in message


def test_a_failed_typecheck_tells_the_model_to_fix_before_checking_again() -> None:
    message = refusal(derive([opened(), wrote(), logged(), checked("failed")]), "begin_chunk")
    assert "chunk 1's typecheck failed: fix the errors, then call run_typecheck" in message


def test_a_chunk_log_section_is_written_once() -> None:
    message = refusal(derive([opened(), wrote(), logged()]), "append_chunk_log")
    assert "already has its log section (the log is append-only)" in message


def test_a_passing_typecheck_is_not_rerun_until_something_changes() -> None:
    passed = [opened(), wrote(), checked("passed")]
    assert "typecheck already passed and nothing changed since" in refusal(derive(passed), "run_typecheck")
    ensure(derive([*passed, wrote()]), "run_typecheck")


def test_a_failed_typecheck_refuses_run_typecheck_until_a_write_happens() -> None:
    failed = [opened(), wrote(), checked("failed")]
    message = refusal(derive(failed), "run_typecheck")
    assert "nothing changed since chunk 1's typecheck failed" in message
    assert "write_file or edit_file" in message
    ensure(derive([*failed, wrote()]), "run_typecheck")


def test_a_tooling_error_lets_the_typecheck_run_again_without_a_write() -> None:
    ensure(derive([opened(), wrote(), checked("tooling_error")]), "run_typecheck")


@pytest.mark.parametrize("terminal", [blocked("no orders table"), completed()], ids=["blocked", "complete"])
@pytest.mark.parametrize("action", ACTIONS)
def test_a_blocked_or_complete_story_refuses_every_action(terminal: Event, action: Action) -> None:
    state = derive([*ONE_CLOSED, terminal])
    message = refusal(state, action)
    if state.status == "blocked":
        assert message.startswith(f"{action} refused in state BLOCKED: the story is BLOCKED (no orders table)")
    else:
        assert state.status == "complete"
        assert message.startswith(f"{action} refused in state COMPLETE: the story is COMPLETE (BACKEND COMPLETE)")


def test_a_story_blocked_mid_chunk_refuses_writes() -> None:
    state = derive([opened(), wrote(), blocked("fast-fail")])
    assert (state.status, state.blocked_reason) == ("blocked", "fast-fail")
    assert "A human must resolve BLOCKERS.md" in refusal(state, "write")


def test_complete_story_is_refused_while_the_only_chunk_is_open_and_unclosed() -> None:
    state = derive([opened(), wrote(), logged(), checked("passed")])
    assert state.closed_chunks == 0
    assert "still open" in refusal(state, "complete_story")


# --- deriving the state --------------------------------------------------------------------------------


def test_no_events_derive_an_idle_story_with_no_chunks() -> None:
    assert derive([]) == StoryState(status="idle", chunks=(), blocked_reason="", log_appends=())


def test_a_chunk_closes_only_when_a_chunk_closed_event_is_recorded() -> None:
    ready = derive([opened(), wrote(), logged(), checked("passed")])
    assert ready.status == "open"
    assert ready.current is not None
    assert (ready.current.ready_to_close, ready.current.closed) == (True, False)

    done = derive([opened(), wrote(), logged(), checked("passed"), closed()])
    assert (done.status, done.current, done.closed_chunks) == ("idle", None, 1)
    assert done.chunks[0].closed is True
    assert done.chunks[0].ready_to_close is False


@pytest.mark.parametrize(
    ("after_open", "ready"),
    [
        ([], False),
        ([wrote(), logged()], False),
        ([wrote(), checked("passed")], False),
        ([wrote(), logged(), checked("passed")], True),
        ([wrote(), checked("passed"), logged()], True),
        ([logged(), checked("not_needed")], True),
        ([wrote(), logged(), checked("passed"), wrote()], False),
        ([wrote(), logged(), checked("failed")], False),
        ([wrote(), logged(), checked("tooling_error")], False),
        ([wrote(), logged(), checked("failed"), wrote(), checked("passed")], True),
        ([wrote(), logged(), checked("failed"), wrote(), checked("tooling_error")], False),
    ],
)
def test_a_chunk_is_ready_to_close_when_logged_and_passed_with_no_write_since(
    after_open: list[Event], ready: bool
) -> None:
    chunk = derive([opened(), *after_open]).current
    assert chunk is not None
    assert chunk.ready_to_close is ready


def test_a_chunk_records_its_writes_runs_and_where_its_log_section_was_written() -> None:
    chunk = derive(
        [opened(), wrote(path="a.ts"), checked("failed"), logged(), wrote(path="b.ts"), checked("passed")]
    ).current
    assert chunk is not None
    assert [c.path for c in chunk.changes] == ["a.ts", "b.ts"]
    assert len(chunk.runs) == 2
    assert (chunk.changes_at_log, chunk.runs_at_log) == (1, 1)
    assert (chunk.check, chunk.writes_since_check, chunk.logged) == ("passed", False, True)


def test_a_tooling_error_is_recorded_but_never_counts_as_a_failure() -> None:
    chunk = derive([opened(), wrote(), *[checked("tooling_error")] * 3]).current
    assert chunk is not None
    assert len(chunk.runs) == 3
    assert (chunk.check, chunk.failures, chunk.failed_fix_attempts) == ("none", 0, 0)
    assert chunk.writes_since_check is True
    assert should_block(chunk, max_fix_attempts=0) is False


def _fail_then_fix(fixes: int, *, tooling_between: bool = False) -> list[Event]:
    events: list[Event] = [opened(), wrote(), checked("failed")]
    for _ in range(fixes):
        events.append(wrote())
        if tooling_between:
            events.append(checked("tooling_error"))
        events.append(checked("failed"))
    return events


@pytest.mark.parametrize(
    ("events", "fix_attempts", "block"),
    [
        (_fail_then_fix(0), 0, False),
        (_fail_then_fix(1), 1, False),
        (_fail_then_fix(2), 2, True),
        (_fail_then_fix(3), 3, True),
        (_fail_then_fix(1, tooling_between=True), 1, False),
        (_fail_then_fix(2, tooling_between=True), 2, True),
        ([*_fail_then_fix(1), wrote(), checked("passed")], 0, False),
        # a pass ends the run of failures: a later failure starts a new count
        ([*_fail_then_fix(1), wrote(), checked("passed"), wrote(), checked("failed")], 0, False),
        ([*_fail_then_fix(1), wrote(), checked("passed"), *_fail_then_fix(1)[1:]], 1, False),
        ([*_fail_then_fix(1), wrote(), checked("passed"), *_fail_then_fix(2)[1:]], 2, True),
    ],
)
def test_the_story_blocks_after_the_first_failure_and_two_failed_fix_attempts(
    events: list[Event], fix_attempts: int, block: bool
) -> None:
    chunk = derive(events).current
    assert chunk is not None
    assert chunk.failed_fix_attempts == fix_attempts
    assert should_block(chunk, max_fix_attempts=2) is block


def test_with_no_fix_attempts_allowed_the_first_failure_blocks() -> None:
    chunk = derive([opened(), wrote(), checked("failed")]).current
    assert chunk is not None
    assert should_block(chunk, max_fix_attempts=0) is True


def test_every_log_append_is_kept_in_order() -> None:
    state = derive([opened(), wrote(), checked("failed"), logged(), wrote(), checked("passed"), closed(), completed()])
    assert state.log_appends == (
        "typecheck failed in chunk 1\n",
        "## Chunk 1 — step 1\n",
        "\nBACKEND COMPLETE\n",
    )


def test_chunk_events_with_no_chunk_open_leave_the_chunks_alone_but_keep_their_log_text() -> None:
    # log_appends mirror what was appended to BACKEND-LOG.md with each record, whatever the record did
    state = derive([wrote(), checked("failed"), logged(), closed()])
    assert (state.status, state.chunks, state.closed_chunks) == ("idle", (), 0)
    assert state.log_appends == ("typecheck failed in chunk 1\n", "## Chunk 1 — step 1\n")


def test_chunks_are_numbered_by_their_events_and_only_the_last_unclosed_one_is_current() -> None:
    state = derive([*ONE_CLOSED, opened(2), wrote(2)])
    assert [c.number for c in state.chunks] == [1, 2]
    assert state.current is state.chunks[1]
    assert (state.status, state.closed_chunks) == ("open", 1)


# --- files no check covers --------------------------------------------------------------------------------

VIEWS = UncheckedFile(path="apps/api/orders/views.py", reason="no check covers it", allowed=False)
SQL = UncheckedFile(path="packages/db/migrations/2.sql", reason="not code a typecheck reads", allowed=True)


def unchecked_run(*files: UncheckedFile, outcome: str = "unchecked") -> TypecheckRan:
    return TypecheckRan(
        chunk=1,
        runs=(),
        unchecked=tuple(f.path for f in files),
        unchecked_files=files,
        outcome=outcome,  # type: ignore[arg-type]
    )


def test_a_chunk_with_a_file_no_check_covers_does_not_close_and_says_what_to_do() -> None:
    state = derive([opened(), wrote(1, VIEWS.path), logged(), unchecked_run(VIEWS)])
    chunk = state.current
    assert chunk is not None
    assert chunk.check == "unchecked"
    assert chunk.ready_to_close is False
    assert chunk.unchecked == (VIEWS,)
    step = chunk.next_step()
    assert "no typecheck covers apps/api/orders/views.py" in step
    assert "[[typecheck.unchecked]]" in step
    assert "report_blocker" in step
    assert "cannot close" in refusal(state, "begin_chunk")
    assert "cannot close" in refusal(state, "complete_story")
    ensure(state, "run_typecheck")  # the fix may be outside the story (a script, the policy): check again


def test_a_chunk_whose_unchecked_files_the_policy_allows_closes_and_keeps_them_for_the_log() -> None:
    state = derive([opened(), wrote(1, SQL.path), unchecked_run(SQL, outcome="not_needed"), logged()])
    chunk = state.current
    assert chunk is not None
    assert chunk.ready_to_close is True
    assert chunk.unchecked_at_log == (SQL,)


def test_a_typecheck_event_from_before_unchecked_files_existed_still_loads_and_folds() -> None:
    old = TypecheckRan.model_validate_json(
        '{"type": "typecheck_ran", "chunk": 1, "runs": [], "unchecked": ["__http__/a.http"], "outcome": "not_needed"}'
    )
    assert old.unchecked_files == ()
    state = derive([opened(), wrote(1, "__http__/a.http"), old, logged()])
    assert state.current is not None
    assert state.current.ready_to_close is True


def test_the_fast_replace_equals_dataclasses_replace_and_checks_field_names() -> None:
    import dataclasses

    from storyfence.core.workflow import Chunk, StoryState, replace

    chunk = Chunk(number=1, name="n", objective="o")
    fast = replace(chunk, closed=True, failures=2)
    assert fast == dataclasses.replace(chunk, closed=True, failures=2)
    assert (chunk.closed, chunk.failures) == (False, 0)  # the original is untouched
    state = replace(StoryState(), chunks=(fast,), status="open")
    assert state == dataclasses.replace(StoryState(), chunks=(fast,), status="open")
    assert state.current is None
    with pytest.raises(TypeError, match="no field closd"):
        replace(chunk, closd=True)


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=4), st.booleans()), max_size=12))
def test_the_counts_a_status_reads_are_kept_by_the_fold_and_equal_a_pass_over_every_chunk(
    chunks: list[tuple[int, bool]],
) -> None:
    """story_status reads closed_chunks and files_before_last without a pass over every chunk: the fold keeps them,
    and they must equal what a pass would count, however many chunks, writes and closes."""
    events: list[Event] = []
    for number, (writes, closes) in enumerate(chunks, start=1):
        events += [opened(number), *(wrote(number, f"packages/core/src/f{k}.ts") for k in range(writes))]
        if closes or number < len(chunks):  # only the last chunk may be left open
            events.append(ChunkClosed(chunk=number))
    state = derive(events)
    assert state.closed_chunks == sum(1 for c in state.chunks if c.closed)
    assert state.files_before_last == sum(len(c.changes) for c in state.chunks[:-1])
