"""Tests for core.diagnostics: tsc output as pnpm and turbo print it, turned into Diagnostic values."""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from storyfence.core import diagnostics
from storyfence.core.diagnostics import MAX_DIAGNOSTICS, parse_tsc_output, strip_ansi, tail
from storyfence.core.models import Diagnostic

# The brief's sample of turbo 2 output (an older pnpm prints " ELIFECYCLE " with one leading space).
TURBO = (
    "• Packages in scope: @example/core\n"
    "• Running check-types in 1 packages\n"
    "@example/core:check-types: cache bypass, force executing 1a2b3c\n"
    "@example/core:check-types: \n"  # turbo keeps the prefix's trailing space on an empty line
    "@example/core:check-types: > @example/core@0.0.0 check-types /tmp/x/packages/core\n"
    "@example/core:check-types: > tsc --noEmit\n"
    "@example/core:check-types: \n"
    "@example/core:check-types: src/orders/cancel-order.ts(3,7): error TS2322: "
    "Type 'string' is not assignable to type 'number'.\n"
    "@example/core:check-types:  ELIFECYCLE  Command failed with exit code 2.\n"
    "@example/core:check-types: ERROR: command finished with error: command (/tmp/x/packages/core) "
    "/usr/bin/pnpm run check-types exited (2)\n"
)

# Recorded from `FORCE_COLOR=1 pnpm check-types --filter @example/core` (pnpm 12, turbo 2.11) on examples/.
TURBO_COLOUR = (
    "   • Packages in scope: @example/core\n"
    "   • Running check-types in 1 package\n"
    "   • Remote caching disabled\n"
    "\n"
    "\x1b[36m@example/core:check-types: \x1b[0mcache bypass, force executing \x1b[2m231ae53b66478821\x1b[0m\n"
    "\x1b[36m@example/core:check-types: \x1b[0m$ tsc --noEmit\n"
    "\x1b[36m@example/core:check-types: \x1b[0msrc/orders/cancel-order.ts(3,36): error TS2322: "
    "Type 'string' is not assignable to type 'number'.\n"
    "\x1b[36m@example/core:check-types: \x1b[0msrc/orders/cancel-order.ts(5,14): error TS2322: "
    "Type '(s: string) => string' is not assignable to type '(n: number) => string'.\n"
    "\x1b[36m@example/core:check-types: \x1b[0m  Types of parameters 's' and 'n' are incompatible.\n"
    "\x1b[36m@example/core:check-types: \x1b[0m    Type 'number' is not assignable to type 'string'.\n"
    "\x1b[36m@example/core:check-types: \x1b[0msrc/orders/cancel-order.ts(6,10): error TS6133: "
    "'unused' is declared but its value is never read.\n"
    "\x1b[36m@example/core:check-types: \x1b[0m[ELIFECYCLE] Command failed with exit code 2.\n"
    "\x1b[1m@example/core#check-types: \x1b[0m\x1b[31m\x1b[1m ERROR \x1b[0m \x1b[31m\x1b[1mcommand "
    "(/tmp/sfx/packages/core) /usr/bin/pnpm run check-types exited (2)\x1b[0m\n"
    "\n"
    "\x1b[1m Tasks:    \x1b[32m\x1b[1m0 successful\x1b[0m, 1 total\x1b[0m\n"
    "\x1b[1mFailed:    \x1b[31m\x1b[1m@example/core#check-types\x1b[0m\x1b[0m\n"
    "\n"
    "\x1b[31;40m ERROR \x1b[0m \x1b[31;49mrun failed: command  exited (2)\x1b[0m\n"
)

