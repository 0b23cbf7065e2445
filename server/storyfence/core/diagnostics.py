"""TypeScript diagnostics parsed out of what `pnpm check-types` printed, through turbo and pnpm prefixes.

The gate runs `pnpm check-types --filter <pkg>`, which usually runs `turbo run check-types`, which runs
`tsc --noEmit` in each package. What comes back is tsc's output (plain or `--pretty`, maybe coloured)
with a prefix per line naming the package and task, interleaved with pnpm's and turbo's own chatter.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from storyfence.core.models import Diagnostic

MAX_DIAGNOSTICS = 200
"""At most this many diagnostics are returned; a broken import can make tsc print thousands."""

MAX_MESSAGE_LINES = 40
MAX_MESSAGE_CHARS = 4000

_ANSI = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]                # CSI: colours, cursor moves
    | \x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?   # OSC: window titles, hyperlinks
    | \x1b[ -/]+[0-~]                         # nF: character sets ("ESC ( B" after tput sgr0)
    | \x1b[0-~]                               # the other two-character escapes
    | \x9b[0-?]*[ -/]*[@-~]                  # CSI in its 8-bit form
    """,
    re.VERBOSE,
)

# turbo: "@example/core:check-types: " (and "@example/core#check-types: " on its own error lines). The task
# may contain colons ("check:types"), so the prefix ends at the first colon followed by a space.
_TURBO_PREFIX = re.compile(r"(?P<key>@?[\w.-]+(?:/[\w.-]+)?)[:#][\w.:-]+?:(?: |$)")
# pnpm recursive run: "packages/core check-types: " (and "packages/core check-types$ tsc --noEmit").
# The directory must contain a slash (or be "."), so "error TS2322: ..." is never taken for a prefix.
_PNPM_PREFIX = re.compile(r"(?P<key>\.|[\w.@-]*/[\w.@/-]*) [\w.:-]+(?:: |:$|\$ )")

_WHAT = r"(?P<sev>error|warning) (?P<code>TS\d+): (?P<msg>.*)"
_PLAIN = re.compile(r"(?P<file>.+?)\((?P<line>\d+),(?P<col>\d+)\): " + _WHAT)  # tsc's default
_PRETTY = re.compile(r"(?P<file>.+?):(?P<line>\d+):(?P<col>\d+) - " + _WHAT)  # tsc --pretty
# A diagnostic about the configuration rather than a file: "error TS5023: Unknown compiler option '--x'."
_GLOBAL = re.compile(_WHAT)

# tsc indents each level of a message chain by two more spaces; pnpm's " ELIFECYCLE " has one.
_CONTINUATION_INDENT = "  "
_NOT_CONTINUATION = re.compile(r"\s*(?:\[?ELIFECYCLE\]?|ERR_PNPM_|ERROR\b|×|✗)")
_WINDOWS_ABSOLUTE = re.compile(r"[A-Za-z]:[\\/]")


def strip_ansi(text: str) -> str:
    """`text` without terminal escape sequences (colours, cursor moves, hyperlinks)."""
    return _ANSI.sub("", text)


def _clean_lines(text: str) -> list[str]:
    lines: list[str] = []
    for raw in text.split("\n"):
        line = strip_ansi(raw).rstrip("\r")
        # A bare carriage return redraws the line: what a terminal shows is what came after it.
        if "\r" in line:
            line = line.rsplit("\r", 1)[1]
        lines.append(line)
    return lines


def _split_prefix(line: str) -> tuple[str | None, str, str]:
    """(the package key named by a turbo/pnpm prefix or None, the prefix itself, the line after it)."""
    for pattern in (_TURBO_PREFIX, _PNPM_PREFIX):
        match = pattern.match(line)
        if match is not None:
            return match["key"], match.group(0).rstrip(), line[match.end() :]
    return None, "", line


@dataclass
class _Pending:
    file: str
    line: int
    column: int
    code: str
    severity: Literal["error", "warning"]
    message: list[str] = field(default_factory=lambda: [])

    def build(self) -> Diagnostic:
        lines = self.message[:MAX_MESSAGE_LINES]
        if len(self.message) > MAX_MESSAGE_LINES:
            lines.append("…")
        message = "\n".join(lines)
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 1] + "…"
        return Diagnostic(
            file=self.file,
            line=self.line,
            column=self.column,
            code=self.code,
            message=message,
            severity=self.severity,
        )


