"""The journal's record format and hash chain, without I/O: encode a record, decode and verify lines.

Each line is one JSON record: {"v", "seq", "at", "prev", "event", "hash"}. `hash` is the sha256 of
the canonical JSON of the record without `hash`; `prev` is the previous record's hash ("" for the
first). An edit by hand breaks the chain and is reported with its line number.

A line is written as the canonical JSON of the whole record (sorted keys, no spaces), so the hashed text is
the line itself with its `"hash":"..."` member taken out: a reader checks the hash on the bytes it read,
without serializing the record again. Lines written before that (with spaces) are checked the long way.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from storyfence.core.errors import StateError
from storyfence.core.events import Event

JOURNAL_VERSION = 1
_EVENT: TypeAdapter[Event] = TypeAdapter(Event)


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    v: int
    seq: int
    at: str
    prev: str
    event: Event
    hash: str


def _digest(body: dict[str, Any]) -> str:
    return _sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_record(previous: Record | None, event: Event, at: str) -> Record:
    return seal(previous, event, at)[0]


def seal(previous: Record | None, event: Event, at: str) -> tuple[Record, str]:
    """The record of `event` chained after `previous`, and its line: exactly `encode(record)`, made from the text
    that was hashed (the hash member goes in before `prev`, the last top-level member named so: what follows it
    is hex and two numbers), so the record is serialized once."""
    body: dict[str, Any] = {
        "v": JOURNAL_VERSION,
        "seq": 0 if previous is None else previous.seq + 1,
        "at": at,
        "prev": "" if previous is None else previous.hash,
        "event": _EVENT.dump_python(event, mode="json"),
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = _sha256(text)
    cut = text.rfind(',"prev":')
    record = Record.model_validate({**body, "hash": digest})
    return record, f'{text[:cut]},"hash":"{digest}"{text[cut:]}\n'


def chain(previous: Record | None, events: tuple[Event, ...], at: str) -> list[Record]:
    """The records of `events`, chained after `previous`, all stamped `at`."""
    return [record for record, _ in sealed_chain(previous, events, at)]


def sealed_chain(previous: Record | None, events: tuple[Event, ...], at: str) -> list[tuple[Record, str]]:
    """`chain`, each record with its line (see `seal`)."""
    sealed: list[tuple[Record, str]] = []
    for event in events:
        sealed.append(seal(previous, event, at))
        previous = sealed[-1][0]
    return sealed


def encode(record: Record) -> str:
    """One line of canonical JSON, newline-terminated."""
    return json.dumps(record.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


_HASH_MEMBER = ',"hash":"'
_HEX = frozenset("0123456789abcdef")


def _hashed_text(line: str) -> tuple[str, str] | None:
    """(the hashed text, the stored hash) of a line in canonical form, else None (checked the long way). The
    record's members in key order are at, event, hash, prev, seq, v: `hash` is the last member named so whose
    value is followed by `prev` (what follows it is hex, a number and a number), and its value is 64 hex."""
    start = line.rfind(_HASH_MEMBER)
    if start < 0 or not line.startswith('{"at":"'):
        return None
    value = start + len(_HASH_MEMBER)
    digest = line[value : value + 64]
    if line[value + 64 : value + 73] != '","prev":' or len(digest) != 64 or not _HEX.issuperset(digest):
        return None
    return line[: start + 1] + line[value + 66 :], digest


def decode(text: str, source: str = "journal", *, previous: Record | None = None) -> tuple[list[Record], int]:
    """Verify and decode a journal. Returns the records and the byte length of the verified prefix.

    With `previous`, `text` is the tail that follows that record: the chain continues from it (its hash,
    its seq + 1), so a reader that already verified the head reads only what was appended since.
    A final line without a newline is a torn write from a crash: it was never acknowledged, so it is
    ignored (the store truncates it). Anything else that does not verify is a StateError.
    """
    records: list[Record] = []
    good_bytes = 0
    lines = text.split("\n")
    complete, torn = lines[:-1], lines[-1]
    first_seq = 0 if previous is None else previous.seq + 1
    for number, line in enumerate(complete, start=first_seq + 1):
        where = f"{source} line {number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise StateError(f"{where} is not valid JSON ({exc.msg}); the journal was damaged") from None
        if not isinstance(raw, dict):
            raise StateError(f"{where} is not a record")
        raw_dict: dict[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
        version = raw_dict.get("v")
        if version != JOURNAL_VERSION:
            raise StateError(
                f"{where} has journal version {version!r}; this storyfence reads version {JOURNAL_VERSION}. "
                "Use the storyfence version that wrote it, or archive the story's .storyfence folder."
            )
        hashed = _hashed_text(line)
        if hashed is not None:  # the bytes read are the bytes hashed
            text_hashed, stored = hashed
            intact = stored == raw_dict.get("hash") and stored == _sha256(text_hashed)
        else:
            intact = raw_dict.get("hash") == _digest({k: v for k, v in raw_dict.items() if k != "hash"})
        if not intact:
            raise StateError(f"{where} does not match its hash: the journal was edited by hand")
        before = records[-1] if records else previous
        expected_prev = before.hash if before is not None else ""
        if raw_dict.get("prev") != expected_prev or raw_dict.get("seq") != first_seq + len(records):
            raise StateError(f"{where} breaks the hash chain: a record was removed, reordered or inserted")
        try:
            records.append(Record.model_validate(raw_dict))
        except ValidationError as exc:
            raise StateError(f"{where} is not a record this storyfence understands: {exc.errors()[0]['msg']}") from None
        good_bytes += len(line.encode("utf-8")) + 1
    del torn  # an unterminated final line: a write the server never acknowledged
    return records, good_bytes