# Recorded from `tsc --noEmit --pretty` in examples/packages/core: code frames and related information
# follow each message after a blank line.
PRETTY = (
    "\x1b[96msrc/orders/cancel-order.ts\x1b[0m:\x1b[93m3\x1b[0m:\x1b[93m36\x1b[0m - \x1b[91merror\x1b[0m"
    "\x1b[90m TS2322: \x1b[0mType 'string' is not assignable to type 'number'.\n"
    "\n"
    "\x1b[7m3\x1b[0m export const d: Deep = { a: { b: { c: 'x' } } };\n"
    "\x1b[7m \x1b[0m \x1b[91m                                   ~\x1b[0m\n"
    "\n"
    "  \x1b[96msrc/orders/cancel-order.ts\x1b[0m:\x1b[93m2\x1b[0m:\x1b[93m28\x1b[0m\n"
    "    \x1b[7m2\x1b[0m interface Deep { a: { b: { c: number } } }\n"
    "    \x1b[7m \x1b[0m \x1b[96m                           ~\x1b[0m\n"
    "    The expected type comes from property 'c' which is declared here on type '{ c: number; }'\n"
    "\n"
    "\x1b[96msrc/orders/cancel-order.ts\x1b[0m:\x1b[93m5\x1b[0m:\x1b[93m14\x1b[0m - \x1b[91merror\x1b[0m"
    "\x1b[90m TS2322: \x1b[0mType '(s: string) => string' is not assignable to type "
    "'(n: number) => string'.\n"
    "  Types of parameters 's' and 'n' are incompatible.\n"
    "    Type 'number' is not assignable to type 'string'.\n"
    "\n"
    "\x1b[7m5\x1b[0m export const g: (n: number) => string = (s: string) => s;\n"
    "\x1b[7m \x1b[0m \x1b[91m             ~\x1b[0m\n"
    "\n"
    "\n"
    "Found 2 errors in the same file, starting at: src/orders/cancel-order.ts\x1b[90m:3\x1b[0m\n"
)

# Recorded from `pnpm check-types --filter @example/backend`: turbo checks the dependency first, and its
# errors carry its own prefix and paths relative to its own directory.
DEPENDENCY = (
    "   • Packages in scope: @example/backend\n"
    "   • Running check-types in 1 package\n"
    "\n"
    "@example/core:check-types: cache bypass, force executing 16f76d8bf7ede82a\n"
    "@example/core:check-types: $ tsc --noEmit\n"
    "@example/core:check-types: src/orders/cancel-order.ts(2,7): error TS2322: "
    "Type 'string' is not assignable to type 'number'.\n"
    "@example/core:check-types: [ELIFECYCLE] Command failed with exit code 2.\n"
    "@example/core#check-types:  ERROR  command (/tmp/sfx/packages/core) pnpm run check-types exited (2)\n"
)

CHAIN = "Type '(s: string) => string' is not assignable to type '(n: number) => string'."


def test_a_plain_tsc_error_line_is_parsed() -> None:
    text = "src/orders/cancel.ts(12,5): error TS2322: Type 'string' is not assignable to type 'number'.\n"
    assert parse_tsc_output(text) == (
        Diagnostic(
            file="src/orders/cancel.ts",
            line=12,
            column=5,
            code="TS2322",
            message="Type 'string' is not assignable to type 'number'.",
        ),
    )


def test_a_turbo_prefixed_error_line_is_parsed_and_mapped_into_the_package() -> None:
    found = parse_tsc_output(TURBO, package_dir="packages/core")
    assert found == (
        Diagnostic(
            file="packages/core/src/orders/cancel-order.ts",
            line=3,
            column=7,
            code="TS2322",
            message="Type 'string' is not assignable to type 'number'.",
        ),
    )


def test_pnpm_elifecycle_line_indented_by_one_space_does_not_join_the_message() -> None:
    (found,) = parse_tsc_output(TURBO)
    assert "ELIFECYCLE" not in found.message


def test_a_coloured_turbo_prefix_is_stripped_and_every_diagnostic_found() -> None:
    found = parse_tsc_output(TURBO_COLOUR, package_dir="packages/core")
    assert [(d.file, d.line, d.column, d.code) for d in found] == [
        ("packages/core/src/orders/cancel-order.ts", 3, 36, "TS2322"),
        ("packages/core/src/orders/cancel-order.ts", 5, 14, "TS2322"),
        ("packages/core/src/orders/cancel-order.ts", 6, 10, "TS6133"),
    ]


