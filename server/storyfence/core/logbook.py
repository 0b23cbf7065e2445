"""BACKEND-LOG.md and BLOCKERS.md rendered from the server's records in the seed's format (core.log_reader
parses the log back).

Model text (summaries, reasons, names) never shapes the document: it is cleaned (`clean_text`), every
`#` in it is backslash-escaped (so no heading, and no "## Chunk", can be forged anywhere) and its
continuation lines are indented under their list item. The reader reverses exactly that, so
`parse_log(render_chunk_section(...))` gives back the cleaned text.

Every block ends with a blank line so blocks can be appended as they are; the completion block, which
ends the log, ends with a single newline.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from storyfence.core.diagnostics import strip_ansi
from storyfence.core.models import CommandRun, Diagnostic, FileChange, PortsAdapters, Reuse, UncheckedFile

DASH = "—"
NONE = "(none)"
MAX_LISTED_DIAGNOSTICS = 20

INDENT = "  "
_NESTED_INDENT = "    "


@dataclass(frozen=True)
class LogField:
    """One field of a chunk section, as the seed spells it; core.log_reader finds fields by the same table."""

    key: str  # the key in log_reader.LogSection.fields; for a group, its label
    label: str  # as the seed spells it
    kind: Literal["text", "list", "group"]
    group: str | None = None  # the group a nested field sits under

    @property
    def head(self) -> str:
        return f"{INDENT if self.group else ''}- {self.label}:"

    @property
    def indent(self) -> str:
        return _NESTED_INDENT if self.group else INDENT


_REUSE = "Reuse compliance"
_PORTS = "Ports & adapters note"
FIELDS = (
    LogField("Objective", "Objective (maps to story requirement/AC)", "text"),
    LogField("Files changed", "Files changed", "list"),
    LogField("Summary of changes", "Summary of changes", "text"),
    LogField(_REUSE, _REUSE, "group"),
    LogField("Reused", "Reused", "text", _REUSE),
    LogField("New", "New", "text", _REUSE),
    LogField("Why new was necessary", "Why new was necessary", "text", _REUSE),
    LogField(_PORTS, _PORTS, "group"),
    LogField("What stayed in core", "What stayed in core", "text", _PORTS),
    LogField("What stayed in adapters", "What stayed in adapters", "text", _PORTS),
    LogField("Commands run", "Commands run (if any)", "list"),
    LogField("Notes / Risks", "Notes / Risks", "text"),
)
FIELD_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.kind != "group")
"""The keys of `log_reader.LogSection.fields`, in the seed's order."""


# --- cleaning and escaping model text ----------------------------------------------------------------------

# Control characters (ESC included) and bidi overrides: they could hide or reorder text for the reviewer.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_INLINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str) -> str:
    """Multi-line model text as the log keeps it: "\\n" line ends, no control characters (each becomes
    U+FFFD), no trailing spaces, no leading or trailing blank lines; "(none)" when nothing is left."""
    lines = [_UNSAFE.sub("\ufffd", line).rstrip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) if lines else NONE


def clean_line(text: str) -> str:
    """One-line model text (a chunk name, a reason): whitespace runs become one space; "(none)" if empty."""
    return " ".join(_UNSAFE_INLINE.sub(" ", text).split()) or NONE


def _inline(text: str) -> str:
    # Paths and commands keep their spaces; only what could break the line goes.
    return _UNSAFE_INLINE.sub("\ufffd", text)


def _escape(text: str) -> str:
    # Every "#" gets an odd run of backslashes (the ones before it doubled): markdown shows the text
    # as written, and the raw file has no "#" from the model, so no heading can be forged.
    return re.sub(r"(\\*)#", lambda m: "\\" * (2 * len(m[1]) + 1) + "#", text)


def _text_item(head: str, text: str, indent: str) -> list[str]:
    """`head` followed by the cleaned text; continuation lines indented so they stay in the list item."""
    first, *rest = _escape(clean_text(text)).split("\n")
    return [f"{head} {first}", *(indent + line if line else "" for line in rest)]


