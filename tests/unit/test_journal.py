"""Journal records round-trip, chain by hash, and refuse a line that was edited, removed or is too new."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from storyfence.core.errors import StateError
from storyfence.core.events import ChunkOpened, Event, FileChanged, TypecheckRan
from storyfence.core.journal import JOURNAL_VERSION, Record, decode, encode, make_record, seal
from storyfence.core.models import CommandRun, Diagnostic, FileChange

AT = "2026-01-02T03:04:05+00:00"

EVENTS: list[Event] = [
    ChunkOpened(number=1, name="Bestellung stornieren – Kern", objective="AC1: cancel an order"),
    FileChanged(
        chunk=1,
        change=FileChange(path="packages/core/src/orders/cancel-order.ts", kind="created", sha256="a" * 64),
    ),
    TypecheckRan(
        chunk=1,
        runs=(
            CommandRun(
                argv=("pnpm", "check-types", "--filter", "@example/core"),
                package="@example/core",
                exit_code=2,
                outcome="failed",
                duration_seconds=1.25,
                diagnostics=(
                    Diagnostic(file="packages/core/src/x.ts", line=3, column=7, code="TS2322", message="nope"),
                ),
            ),
        ),
        outcome="failed",
        log_append="### Typecheck failed\n",
    ),
]


def chain(events: list[Event]) -> list[Record]:
    records: list[Record] = []
    for event in events:
        records.append(make_record(records[-1] if records else None, event, AT))
    return records


def journal(records: list[Record]) -> str:
    return "".join(encode(r) for r in records)


def lines_of(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def test_a_record_round_trips_through_one_line_of_json() -> None:
    record = make_record(None, EVENTS[0], AT)
    line = encode(record)
    assert line.endswith("\n")
    assert line.count("\n") == 1
    records, good = decode(line)
    assert records == [record]
    assert good == len(line.encode("utf-8"))


def test_a_sealed_line_is_the_encoded_record() -> None:
    """The line a record is appended as is made from the text that was hashed, not by serializing the record
    again: it must be exactly what encode gives, for every kind of member (text with quotes, braces and
    non-ASCII, a nested event, a `prev` inside a value), and decode back to the same records."""
    tricky = ChunkOpened(number=2, name='a },"prev":"x" name', objective='{"hash":"' + "f" * 64 + '","prev":""}')
    previous: Record | None = None
    text = ""
    for event in [*EVENTS, tricky]:
        record, line = seal(previous, event, AT)
        assert line == encode(record)
        previous = record
        text += line
    records, _ = decode(text)
    assert [r.event for r in records] == [*EVENTS, tricky]


def test_the_first_record_starts_the_chain() -> None:
    record = make_record(None, EVENTS[0], AT)
    assert (record.v, record.seq, record.prev, record.at) == (JOURNAL_VERSION, 0, "", AT)
    assert len(record.hash) == 64


def test_each_record_carries_the_hash_of_the_one_before() -> None:
    records = chain(EVENTS)
    assert [r.seq for r in records] == [0, 1, 2]
    assert [r.prev for r in records] == ["", records[0].hash, records[1].hash]
    assert len({r.hash for r in records}) == 3


def test_a_chain_of_three_records_decodes_to_the_same_records() -> None:
    records = chain(EVENTS)
    text = journal(records)
    decoded, good = decode(text)
    assert decoded == records
    assert [r.event for r in decoded] == EVENTS
    assert good == len(text.encode("utf-8"))


def test_the_hash_is_the_sha256_of_the_canonical_record_without_it() -> None:
    record = make_record(None, EVENTS[1], AT)
    body = {k: v for k, v in json.loads(encode(record)).items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert record.hash == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_an_empty_journal_decodes_to_no_records() -> None:
    assert decode("") == ([], 0)


def test_a_byte_edited_in_an_event_is_reported_as_edited_by_hand_with_its_line_number() -> None:
    lines = lines_of(journal(chain(EVENTS)))
    assert '"name":"Bestellung' in lines[0].replace(" ", "")
    lines[0] = lines[0].replace("Bestellung", "Bestellunh")
    with pytest.raises(StateError) as caught:
        decode("".join(lines), "STORY-042/_implementation/.storyfence/journal.jsonl")
    assert str(caught.value) == (
        "STORY-042/_implementation/.storyfence/journal.jsonl line 1 does not match its hash: "
        "the journal was edited by hand"
    )


def test_an_edit_on_a_later_line_names_that_line() -> None:
    lines = lines_of(journal(chain(EVENTS)))
    assert '"duration_seconds":1.25' in lines[2]
    lines[2] = lines[2].replace('"duration_seconds":1.25', '"duration_seconds":1.26')
    with pytest.raises(StateError, match=r"^journal line 3 does not match its hash: the journal was edited by hand$"):
        decode("".join(lines))


def spaced(record: Record) -> str:
    """A line as journals were written before lines were canonical JSON (with spaces)."""
    return json.dumps(record.model_dump(mode="json"), sort_keys=True, ensure_ascii=False) + "\n"


def test_a_line_is_the_canonical_record_and_its_hashed_text_is_the_line_without_its_hash() -> None:
    for record in chain(EVENTS):
        line = encode(record).rstrip("\n")
        canonical = json.dumps(
            record.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        assert line == canonical
        without = line.replace(f',"hash":"{record.hash}"', "")
        assert hashlib.sha256(without.encode("utf-8")).hexdigest() == record.hash


def test_a_journal_written_with_spaces_still_reads_and_an_edit_in_it_is_still_caught() -> None:
    records = chain(EVENTS)
    old = "".join(spaced(r) for r in records)
    assert decode(old)[0] == records
    mixed = spaced(records[0]) + "".join(encode(r) for r in records[1:])  # a journal continued after an upgrade
    assert decode(mixed)[0] == records
    edited = old.replace('"duration_seconds": 1.25', '"duration_seconds": 1.26')
    with pytest.raises(StateError, match="line 3 does not match its hash"):
        decode(edited)


@pytest.mark.parametrize(
    "edit",
    [
        lambda line, h: line.replace(f'"hash":"{h}"', f'"hash":"{h[:-1]}0"' if h[-1] != "0" else f'"hash":"{h[:-1]}1"'),
        lambda line, h: line.replace('"seq":1', '"seq": 1'),  # the same record, not the text that was hashed
        lambda line, h: line.replace(f',"hash":"{h}"', "") + "",  # no hash at all
        lambda line, h: line.replace('"event":{', '"event":{"hash":"' + h + '",'),  # a second member named hash
    ],
)
def test_any_change_to_the_hashed_text_or_the_hash_is_caught(edit: Callable[[str, str], str]) -> None:
    records = chain(EVENTS)
    lines = lines_of(journal(records))
    lines[1] = edit(lines[1], records[1].hash)
    with pytest.raises(StateError, match=r"line 2 (does not match its hash|is not a record)"):
        decode("".join(lines))


def test_a_deleted_middle_line_breaks_the_hash_chain() -> None:
    lines = lines_of(journal(chain(EVENTS)))
    del lines[1]
    with pytest.raises(StateError) as caught:
        decode("".join(lines))
    assert str(caught.value) == ("journal line 2 breaks the hash chain: a record was removed, reordered or inserted")


def test_swapped_lines_break_the_hash_chain() -> None:
    lines = lines_of(journal(chain(EVENTS)))
    lines[1], lines[2] = lines[2], lines[1]
    with pytest.raises(StateError, match="line 2 breaks the hash chain"):
        decode("".join(lines))


def _with_hash(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return json.dumps({**body, "hash": hashlib.sha256(canonical.encode("utf-8")).hexdigest()}) + "\n"


def test_a_record_from_a_newer_journal_version_is_refused_naming_the_version() -> None:
    record = make_record(None, EVENTS[0], AT)
    body = {k: v for k, v in record.model_dump(mode="json").items() if k != "hash"}
    line = _with_hash({**body, "v": 2})
    with pytest.raises(StateError) as caught:
        decode(journal([record]) + line)
    message = str(caught.value)
    assert message.startswith("journal line 2 has journal version 2; this storyfence reads version 1.")


def test_a_record_without_a_version_is_refused_naming_the_missing_version() -> None:
    with pytest.raises(StateError, match="line 1 has journal version None"):
        decode('{"seq": 0}\n')


def test_a_correctly_hashed_record_with_an_unknown_event_is_refused() -> None:
    body = {"v": 1, "seq": 0, "at": AT, "prev": "", "event": {"type": "chunk_renamed", "chunk": 1}}
    with pytest.raises(StateError, match=r"^journal line 1 is not a record this storyfence understands: "):
        decode(_with_hash(body))


def test_an_unterminated_final_line_is_a_torn_write_and_is_ignored() -> None:
    records = chain(EVENTS)
    verified = journal(records[:2])
    torn = encode(records[2])[:40]
    decoded, good = decode(verified + torn)
    assert decoded == records[:2]
    # bytes, not characters: the first event's name has a non-ASCII dash
    assert good == len(verified.encode("utf-8"))
    assert good != len(verified)


def test_a_complete_record_missing_only_its_newline_is_still_treated_as_torn() -> None:
    records = chain(EVENTS)
    decoded, good = decode(journal(records)[:-1])
    assert decoded == records[:2]
    assert good == len(journal(records[:2]).encode("utf-8"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not json\n", "journal line 1 is not valid JSON"),
        ("{\n", "journal line 1 is not valid JSON"),
        ("\n", "journal line 1 is not valid JSON"),
        ("[1, 2]\n", "journal line 1 is not a record"),
        ('"text"\n', "journal line 1 is not a record"),
    ],
)
def test_a_line_that_is_not_a_json_record_is_refused(text: str, expected: str) -> None:
    with pytest.raises(StateError, match=f"^{expected}"):
        decode(text)


def test_garbage_after_good_records_names_the_garbage_line() -> None:
    text = journal(chain(EVENTS[:2])) + "garbage\n"
    with pytest.raises(StateError, match=r"^journal line 3 is not valid JSON"):
        decode(text)


def test_a_tail_decodes_as_the_continuation_of_the_record_before_it() -> None:
    first = make_record(None, ChunkOpened(number=1, name="a", objective="o"), "t0")
    second = make_record(first, ChunkOpened(number=2, name="b", objective="o"), "t1")
    third = make_record(second, ChunkOpened(number=3, name="c", objective="o"), "t2")
    tail = encode(second) + encode(third)
    records, good = decode(tail, previous=first)
    assert [r.seq for r in records] == [1, 2]
    assert good == len(tail.encode("utf-8"))
    with pytest.raises(StateError, match="breaks the hash chain"):
        decode(encode(third), previous=first)  # record 1 is missing between them