def test_indented_continuation_lines_join_the_message_with_their_nesting_kept() -> None:
    found = parse_tsc_output(TURBO_COLOUR)
    assert found[1].message == (
        f"{CHAIN}\n  Types of parameters 's' and 'n' are incompatible.\n"
        "    Type 'number' is not assignable to type 'string'."
    )
    assert found[2].message == "'unused' is declared but its value is never read."


def test_a_pretty_coloured_tsc_error_is_parsed() -> None:
    found = parse_tsc_output(PRETTY, package_dir="packages/core")
    assert [(d.file, d.line, d.column, d.code) for d in found] == [
        ("packages/core/src/orders/cancel-order.ts", 3, 36, "TS2322"),
        ("packages/core/src/orders/cancel-order.ts", 5, 14, "TS2322"),
    ]


def test_pretty_code_frames_and_related_information_stay_out_of_the_message() -> None:
    first, second = parse_tsc_output(PRETTY)
    assert first.message == "Type 'string' is not assignable to type 'number'."
    assert second.message.splitlines() == [
        CHAIN,
        "  Types of parameters 's' and 'n' are incompatible.",
        "    Type 'number' is not assignable to type 'string'.",
    ]


def test_a_pnpm_recursive_prefix_is_stripped() -> None:
    text = (
        "packages/core check-types$ tsc --noEmit\n"
        "packages/core check-types: src/a.ts(1,2): error TS2304: Cannot find name 'x'.\n"
        "packages/core check-types:   Did you mean 'y'?\n"
        "packages/core check-types: Failed\n"
    )
    assert parse_tsc_output(text, package_dir="packages/core") == (
        Diagnostic(
            file="packages/core/src/a.ts",
            line=1,
            column=2,
            code="TS2304",
            message="Cannot find name 'x'.\n  Did you mean 'y'?",
        ),
    )


def test_a_warning_has_severity_warning() -> None:
    text = "src/a.ts(4,1): warning TS6133: 'x' is declared but its value is never read.\n"
    (found,) = parse_tsc_output(text)
    assert found.severity == "warning"
    assert found.code == "TS6133"


def test_a_dependency_package_is_mapped_to_its_own_directory_through_package_dirs() -> None:
    found = parse_tsc_output(
        DEPENDENCY,
        package_dir="packages/backend",
        package_dirs={"@example/backend": "packages/backend", "@example/core": "packages/core"},
    )
    assert [d.file for d in found] == ["packages/core/src/orders/cancel-order.ts"]


def test_a_pnpm_prefix_is_looked_up_in_package_dirs_by_its_directory() -> None:
    text = "packages/core check-types: src/a.ts(1,2): error TS2304: Cannot find name 'x'.\n"
    (found,) = parse_tsc_output(text, package_dirs={"packages/core": "examples/packages/core"})
    assert found.file == "examples/packages/core/src/a.ts"


def test_without_a_package_dir_the_file_stays_as_printed() -> None:
    (found,) = parse_tsc_output("./src/a.ts(1,2): error TS1005: ';' expected.\n")
    assert found.file == "./src/a.ts"


def test_parent_segments_in_a_relative_path_are_normalised() -> None:
    text = "../shared/src/a.ts(1,2): error TS1005: ';' expected.\n./src/b.ts(3,4): error TS1005: ';' expected.\n"
    found = parse_tsc_output(text, package_dir="packages/core")
    assert [d.file for d in found] == ["packages/shared/src/a.ts", "packages/core/src/b.ts"]


def test_absolute_paths_stay_as_printed() -> None:
    text = (
        "/tmp/x/packages/core/src/a.ts(1,2): error TS1005: ';' expected.\n"
        "C:/work/packages/core/src/b.ts(1,2): error TS1005: ';' expected.\n"
        "C:\\work\\packages\\core\\src\\c.ts(1,2): error TS1005: ';' expected.\n"
    )
    found = parse_tsc_output(text, package_dir="packages/core")
    assert [d.file for d in found] == [
        "/tmp/x/packages/core/src/a.ts",
        "C:/work/packages/core/src/b.ts",
        "C:\\work\\packages\\core\\src\\c.ts",
    ]


