"""The journal file read as bytes: from an offset, its complete lines, its last line. A story's journal is
append-only; what follows its last newline is an append a crash cut short."""

from __future__ import annotations

import os
from pathlib import Path

from storyfence.core.errors import StateError


def read_from(fd: int, start: int) -> bytes:
    chunks: list[bytes] = []
    offset = start
    while block := os.pread(fd, 1 << 20, offset):
        chunks.append(block)
        offset += len(block)
    return b"".join(chunks)


def last_line(raw: bytes) -> bytes:
    """The last newline-terminated line of `raw` (its complete lines)."""
    return raw[raw.rstrip(b"\n").rfind(b"\n") + 1 :]


def complete_lines(raw: bytes, journal: Path) -> str:
    """The journal's newline-terminated lines, decoded. What follows the last newline is a torn append (a
    crash cut the write short, maybe inside a multi-byte character): never acknowledged, so never decoded."""
    end = raw.rfind(b"\n") + 1
    try:
        return raw[:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StateError(f"{journal} is not UTF-8 (byte {exc.start}): the journal was damaged") from None