def code_span(text: str) -> str:
    """`text` as a markdown code span, with a fence longer than any backtick run inside it."""
    text = _inline(text)
    if not text:
        return NONE
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    # Markdown strips one space from each end of a span that has both (unless it is all spaces).
    spaced = text.startswith(" ") and text.endswith(" ") and text.strip(" ") != ""
    if text.startswith("`") or text.endswith("`") or spaced:
        text = f" {text} "
    return f"{fence}{text}{fence}"


def _fenced(text: str, indent: str) -> list[str]:
    """`text` in a fenced code block longer than any backtick run inside it, indented as a list item."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = [indent + line if line else "" for line in text.split("\n")]
    return [indent + fence, *body, indent + fence]


# --- pieces shared by the log and BLOCKERS.md --------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _exit_words(run: CommandRun) -> str:
    return "no exit code" if run.exit_code is None else f"exit {run.exit_code}"


def outcome_words(run: CommandRun, *, with_note: bool = True) -> str:
    """`passed (exit 0, 2.1s)`, `failed (exit 2, 1.9s, 1 error)`, `timed out (no exit code, 300.0s): why`."""
    facts = [_exit_words(run), f"{run.duration_seconds:.1f}s"]
    if run.outcome == "failed":
        errors = sum(1 for d in run.diagnostics if d.severity == "error")
        warnings = len(run.diagnostics) - errors
        facts += [_plural(errors, "error")] if errors else []
        facts += [_plural(warnings, "warning")] if warnings else []
    word = {"passed": "passed", "failed": "failed", "tooling_error": "tooling error", "timeout": "timed out"}
    text = f"{word[run.outcome]} ({', '.join(facts)})"
    if with_note and run.note and (run.outcome in ("tooling_error", "timeout") or run.preexisting):
        text += f": {_escape(clean_line(run.note))}"
    return text


def diagnostic_item(diagnostic: Diagnostic) -> list[str]:
    where = f"{diagnostic.file}:{diagnostic.line}:{diagnostic.column}" if diagnostic.file else ""
    code = diagnostic.code + (" (warning)" if diagnostic.severity == "warning" else "")
    head = f"{INDENT}- {code_span(where)} {code}:" if where else f"{INDENT}- {code}:"
    return _text_item(head, diagnostic.message, _NESTED_INDENT)


def _run_evidence(run: CommandRun) -> list[str]:
    """The errors of a run (at most 20 listed), else the tail of its output."""
    lines: list[str] = []
    if run.note:
        lines += _text_item("- Note:", run.note, INDENT)
    if run.diagnostics:
        lines.append("- Errors:")
        for diagnostic in run.diagnostics[:MAX_LISTED_DIAGNOSTICS]:
            lines += diagnostic_item(diagnostic)
        hidden = len(run.diagnostics) - MAX_LISTED_DIAGNOSTICS
        if hidden > 0:
            lines.append(f"{INDENT}- … and {hidden} more")
        return lines
    output = clean_text(strip_ansi(run.output_tail))
    if output == NONE:
        lines.append("- Output: (none)")
    else:
        lines.append("- Output (last lines):")
        lines += _fenced(output, INDENT)
    return lines


# --- BACKEND-LOG.md --------------------------------------------------------------------------------------


def render_log_header(story_id: str) -> str:
    """The first lines of BACKEND-LOG.md: the title and a note on who writes the file."""
    return (
        f"# Backend log {DASH} {_escape(clean_line(story_id))}\n\n"
        "_Written by storyfence from what the server saw (its own records of file writes and typecheck "
        "runs); append-only, never edited by hand._\n\n"
    )


def collapse_changes(files: Sequence[FileChange]) -> list[tuple[str, str]]:
    """The net change per path, in order of first appearance, from the raw sequence of changes.

    What the path was before the chunk (absent if its first change is "created") and after it (absent if
    its last change is "deleted") decides: absent → present is "created" (created then modified stays
    created), present → present is "modified" (deleted then created again too), present → absent is
    "deleted", and absent → absent (created then deleted) leaves no trace and is dropped.
    """
    kinds: dict[str, list[str]] = {}
    for change in files:
        kinds.setdefault(_inline(change.path), []).append(change.kind)
    net: list[tuple[str, str]] = []
    for path, seen in kinds.items():
        existed, exists = seen[0] != "created", seen[-1] != "deleted"
        if existed or exists:
            net.append((path, "modified" if existed and exists else "created" if exists else "deleted"))
    return net


def file_items(files: Sequence[FileChange]) -> list[str]:
    """One item per path with its net change; a change the server saw on disk but did not make says so."""
    outside = {_inline(c.path) for c in files if c.outside}
    return [
        f"{code_span(p)} ({k}{', made outside storyfence' if p in outside else ''})" for p, k in collapse_changes(files)
    ]


def refusal_items(rules: Sequence[str]) -> list[str]:
    """The writes the server refused while the chunk was open, counted by rule: what the agent tried."""
    by_rule = ", ".join(
        f"{code_span(r)} ×{n}" for r, n in sorted(Counter(rules).items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return [f"refused by storyfence: {_plural(len(rules), 'write')} ({by_rule})"] if rules else []


def render_chunk_section(
    *,
    number: int,
    name: str,
    objective: str,
    files: Sequence[FileChange],
    summary: str,
    reuse: Reuse,
    ports: PortsAdapters,
    commands: Sequence[CommandRun],
    notes_risks: str,
    unchecked: Sequence[UncheckedFile] = (),
    refused: Sequence[str] = (),
    part: Literal["whole", "opening", "rest"] = "whole",
) -> str:
    """One `## Chunk N — name` section in the seed's structure: `part` "opening" is its heading and Objective
    (appended when the chunk begins), "rest" the fields after them (appended when it ends). Each path once
    with its net change (`collapse_changes`); each command with its outcome, then each unchecked file."""
    texts = {
        "Objective": objective,
        "Summary of changes": summary,
        "Reused": reuse.reused,
        "New": reuse.new,
        "Why new was necessary": reuse.why_new,
        "What stayed in core": ports.core,
        "What stayed in adapters": ports.adapters,
        "Notes / Risks": notes_risks,
    }
    lists = {
        "Files changed": file_items(files),
        "Commands run": [*_command_items(commands, unchecked), *refusal_items(refused)],
    }
    opening = [f"## Chunk {number} {DASH} {_escape(clean_line(name))}"]
    rest: list[str] = []
    for spec in FIELDS:
        lines = opening if spec.key == "Objective" else rest
        if spec.kind == "text":
            lines += _text_item(spec.head, texts[spec.key], spec.indent)
        else:
            lines.append(spec.head)
        if spec.kind == "list":
            lines += [f"{INDENT}- {item}" for item in lists[spec.key] or [NONE]]
    chosen = {"whole": opening + rest, "opening": opening, "rest": rest}[part]
    return "\n".join(chosen) + "\n\n"


def render_chunk_addendum(
    *,
    number: int,
    name: str,
    files: Sequence[FileChange],
    commands: Sequence[CommandRun],
    unchecked: Sequence[UncheckedFile] = (),
) -> str:
    """What changed in a chunk after its section was written (fixes, the verifying typecheck), appended
    when the chunk closes, so the log never rewrites a section and never omits a write."""
    lines = [f"### Chunk {number} {DASH} after the log: {_escape(clean_line(name))}", "- Files changed:"]
    lines += [f"{INDENT}- {item}" for item in file_items(files)] or [f"{INDENT}- {NONE}"]
    lines.append("- Commands run (if any):")
    lines += [f"{INDENT}- {item}" for item in _command_items(commands, unchecked)] or [f"{INDENT}- {NONE}"]
    return "\n".join(lines) + "\n\n"


def _command_items(commands: Sequence[CommandRun], unchecked: Sequence[UncheckedFile]) -> list[str]:
    items = [f"{code_span(run.display)} → {outcome_words(run)}" for run in commands]
    for file in unchecked:
        why = clean_line(file.reason) + ("" if file.allowed else "; the chunk cannot close")
        items.append(f"not type-checked: {code_span(file.path)} ({_escape(why)})")
    return items


def render_blocked_note(reason: str) -> str:
    """The line appended to BACKEND-LOG.md when the story is blocked (details live in BLOCKERS.md)."""
    return f"**BLOCKED: {_escape(clean_line(reason))}** {DASH} see BLOCKERS.md.\n\n"


def _attempt_words(attempt: int, max_attempts: int) -> str:
    left = max(max_attempts - attempt, 0)
    if attempt <= 0:
        if left == 0:
            return "first failure; no fix attempts allowed"
        return f"first failure; {_plural(left, 'fix attempt')} left"
    words = f"fix attempt {attempt} of {max_attempts}"
    return words + ", none left" if left == 0 else words


def render_typecheck_failure(
    *,
    number: int,
    name: str,
    attempt: int,
    max_attempts: int,
    run: CommandRun,
    run_number: int | None = None,
) -> str:
    """The block logged under chunk `number` when one typecheck command of it fails.

    `attempt` is 0 for the chunk's first failure and k for the k-th failed fix attempt; `run_number` is
    which typecheck run of the chunk this was (default `attempt + 1`: every failure after the first is a
    fix attempt). A typecheck of several packages gives one block per failed command.
    """
    ordinal = run_number if run_number is not None else attempt + 1
    progress = _attempt_words(attempt, max_attempts)
    lines = [
        f"### Chunk {number} {DASH} typecheck failed (run {ordinal}; {progress})",
        f"- Chunk: {_escape(clean_line(name))}",
        f"- Command: {code_span(run.display)} ({_exit_words(run)})",
        *_run_evidence(run),
    ]
    return "\n".join(lines) + "\n\n"


def render_completion(*, story_id: str, chunks: int, at: str) -> str:
    """The block that ends the log when the story is complete; its last line is the seed's signal."""
    return (
        "## BACKEND COMPLETE\n\n"
        f"- Story: {_escape(clean_line(story_id))}\n"
        f"- Chunks: {chunks}\n"
        f"- Completed at: {_escape(clean_line(at))}\n\n"
        "BACKEND COMPLETE\n"
    )