def test_parentheses_in_a_next_route_group_path_are_part_of_the_file() -> None:
    text = "app/(shop)/api/orders/route.ts(7,3): error TS2339: Property 'x' does not exist on type 'Order'.\n"
    (found,) = parse_tsc_output(text, package_dir="apps/web")
    assert (found.file, found.line, found.column) == ("apps/web/app/(shop)/api/orders/route.ts", 7, 3)


def test_a_file_name_with_spaces_is_kept_whole() -> None:
    (found,) = parse_tsc_output("src/my orders/a b.ts:2:9 - error TS1005: ';' expected.\n", package_dir="p")
    assert found.file == "p/src/my orders/a b.ts"


def test_a_configuration_error_without_a_file_is_parsed_with_an_empty_file() -> None:
    text = "@example/core:check-types: error TS5023: Unknown compiler option '--color'.\n"
    assert parse_tsc_output(text, package_dir="packages/core") == (
        Diagnostic(file="", line=0, column=0, code="TS5023", message="Unknown compiler option '--color'."),
    )


def test_a_turbo_task_name_with_a_colon_is_one_prefix() -> None:
    text = "@example/core:check:types: src/a.ts(1,2): error TS1005: ';' expected.\n"
    (found,) = parse_tsc_output(text, package_dir="packages/core")
    assert found.file == "packages/core/src/a.ts"


def test_interleaved_packages_keep_their_continuation_lines_apart() -> None:
    text = (
        "@example/core:check-types: src/a.ts(1,1): error TS2322: Type 'A' is not assignable to type 'B'.\n"
        "@example/backend:check-types: src/b.ts(2,2): error TS2322: Type 'C' is not assignable to type 'D'.\n"
        "@example/core:check-types:   Property 'a' is missing.\n"
        "@example/backend:check-types:   Property 'c' is missing.\n"
    )
    dirs = {"@example/core": "packages/core", "@example/backend": "packages/backend"}
    core, backend = parse_tsc_output(text, package_dirs=dirs)
    assert (core.file, core.message) == (
        "packages/core/src/a.ts",
        "Type 'A' is not assignable to type 'B'.\n  Property 'a' is missing.",
    )
    assert (backend.file, backend.message) == (
        "packages/backend/src/b.ts",
        "Type 'C' is not assignable to type 'D'.\n  Property 'c' is missing.",
    )


def test_an_indented_line_after_an_unrelated_line_is_not_a_continuation() -> None:
    text = "src/a.ts(1,1): error TS1005: ';' expected.\nsomething else\n  indented noise\n"
    (found,) = parse_tsc_output(text)
    assert found.message == "';' expected."


def test_identical_diagnostics_are_reported_once_in_order() -> None:
    a = "src/a.ts(1,1): error TS1005: ';' expected.\n"
    b = "src/b.ts(2,2): error TS1005: ';' expected.\n"
    found = parse_tsc_output(a + b + a + b + a)
    assert [d.file for d in found] == ["src/a.ts", "src/b.ts"]


def test_at_most_max_diagnostics_are_returned() -> None:
    text = "".join(f"src/a.ts({n},1): error TS1005: ';' expected.\n" for n in range(1, MAX_DIAGNOSTICS + 50))
    found = parse_tsc_output(text)
    assert len(found) == MAX_DIAGNOSTICS
    assert found[-1].line == MAX_DIAGNOSTICS


def test_a_very_long_message_chain_is_capped() -> None:
    text = "src/a.ts(1,1): error TS2322: Type 'A' is not assignable.\n" + "  more\n" * 500
    (found,) = parse_tsc_output(text)
    assert len(found.message.splitlines()) <= diagnostics.MAX_MESSAGE_LINES + 1
    assert found.message.endswith("…")


def test_crlf_line_ends_and_carriage_return_redraws_are_handled() -> None:
    text = "progress 10%\rprogress 100%\rsrc/a.ts(1,2): error TS1005: ';' expected.\r\n  next line\r\n"
    (found,) = parse_tsc_output(text)
    assert (found.file, found.message) == ("src/a.ts", "';' expected.\n  next line")


