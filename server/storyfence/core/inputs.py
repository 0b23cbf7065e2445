"""The checks on what the model sends as text: valid Unicode, one line where a name is asked, not empty."""

from __future__ import annotations

from storyfence.core.errors import InputError


def utf8(text: str, what: str) -> bytes:
    """`text` as UTF-8, or an InputError naming the lone surrogate that cannot be encoded."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"{what} is not valid Unicode text (a lone surrogate at position {exc.start}); send UTF-8 text"
        ) from None


def one_line(value: str, what: str, limit: int = 120) -> str:
    """`value` on one line (whitespace runs become one space), not empty, at most `limit` characters."""
    text = " ".join(value.split())
    utf8(text, what)
    if not text:
        raise InputError(f"{what} must not be empty")
    if len(text) > limit:
        raise InputError(f"{what} is {len(text)} characters; keep it under {limit}")
    return text


def required(value: str, what: str) -> str:
    """`value` stripped; an InputError when nothing is left (the seed's log structure needs every field)."""
    text = value.strip()
    if not text:
        raise InputError(f"{what} must not be empty: the seed's log structure requires it")
    utf8(text, what)
    return text


def decode_text(rel: str, data: bytes) -> str:
    """UTF-8 text, or an InputError that says why not (binary, invalid UTF-8)."""
    if b"\x00" in data[:8192]:
        raise InputError(f"{rel} is a binary file; only text files can be read or edited")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{rel} is not valid UTF-8 (byte {exc.start}); only UTF-8 text is supported") from None
