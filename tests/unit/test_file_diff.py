"""A file's diff as the report shows it, and the first changed line a CI finding points at."""

from __future__ import annotations

from storyfence.core.file_diff import diff, first_changed_line


def test_a_modified_file_diffs_with_line_numbers_on_both_sides() -> None:
    before = b"a\nb\nc\nd\ne\nf\ng\nh\n"
    after = b"a\nb\nc\nD\ne\nf\ng\nh\nI\n"
    found = diff(before, after, context=1)
    assert (found.added, found.removed, found.note) == (2, 1, "")
    assert [(line.kind, line.text, line.old, line.new) for line in found.lines] == [
        ("hunk", "@@ -3,3 +3,3 @@", None, None),
        ("ctx", "c", 3, 3),
        ("del", "d", 4, None),
        ("add", "D", None, 4),
        ("ctx", "e", 5, 5),
        ("hunk", "@@ -8,1 +8,2 @@", None, None),
        ("ctx", "h", 8, 8),
        ("add", "I", None, 9),
    ]


def test_a_created_or_deleted_file_is_all_additions_or_all_removals() -> None:
    created = diff(None, b"x\ny\n")
    assert (created.added, created.removed) == (2, 0)
    assert [line.kind for line in created.lines] == ["hunk", "add", "add"]
    deleted = diff(b"x\n", None)
    assert (deleted.added, deleted.removed) == (0, 1)


def test_binary_unchanged_and_line_ending_only_changes_say_so_instead_of_a_diff() -> None:
    assert diff(b"\x00\x01", b"\x00\x02").note == "binary file: not shown"
    assert diff(None, b"\xff\xfe").note == "binary file: not shown"
    assert diff(b"a\n", b"a\n").note == "no change in content"
    assert diff(b"a\r\n", b"a\n").note == "only line endings or the final newline changed"


def test_a_long_diff_is_cut_and_says_how_much_was_left_out() -> None:
    found = diff(None, "".join(f"{i}\n" for i in range(1000)).encode(), cap=100)
    assert len(found.lines) == 100
    assert found.omitted == 1001 - 100
    assert found.added == 1000


def test_the_first_changed_line_is_where_a_finding_points() -> None:
    assert first_changed_line(None, b"new\n") == 1
    assert first_changed_line(b"a\nb\nc\n", b"a\nB\nc\n") == 2
    assert first_changed_line(b"a\nb\nc\n", b"a\nb\nc\nd\n") == 4
    assert first_changed_line(b"a\nb\nc\n", b"a\nc\n") == 2  # removed: the line that now stands there
    assert first_changed_line(b"a\nb\n", b"a\n") == 1  # removed at the end: the last line left
    assert first_changed_line(b"a\n", None) is None  # deleted
    assert first_changed_line(b"a\n", b"a\n") is None
    assert first_changed_line(b"\x00", b"\x01") == 1  # binary: the file as a whole
