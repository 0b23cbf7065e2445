"""BACKEND-LOG.md read back (for audit and the tests): its chunk sections, field by field, its typecheck
failures and whether it is complete. The reverse of core.logbook's rendering; never raises on malformed text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from storyfence.core.logbook import DASH, FIELD_KEYS, FIELDS, INDENT, LogField
from storyfence.core.models import Value


def _unescape(text: str) -> str:
    # the reverse of logbook's escaping: an odd run of 2k+1 backslashes before a "#" was k backslashes
    return re.sub(r"(\\+)#", lambda m: "\\" * ((len(m[1]) - 1) // 2) + "#", text)


class LogSection(Value):
    """One `## Chunk N — name` section of BACKEND-LOG.md as parsed back (keys of `fields`: FIELD_KEYS)."""

    number: int
    name: str
    fields: dict[str, str]
    files: tuple[str, ...] = ()
    failures: int = 0  # typecheck-failed blocks for this chunk number, anywhere in the log

    @property
    def complete(self) -> bool:
        """Every field of the seed's structure is present."""
        return all(key in self.fields for key in FIELD_KEYS)


_CHUNK_HEADING = re.compile(rf"## Chunk (\d{{1,9}}) {DASH} (.*)")
_FAILURE_HEADING = re.compile(rf"### Chunk (\d{{1,9}}) {DASH} typecheck failed \(run (\d{{1,9}})[;)]")
_SECTION_END = re.compile(r"#{1,2}(?: |$)")  # a chunk's failure blocks (###) sit inside its section
_FILE_ITEM = re.compile(
    r"- (?P<fence>`+)(?P<path>.+?)(?<!`)(?P=fence)(?!`) \((?:created|modified|deleted)(?:, made outside storyfence)?\)"
)


def _lines(text: str) -> list[str]:
    return [line.removesuffix("\r") for line in text.split("\n")]


def parse_failures(text: str) -> list[tuple[int, int]]:
    """(chunk number, run) of every typecheck-failed block in the log, in order."""
    found: list[tuple[int, int]] = []
    for line in _lines(text):
        match = _FAILURE_HEADING.match(line)
        if match is not None:
            found.append((int(match[1]), int(match[2])))
    return found


def is_complete(text: str) -> bool:
    """Whether the log carries the completion block."""
    return "## BACKEND COMPLETE" in _lines(text)


class _SectionReader:
    """Reads the body of one chunk section line by line; tolerant of anything it does not expect."""

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}
        self.kinds: dict[str, str] = {}
        self.field: LogField | None = None
        self.sink: list[str] = []
        self.group: str | None = None
        self.blanks = 0

    def feed(self, line: str) -> None:
        if self.field is not None and not line:
            self.blanks += 1  # part of the text only if an indented line follows
            return
        if self.field is not None and line.startswith(self.field.indent):
            self.sink += [""] * self.blanks + [line[len(self.field.indent) :]]
            self.blanks = 0
            return
        self.field, self.blanks = None, 0
        if line.startswith("- "):
            self.group = None
            self._start(line, (f for f in FIELDS if f.group is None))
        elif self.group is not None and line.startswith(INDENT + "- "):
            self._start(line, (f for f in FIELDS if f.group == self.group))

    def _start(self, line: str, candidates: Iterable[LogField]) -> None:
        for spec in candidates:
            if line != spec.head and not line.startswith(spec.head + " "):
                continue
            if spec.kind == "group":
                self.group = spec.key
                return
            self.field = spec
            self.sink = [] if spec.key in self.values else self.values.setdefault(spec.key, [])
            self.kinds[spec.key] = spec.kind
            rest = line[len(spec.head) + 1 :]
            if rest or spec.kind == "text":
                self.sink.append(rest)
            return

    def result(self) -> dict[str, str]:
        """Each field's text; model text unescaped, list fields (server-written) as they are."""
        unescape = {key: kind == "text" for key, kind in self.kinds.items()}
        return {
            key: "\n".join(_unescape(line) if unescape[key] else line for line in lines)
            for key, lines in self.values.items()
        }


def _files(listing: str) -> tuple[str, ...]:
    paths: list[str] = []
    for line in listing.split("\n"):
        match = _FILE_ITEM.fullmatch(line)
        if match is not None:
            path = match["path"]
            # A code span padded with one space each side (because of a backtick at an end) loses them.
            if path.startswith(" ") and path.endswith(" ") and path.strip(" "):
                path = path[1:-1]
            paths.append(path)
    return tuple(paths)


def parse_log(text: str) -> list[LogSection]:
    """Every `## Chunk N — name` section of BACKEND-LOG.md, in order; never raises on malformed text.

    A section runs to the next heading of level 1 or 2: the typecheck-failed blocks (###) logged under a chunk
    as they happen sit inside it. They are counted per chunk number wherever they are (in journals from
    before chunks opened in the log, a failure could come before its chunk's section).
    """
    failures = Counter(chunk for chunk, _ in parse_failures(text))
    lines = _lines(text)
    sections: list[LogSection] = []
    index = 0
    while index < len(lines):
        heading = _CHUNK_HEADING.fullmatch(lines[index])
        index += 1
        if heading is None:
            continue
        reader = _SectionReader()
        while index < len(lines) and _SECTION_END.match(lines[index]) is None:
            reader.feed(lines[index])
            index += 1
        fields = reader.result()
        number = int(heading[1])
        sections.append(
            LogSection(
                number=number,
                name=_unescape(heading[2]),
                fields=fields,
                files=_files(fields.get("Files changed", "")),
                failures=failures[number],
            )
        )
    return sections