def test_output_of_a_passing_run_has_no_diagnostics() -> None:
    text = (
        "• Packages in scope: @example/core\n"
        "@example/core:check-types: $ tsc --noEmit\n"
        " Tasks:    1 successful, 1 total\n"
        "Cached:    0 cached, 1 total\n"
        "  Time:    812ms\n"
    )
    assert parse_tsc_output(text) == ()


def test_lines_that_only_look_like_errors_are_not_diagnostics() -> None:
    text = "Error: ERR_PNPM_RECURSIVE_RUN_FIRST_FAIL\nerror: something\nsrc/a.ts(1,2): error: no code\n"
    assert parse_tsc_output(text) == ()


def test_strip_ansi_removes_colours_cursor_moves_and_hyperlinks() -> None:
    text = "\x1b[31;1mred\x1b[0m \x1b[2Kline \x1b]8;;https://x.dev\x07link\x1b]8;;\x07 \x1b(Bend"
    assert strip_ansi(text) == "red line link end"


def test_tail_keeps_the_last_lines_without_colour_or_trailing_blank_lines() -> None:
    text = "".join(f"\x1b[2mline {n}\x1b[0m\n" for n in range(100)) + "\n\n"
    assert tail(text, max_lines=3) == "line 97\nline 98\nline 99"


def test_tail_cuts_at_a_line_boundary_and_marks_the_cut_when_characters_run_out() -> None:
    text = "\n".join("x" * 30 for _ in range(10))
    result = tail(text, max_lines=40, max_chars=100)
    assert len(result) <= 100
    assert result.startswith("…")
    assert result[1:].split("\n") == ["x" * 30] * 3


def test_tail_of_one_huge_line_keeps_its_end() -> None:
    result = tail("a" * 10_000 + "END", max_chars=50)
    assert len(result) == 50
    assert result.startswith("…")
    assert result.endswith("END")


def test_tail_of_nothing_is_empty() -> None:
    assert tail("") == ""
    assert tail("\n\n  \n") == ""
    assert tail("a\nb", max_lines=0) == ""


def test_the_module_imports_no_io() -> None:
    tree = ast.parse(Path(diagnostics.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    allowed = {"__future__", "posixpath", "re", "collections.abc", "dataclasses", "typing"}
    assert imported <= allowed | {"storyfence.core.models"}


# --- properties ------------------------------------------------------------------------------------------

_paths = st.from_regex(r"[a-z][a-z0-9_-]{0,8}(/[a-z0-9_()-]{1,10}){0,3}\.ts", fullmatch=True)
_messages = (
    st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=60)
    .map(str.strip)
    .filter(bool)
)


@given(text=st.text(max_size=2000))
def test_any_output_parses_without_raising_and_within_the_cap(text: str) -> None:
    found = parse_tsc_output(text, package_dir="packages/core")
    assert len(found) <= MAX_DIAGNOSTICS
    assert len(set(found)) == len(found)


@given(
    path=_paths,
    line=st.integers(1, 100_000),
    column=st.integers(1, 1000),
    code=st.integers(1000, 99999),
    message=_messages,
    pretty=st.booleans(),
    prefix=st.sampled_from(["", "@example/core:check-types: ", "\x1b[36mapi:check-types: \x1b[0m"]),
)
def test_a_printed_diagnostic_is_parsed_back(
    path: str, line: int, column: int, code: int, message: str, pretty: bool, prefix: str
) -> None:
    where = f"{path}:{line}:{column} - " if pretty else f"{path}({line},{column}): "
    found = parse_tsc_output(f"{prefix}{where}error TS{code}: {message}\n", package_dir="packages/core")
    assert found == (
        Diagnostic(file=f"packages/core/{path}", line=line, column=column, code=f"TS{code}", message=message),
    )


@given(text=st.text(max_size=3000), max_lines=st.integers(0, 50), max_chars=st.integers(0, 500))
def test_tail_stays_within_both_caps(text: str, max_lines: int, max_chars: int) -> None:
    result = tail(text, max_lines=max_lines, max_chars=max_chars)
    assert len(result) <= max_chars
    assert (len(result.split("\n")) if result else 0) <= max_lines
    assert not result or result.split("\n")[-1].strip()