def _is_absolute(path: str) -> bool:
    return path.startswith("/") or _WINDOWS_ABSOLUTE.match(path) is not None


def _repo_path(file: str, package_dir: str) -> str:
    if not file or not package_dir or _is_absolute(file):
        return file
    return posixpath.normpath(posixpath.join(package_dir, file))


def _header(body: str, package_dir: str) -> _Pending | None:
    """The diagnostic that `body` opens, or None if it is not the first line of one."""
    match = _PLAIN.fullmatch(body) or _PRETTY.fullmatch(body)
    if match is not None:
        file, line, column = _repo_path(match["file"], package_dir), int(match["line"]), int(match["col"])
    else:
        match = _GLOBAL.fullmatch(body)
        if match is None:
            return None
        file, line, column = "", 0, 0
    severity: Literal["error", "warning"] = "error" if match["sev"] == "error" else "warning"
    return _Pending(file, line, column, match["code"], severity, [match["msg"]])


def parse_tsc_output(
    text: str,
    *,
    package_dir: str = "",
    package_dirs: Mapping[str, str] | None = None,
) -> tuple[Diagnostic, ...]:
    """The diagnostics in the combined output of a typecheck run, deduplicated, in order, at most 200.

    Handles plain (`file(12,5): error TS2322: ...`) and pretty (`file:12:5 - error TS2322: ...`) tsc output,
    ANSI colour, turbo prefixes (`@example/core:check-types: `), pnpm recursive prefixes
    (`packages/core check-types: `), message chains on the indented lines that follow, warnings, and
    configuration errors without a file (`error TS5023: ...`, returned with file "" and line 0).

    A relative file is joined to the repo-relative POSIX directory of the package that printed it:
    `package_dirs[key]` when the line's prefix names a key found there (turbo prefixes name the package,
    `@example/core`; pnpm prefixes name its directory, `packages/core`), else `package_dir`. turbo also
    checks the filtered package's dependencies, and their paths are relative to their own directories,
    which is why `package_dirs` exists. Without a directory, and for absolute paths, the file stays as
    printed.
    """
    dirs: Mapping[str, str] = package_dirs or {}
    found: list[_Pending] = []
    # Packages run in parallel and their lines interleave: a continuation line extends only the
    # diagnostic last opened under the same prefix.
    open_by_source: dict[str, _Pending] = {}
    for line in _clean_lines(text):
        key, source, body = _split_prefix(line)
        current = open_by_source.get(source)
        if (
            current is not None
            and body.startswith(_CONTINUATION_INDENT)
            and body.strip()
            and _NOT_CONTINUATION.match(body) is None
        ):
            # Keep the indentation: it shows how deep in tsc's message chain the line is.
            current.message.append(body.rstrip())
            continue
        open_by_source.pop(source, None)
        directory = dirs.get(key, package_dir) if key is not None else package_dir
        pending = _header(body, directory)
        if pending is not None:
            found.append(pending)
            open_by_source[source] = pending
    unique: dict[Diagnostic, None] = {}
    for pending in found:
        unique.setdefault(pending.build(), None)
        if len(unique) >= MAX_DIAGNOSTICS:
            break
    return tuple(unique)


def tail(text: str, max_lines: int = 40, max_chars: int = 4000) -> str:
    """The last `max_lines` lines of `text`, ANSI stripped, at most `max_chars` long, no trailing blank lines.

    When the character cap cuts, the partial first line is dropped and the result starts with "…".
    """
    lines = _clean_lines(text)
    lines = [line.rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    if max_lines <= 0 or max_chars <= 0 or not lines:
        return ""
    result = "\n".join(lines[-max_lines:])
    if len(result) <= max_chars:
        return result
    kept = result[len(result) - (max_chars - 1) :]
    newline = kept.find("\n")
    if newline != -1:
        kept = kept[newline + 1 :]
    return "…" + kept
