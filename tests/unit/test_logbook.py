"""Tests for core.logbook and core.log_reader: the seed's log format rendered from records, hostile model
text, parsing back."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storyfence.core import log_reader, logbook
from storyfence.core.log_reader import is_complete, parse_failures, parse_log
from storyfence.core.logbook import (
    FIELD_KEYS,
    clean_line,
    clean_text,
    collapse_changes,
    render_blockers,
    render_chunk_addendum,
    render_chunk_section,
    render_completion,
    render_log_header,
    render_typecheck_failure,
)
from storyfence.core.models import CommandRun, Diagnostic, FileChange, PortsAdapters, Reuse, UncheckedFile

ARGV = ("pnpm", "check-types", "--filter", "@example/core")
TS2322 = Diagnostic(
    file="packages/core/src/x.ts",
    line=3,
    column=7,
    code="TS2322",
    message="Type 'string' is not assignable to type 'number'.",
)
PASSED = CommandRun(argv=ARGV, package="@example/core", exit_code=0, outcome="passed", duration_seconds=2.1)
FAILED = CommandRun(
    argv=ARGV,
    package="@example/core",
    exit_code=2,
    outcome="failed",
    duration_seconds=1.9,
    diagnostics=(TS2322,),
    output_tail="src/x.ts(3,7): error TS2322: ...",
)
REUSE = Reuse(reused="OrderRepository port", new="cancelOrder use case", why_new="no cancel logic existed")
PORTS = PortsAdapters(core="the cancellation rule", adapters="nothing: no endpoint in this chunk")


CANCEL_ORDER = (FileChange(path="packages/core/src/orders/cancel-order.ts", kind="created", sha256="a"),)


def chunk(
    *,
    number: int = 1,
    name: str = "Cancel order use case",
    objective: str = "AC1: a pending order can be cancelled",
    files: Sequence[FileChange] = CANCEL_ORDER,
    summary: str = "Added cancelOrder(orderId) to the core.",
    reuse: Reuse = REUSE,
    ports: PortsAdapters = PORTS,
    commands: Sequence[CommandRun] = (FAILED, PASSED),
    notes_risks: str = "None.",
) -> str:
    """A rendered chunk section with realistic defaults."""
    return render_chunk_section(
        number=number,
        name=name,
        objective=objective,
        files=files,
        summary=summary,
        reuse=reuse,
        ports=ports,
        commands=commands,
        notes_risks=notes_risks,
    )


def failure(
    *,
    number: int = 1,
    attempt: int = 1,
    max_attempts: int = 2,
    run: CommandRun = FAILED,
    run_number: int | None = None,
) -> str:
    """A rendered typecheck-failure block for chunk `number`, named "Cancel"."""
    return render_typecheck_failure(
        number=number,
        name="Cancel",
        attempt=attempt,
        max_attempts=max_attempts,
        run=run,
        run_number=run_number,
    )


# --- the header and the chunk section --------------------------------------------------------------------


def test_the_log_header_names_the_story_and_who_writes_the_file() -> None:
    header = render_log_header("STORY-042")
    assert header.startswith("# Backend log — STORY-042\n\n_")
    assert "storyfence" in header
    assert "append-only" in header
    assert header.endswith("_\n\n")


def test_a_chunk_section_has_exactly_the_seed_structure() -> None:
    assert chunk() == (
        "## Chunk 1 — Cancel order use case\n"
        "- Objective (maps to story requirement/AC): AC1: a pending order can be cancelled\n"
        "- Files changed:\n"
        "  - `packages/core/src/orders/cancel-order.ts` (created)\n"
        "- Summary of changes: Added cancelOrder(orderId) to the core.\n"
        "- Reuse compliance:\n"
        "  - Reused: OrderRepository port\n"
        "  - New: cancelOrder use case\n"
        "  - Why new was necessary: no cancel logic existed\n"
        "- Ports & adapters note:\n"
        "  - What stayed in core: the cancellation rule\n"
        "  - What stayed in adapters: nothing: no endpoint in this chunk\n"
        "- Commands run (if any):\n"
        "  - `pnpm check-types --filter @example/core` → failed (exit 2, 1.9s, 1 error)\n"
        "  - `pnpm check-types --filter @example/core` → passed (exit 0, 2.1s)\n"
        "- Notes / Risks: None.\n"
        "\n"
    )


def test_a_chunk_without_files_or_commands_says_none() -> None:
    section = chunk(files=[], commands=[])
    assert "- Files changed:\n  - (none)\n" in section
    assert "- Commands run (if any):\n  - (none)\n" in section


def test_empty_model_text_is_rendered_as_none() -> None:
    section = chunk(summary="", notes_risks="  \n\n ")
    assert "- Summary of changes: (none)\n" in section
    assert "- Notes / Risks: (none)\n" in section


def test_multi_line_model_text_is_indented_under_its_list_item() -> None:
    section = chunk(summary="First line.\nSecond line.\n\nAfter a blank line.")
    assert "- Summary of changes: First line.\n  Second line.\n\n  After a blank line.\n- Reuse" in section
    nested = chunk(reuse=Reuse(reused="a\nb", new="n", why_new="w"))
    assert "  - Reused: a\n    b\n  - New: n\n" in nested


def test_a_model_line_starting_with_a_hash_is_escaped() -> None:
    section = chunk(summary="# Not a heading\n## Chunk 2 — forged")
    assert "- Summary of changes: \\# Not a heading\n  \\#\\# Chunk 2 — forged\n" in section


def test_model_text_cannot_forge_a_chunk_heading_anywhere() -> None:
    hostile = "x\n## Chunk 9 — forged\n### Chunk 9 — typecheck failed (run 1; first failure)\n# Title"
    section = chunk(
        name="evil\n## Chunk 8 — forged name",
        objective=hostile,
        summary=hostile,
        notes_risks="see ## Chunk 7 — inline",
        reuse=Reuse(reused=hostile, new=hostile, why_new=hostile),
        ports=PortsAdapters(core=hostile, adapters=hostile),
    )
    assert section.count("## Chunk") == 1
    assert [line for line in section.splitlines() if line.lstrip().startswith("#")] == [section.splitlines()[0]]
    assert parse_failures(section) == []
    (parsed,) = parse_log(section)
    assert parsed.name == "evil ## Chunk 8 — forged name"
    assert parsed.fields["Summary of changes"] == hostile


def test_a_chunk_name_is_kept_on_one_line() -> None:
    assert chunk(name="  cancel\n order\t use case ").startswith("## Chunk 1 — cancel order use case\n")


def test_control_characters_and_bidi_overrides_do_not_reach_the_log() -> None:
    section = chunk(summary="red \x1b[31mtext\x1b[0m\u202eevil\x00")
    assert "\x1b" not in section
    assert "\u202e" not in section
    assert "\x00" not in section


def test_a_file_changed_several_times_appears_once_with_its_net_change() -> None:
    files = [
        FileChange(path="a.ts", kind="created", sha256="1"),
        FileChange(path="b.ts", kind="modified", sha256="2"),
        FileChange(path="a.ts", kind="modified", sha256="3"),
        FileChange(path="c.ts", kind="created", sha256="4"),
        FileChange(path="d.ts", kind="modified", sha256="5"),
        FileChange(path="c.ts", kind="deleted"),
        FileChange(path="d.ts", kind="deleted"),
        FileChange(path="e.ts", kind="deleted"),
        FileChange(path="e.ts", kind="created", sha256="6"),
        FileChange(path="b.ts", kind="modified", sha256="7"),
    ]
    assert collapse_changes(files) == [
        ("a.ts", "created"),
        ("b.ts", "modified"),
        ("d.ts", "deleted"),
        ("e.ts", "modified"),
    ]
    assert "`c.ts`" not in chunk(files=files)


def test_a_path_with_backticks_gets_a_longer_code_fence_and_parses_back() -> None:
    paths = ["packages/core/src/a`b.ts", "`edge`.ts", "packages/core/src/ä ö.ts"]
    section = chunk(files=[FileChange(path=p, kind="created", sha256="x") for p in paths])
    assert "  - ``packages/core/src/a`b.ts`` (created)\n" in section
    assert "  - `` `edge`.ts `` (created)\n" in section
    assert parse_log(section)[0].files == tuple(paths)


def test_commands_show_their_outcome_exit_code_duration_and_counts() -> None:
    warned = FAILED.model_copy(
        update={
            "diagnostics": (
                TS2322,
                TS2322.model_copy(update={"line": 4}),
                TS2322.model_copy(update={"severity": "warning"}),
            )
        }
    )
    tooling = CommandRun(
        argv=ARGV,
        package="@example/core",
        exit_code=None,
        outcome="tooling_error",
        duration_seconds=0.04,
        note="pnpm was not found\non PATH",
    )
    timeout = CommandRun(argv=ARGV, package="@example/core", exit_code=None, outcome="timeout", duration_seconds=300)
    section = chunk(commands=[warned, tooling, timeout])
    assert "→ failed (exit 2, 1.9s, 2 errors, 1 warning)\n" in section
    assert "→ tooling error (no exit code, 0.0s): pnpm was not found on PATH\n" in section
    assert "→ timed out (no exit code, 300.0s)\n" in section


# --- typecheck failures ----------------------------------------------------------------------------------


def test_a_typecheck_failure_block_lists_the_command_and_its_errors() -> None:
    assert failure() == (
        "### Chunk 1 — typecheck failed (run 2; fix attempt 1 of 2)\n"
        "- Chunk: Cancel\n"
        "- Command: `pnpm check-types --filter @example/core` (exit 2)\n"
        "- Errors:\n"
        "  - `packages/core/src/x.ts:3:7` TS2322: Type 'string' is not assignable to type 'number'.\n"
        "\n"
    )


def test_the_first_failure_says_how_many_fix_attempts_are_left() -> None:
    assert failure(attempt=0).startswith("### Chunk 1 — typecheck failed (run 1; first failure; 2 fix attempts left)\n")
    assert "(run 1; first failure; 1 fix attempt left)" in failure(attempt=0, max_attempts=1)
    assert "(run 1; first failure; no fix attempts allowed)" in failure(attempt=0, max_attempts=0)


def test_the_last_fix_attempt_says_none_are_left() -> None:
    assert "(run 3; fix attempt 2 of 2, none left)" in failure(attempt=2)


def test_an_explicit_run_number_is_used() -> None:
    assert "(run 5; fix attempt 1 of 2)" in failure(run_number=5)
    assert parse_failures(failure(run_number=5)) == [(1, 5)]


def test_at_most_twenty_diagnostics_are_listed_then_a_count_of_the_rest() -> None:
    many = tuple(TS2322.model_copy(update={"line": n}) for n in range(1, 26))
    block = failure(run=FAILED.model_copy(update={"diagnostics": many}))
    assert block.count("TS2322") == 20
    assert "`packages/core/src/x.ts:20:7`" in block
    assert "`packages/core/src/x.ts:21:7`" not in block
    assert "  - … and 5 more\n" in block


def test_a_multi_line_diagnostic_message_stays_in_its_item_and_warnings_are_marked() -> None:
    chained = TS2322.model_copy(update={"message": "Type 'A' is not assignable.\n  Property 'x' is missing."})
    warning = Diagnostic(file="", line=0, column=0, code="TS6133", message="unused", severity="warning")
    block = failure(run=FAILED.model_copy(update={"diagnostics": (chained, warning)}))
    assert (
        "  - `packages/core/src/x.ts:3:7` TS2322: Type 'A' is not assignable.\n"
        "      Property 'x' is missing.\n" in block
    )
    assert "  - TS6133 (warning): unused\n" in block


def test_without_diagnostics_the_output_tail_is_fenced_longer_than_any_backtick_run_inside() -> None:
    tail = "\x1b[31msh: pnpm: not found\x1b[0m\n```js\n# not a heading\n````\nend"
    block = failure(run=FAILED.model_copy(update={"diagnostics": (), "output_tail": tail}))
    assert (
        "- Output (last lines):\n  `````\n  sh: pnpm: not found\n  ```js\n  # not a heading\n  ````\n  end\n  `````\n"
    ) in block
    assert "\x1b" not in block


def test_without_diagnostics_or_output_the_block_says_none() -> None:
    block = failure(run=FAILED.model_copy(update={"diagnostics": (), "output_tail": ""}))
    assert "- Output: (none)\n" in block


# --- completion and blockers -----------------------------------------------------------------------------


def test_completion_names_the_story_the_chunks_and_the_time_and_ends_with_the_signal() -> None:
    text = render_completion(story_id="STORY-042", chunks=3, at="2025-11-25T09:23:00+00:00")
    assert text.startswith("## BACKEND COMPLETE\n\n")
    assert "- Story: STORY-042\n" in text
    assert "- Chunks: 3\n" in text
    assert "- Completed at: 2025-11-25T09:23:00+00:00\n" in text
    assert text.endswith("\nBACKEND COMPLETE\n")
    assert is_complete(render_log_header("STORY-042") + chunk() + text)
    assert not is_complete(render_log_header("STORY-042") + chunk())


def test_blockers_carry_the_reason_details_chunk_and_each_command_with_its_evidence() -> None:
    crashed = CommandRun(
        argv=ARGV,
        package="@example/core",
        exit_code=1,
        outcome="tooling_error",
        duration_seconds=0.3,
        output_tail="ERR_PNPM_NO_SCRIPT  Missing script: check-types",
        note="pnpm failed before tsc ran",
    )
    text = render_blockers(
        story_id="STORY-042",
        reason="typecheck still fails\nafter 2 fix attempts",
        details="Tried narrowing the type.\n# Then tried a cast.",
        chunk=2,
        chunk_name="Cancel endpoint",
        commands=[FAILED, crashed],
        at="2025-11-25T09:23:00Z",
    )
    lines = text.splitlines()
    assert lines[0] == "# Blockers — STORY-042"
    assert lines[2] == "BLOCKED: typecheck still fails after 2 fix attempts"
    assert lines[-1] == lines[2]
    assert "- Chunk: 2 — Cancel endpoint\n" in text
    assert "- Blocked at: 2025-11-25T09:23:00Z\n" in text
    assert "- Details: Tried narrowing the type.\n  \\# Then tried a cast.\n" in text
    assert "### 1. `pnpm check-types --filter @example/core` → failed (exit 2, 1.9s, 1 error)\n" in text
    assert "  - `packages/core/src/x.ts:3:7` TS2322: Type 'string' is not assignable to type 'number'.\n" in text
    assert "### 2. `pnpm check-types --filter @example/core` → tooling error (exit 1, 0.3s)\n" in text
    assert "- Note: pnpm failed before tsc ran\n" in text
    assert "  ```\n  ERR_PNPM_NO_SCRIPT  Missing script: check-types\n  ```\n" in text
    assert text.endswith("\n")


def test_blockers_without_commands_or_an_open_chunk_say_so() -> None:
    text = render_blockers(
        story_id="STORY-042",
        reason="SCOPE.md contradicts the story",
        details="",
        chunk=None,
        chunk_name=None,
        commands=[],
        at="2025-11-25T09:23:00Z",
    )
    assert "- Chunk: none open\n" in text
    assert "- Details: (none)\n" in text
    assert "## Commands run\n\n(none)\n" in text


# --- parsing back ----------------------------------------------------------------------------------------


def test_a_rendered_chunk_parses_back_complete_with_its_fields_and_files() -> None:
    (section,) = parse_log(render_log_header("STORY-042") + chunk())
    assert (section.number, section.name, section.complete) == (1, "Cancel order use case", True)
    assert tuple(section.fields) == FIELD_KEYS
    assert section.fields["Objective"] == "AC1: a pending order can be cancelled"
    assert section.fields["Why new was necessary"] == "no cancel logic existed"
    assert section.fields["What stayed in adapters"] == "nothing: no endpoint in this chunk"
    assert (
        section.fields["Commands run"].splitlines()[1]
        == "- `pnpm check-types --filter @example/core` → passed (exit 0, 2.1s)"
    )
    assert section.files == ("packages/core/src/orders/cancel-order.ts",)


def test_a_log_with_several_chunks_and_failures_parses_in_order() -> None:
    log = (
        render_log_header("STORY-042")
        + failure(number=1, attempt=0)
        + chunk(number=1)
        + chunk(
            number=2,
            name="Endpoint",
            files=[FileChange(path="api/orders/cancel.ts", kind="created", sha256="b")],
        )
        + failure(number=3, attempt=0)
        + failure(number=3, attempt=1)
    )
    sections = parse_log(log)
    assert [(s.number, s.name, s.failures, s.complete) for s in sections] == [
        (1, "Cancel order use case", 1, True),
        (2, "Endpoint", 0, True),
    ]
    assert sections[1].files == ("api/orders/cancel.ts",)
    assert parse_failures(log) == [(1, 1), (3, 1), (3, 2)]


def test_a_truncated_section_parses_as_incomplete() -> None:
    text = chunk()
    cut = text[: text.index("- Ports & adapters note:")]
    (section,) = parse_log(cut)
    assert not section.complete
    assert "Reused" in section.fields
    assert "What stayed in core" not in section.fields


def test_a_section_ends_at_the_next_heading() -> None:
    log = chunk() + "## BACKEND COMPLETE\n\n- Notes / Risks: not part of the chunk\n"
    (section,) = parse_log(log)
    assert section.fields["Notes / Risks"] == "None."


def test_a_log_saved_with_crlf_line_ends_still_parses() -> None:
    (section,) = parse_log(chunk(summary="a\nb").replace("\n", "\r\n"))
    assert section.fields["Summary of changes"] == "a\nb"
    assert section.complete


def test_backslashes_before_a_hash_survive_the_round_trip() -> None:
    text = "C:\\dir\\ and \\# and \\\\## and #"
    assert parse_log(chunk(summary=text))[0].fields["Summary of changes"] == text


@pytest.mark.parametrize("module", [logbook, log_reader], ids=lambda m: m.__name__)
def test_the_writer_and_the_reader_import_no_io(module: ModuleType) -> None:
    tree = ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    allowed = {"__future__", "re", "collections", "collections.abc", "dataclasses", "typing"}
    assert imported <= allowed | {"storyfence.core.models", "storyfence.core.diagnostics", "storyfence.core.logbook"}


# --- properties ------------------------------------------------------------------------------------------

# Text as a model might send it, hostile bits included: markdown syntax, the log's own labels, backticks,
# backslashes, blank lines, any unicode (line separators and control characters too).
_fragments = st.sampled_from(
    [
        "#",
        "## Chunk 2 — x",
        "### Chunk 1 — typecheck failed (run 1; x)",
        "- Files changed:",
        "  - Reused: ",
        "- Notes / Risks:",
        "```",
        "`",
        "\\",
        "\\#",
        "\n",
        "\n\n",
        "\r\n",
        "  ",
        "\t",
        "—",
        "é",
        "😀",
        "\u2028",
    ]
)
_text = st.lists(st.one_of(st.text(max_size=20), _fragments), max_size=12).map("".join)
_non_empty = _text.filter(lambda t: t.strip() != "")


@given(
    name=_text,
    objective=_text,
    summary=_text,
    reused=_non_empty,
    new=_non_empty,
    why_new=_non_empty,
    core=_non_empty,
    adapters=_non_empty,
    notes=_text,
)
def test_any_model_text_round_trips_through_render_and_parse(
    name: str,
    objective: str,
    summary: str,
    reused: str,
    new: str,
    why_new: str,
    core: str,
    adapters: str,
    notes: str,
) -> None:
    section = chunk(
        name=name,
        objective=objective,
        summary=summary,
        reuse=Reuse(reused=reused, new=new, why_new=why_new),
        ports=PortsAdapters(core=core, adapters=adapters),
        notes_risks=notes,
    )
    log = render_log_header("STORY-042") + section + failure() + chunk(number=2)
    first, second = parse_log(log)
    assert first.number == 1
    assert first.name == clean_line(name)
    assert first.complete
    assert first.fields["Objective"] == clean_text(objective)
    assert first.fields["Summary of changes"] == clean_text(summary)
    assert first.fields["Reused"] == clean_text(reused)
    assert first.fields["New"] == clean_text(new)
    assert first.fields["Why new was necessary"] == clean_text(why_new)
    assert first.fields["What stayed in core"] == clean_text(core)
    assert first.fields["What stayed in adapters"] == clean_text(adapters)
    assert first.fields["Notes / Risks"] == clean_text(notes)
    assert first.files == ("packages/core/src/orders/cancel-order.ts",)
    assert (first.failures, second.number, second.complete) == (1, 2, True)
    assert parse_failures(log) == [(1, 2)]
    assert section.count("## Chunk") == 1


@given(text=_text)
def test_cleaning_text_is_idempotent(text: str) -> None:
    assert clean_text(clean_text(text)) == clean_text(text)
    assert clean_line(clean_line(text)) == clean_line(text)


@given(paths=st.lists(st.text(min_size=1, max_size=30).filter(lambda p: p.strip(" ") != ""), max_size=5))
def test_any_path_round_trips_through_the_files_list(paths: list[str]) -> None:
    changes = [FileChange(path=p, kind="modified", sha256="x") for p in paths]
    expected = tuple(path for path, _ in collapse_changes(changes))
    assert parse_log(chunk(files=changes))[0].files == expected


@given(text=st.text(max_size=3000))
def test_parsing_any_text_never_raises(text: str) -> None:
    for section in parse_log(text):
        assert set(section.fields) <= set(FIELD_KEYS)
    parse_failures(text)
    is_complete(text)


def test_files_no_check_covered_are_listed_under_commands_run_with_why() -> None:
    unchecked = [
        UncheckedFile(path="packages/db/migrations/2.sql", reason="not code a typecheck reads", allowed=True),
        UncheckedFile(path="apps/api/orders/views.py", reason="no check covers it", allowed=False),
    ]
    section = render_chunk_section(
        number=1,
        name="Cancel",
        objective="AC1",
        files=[],
        summary="s",
        reuse=REUSE,
        ports=PORTS,
        commands=[PASSED],
        notes_risks="none",
        unchecked=unchecked,
    )
    assert (
        "- Commands run (if any):\n"
        "  - `pnpm check-types --filter @example/core` → passed (exit 0, 2.1s)\n"
        "  - not type-checked: `packages/db/migrations/2.sql` (not code a typecheck reads)\n"
        "  - not type-checked: `apps/api/orders/views.py` (no check covers it; the chunk cannot close)\n"
        "- Notes / Risks: none\n"
    ) in section
    [parsed] = parse_log(section)
    assert parsed.complete
    addendum = render_chunk_addendum(number=1, name="Cancel", files=[], commands=[], unchecked=unchecked[:1])
    assert "- Commands run (if any):\n  - not type-checked: `packages/db/migrations/2.sql` (not code" in addendum