# --- BLOCKERS.md ---------------------------------------------------------------------------------------


def render_blockers(
    *,
    story_id: str,
    reason: str,
    details: str,
    chunk: int | None,
    chunk_name: str | None,
    commands: Sequence[CommandRun],
    at: str,
) -> str:
    """The whole of BLOCKERS.md: the reason, the details, the open chunk, and each command's evidence.

    The file opens with "BLOCKED: <reason>" under its title and ends with the same line, the seed's signal.
    """
    signal = f"BLOCKED: {_escape(clean_line(reason))}"
    if chunk is None:
        where = "none open"
    else:
        where = f"{chunk} {DASH} {_escape(clean_line(chunk_name))}" if chunk_name else str(chunk)
    lines = [
        f"# Blockers {DASH} {_escape(clean_line(story_id))}",
        "",
        signal,
        "",
        f"- Story: {_escape(clean_line(story_id))}",
        f"- Chunk: {where}",
        f"- Blocked at: {_escape(clean_line(at))}",
        *_text_item("- Details:", details, INDENT),
        "",
        "## Commands run",
        "",
    ]
    if not commands:
        lines += [NONE, ""]
    for index, run in enumerate(commands, start=1):
        # The note gets its own line below, with the rest of the run's evidence.
        lines.append(f"### {index}. {code_span(run.display)} → {outcome_words(run, with_note=False)}")
        lines.append(f"- Package: {code_span(run.package)}")
        lines += [*_run_evidence(run), ""]
    lines.append(signal)
    return "\n".join(lines) + "\n"
