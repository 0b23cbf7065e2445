"""One sync per write (issue 15, item 1): a small write's journal lines and content go to the story's
write-ahead segment, synced once; the journal line and the file follow unsynced; a checkpoint makes them
durable. These tests play what a power cut can leave (an unsynced journal tail lost, a rename lost, a
zero-length file) and what it cannot be told from (a later hand edit), on real files."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from storyfence.adapters import durable, files, recovery, segment, store
from storyfence.adapters.policy_file import load_builtin
from storyfence.app.service import StoryfenceService
from storyfence.core.errors import StateError
from storyfence.core.models import PortsAdapters, Reuse
from storyfence.core.story_paths import StoryPaths
from tests.support.repos import story_inputs, write_tree

STORY = "STORY-001"
PATHS = StoryPaths(STORY, STORY)
A = "packages/core/src/a.ts"
V1 = "export const findOrder = 1;\n"
V2 = "export const findOrder = 2;\n"


def small_repo(tmp_path: Path) -> Path:
    """Two core files and a story, in a git work tree."""
    root = tmp_path / "repo"
    write_tree(root, {A: V1, "packages/core/src/b.ts": "export {};\n", **story_inputs(STORY)})
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return small_repo(tmp_path)


def service(repo: Path) -> StoryfenceService:
    """A fresh service: a new server process, which cannot vouch for what another left in the segment."""
    return StoryfenceService(repo, load_builtin())


def journal(repo: Path) -> bytes:
    return (repo / PATHS.journal).read_bytes()


def wal(repo: Path) -> bytes:
    """The lines the segment holds: after its generation line, up to the zeroed room."""
    path = repo / PATHS.wal
    raw = path.read_bytes() if path.exists() else b""
    raw = raw.split(b"\0", 1)[0]
    return raw.split(b"\n", 1)[1] if raw.startswith(b'{"segment":') else raw


def put_wal(repo: Path, lines: bytes) -> None:
    """Make the segment hold `lines` (what a crash or a hand left), keeping its generation line and room."""
    path = repo / PATHS.wal
    raw = path.read_bytes()
    head = raw.split(b"\n", 1)[0] + b"\n" if raw.startswith(b'{"segment":') else b""
    path.write_bytes((head + lines).ljust(len(raw), b"\0"))


def held_paths(repo: Path) -> list[str]:
    return [op["path"] for entry in entries(repo) for op in entry["ops"]]


def entries(repo: Path) -> list[dict[str, Any]]:
    """The segment's entries (not its `done` lines)."""
    return [e for line in wal(repo).splitlines() if "ops" in (e := json.loads(line))]


Reboot = Callable[[], None]


@pytest.fixture
def reboot(monkeypatch: pytest.MonkeyPatch) -> Reboot:
    """What follows a power cut: another boot, so no `done` line of the segment can be trusted."""

    def rebooted() -> None:
        monkeypatch.setattr(recovery, "boot_id", lambda: "the boot after the power cut")

    return rebooted


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every data and directory sync the server makes, by where it was called from."""
    seen: list[str] = []

    def counting(kind: str, real: Callable[[int], None]) -> Callable[[int], None]:
        def sync(fd: int) -> None:
            seen.append(kind)
            real(fd)

        return sync

    for module in (store, files, segment, recovery):
        for name in ("sync_data", "sync_dir"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, counting(name, getattr(durable, name)))
    return seen


def test_a_write_in_an_open_chunk_costs_one_sync_and_the_checkpoint_comes_at_the_boundary(
    repo: Path, syncs: list[str]
) -> None:
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    syncs.clear()
    for n in range(5):
        sf.write_file(STORY, A, f"export const findOrder = {n};\n")
        assert syncs == ["sync_data"], f"write {n} synced {syncs}"
        syncs.clear()
    held = entries(repo)
    assert [e["ops"][0]["path"] for e in held] == [A] * 5
    # the segment holds the exact journal lines, at the offsets they sit at
    raw = journal(repo)
    for entry in held:
        lines = entry["lines"].encode()
        assert raw[entry["at"] : entry["at"] + len(lines)] == lines
    sf.append_chunk_log(
        STORY, "did it", Reuse(reused="a", new="b", why_new="c"), PortsAdapters(core="x", adapters="y"), "none"
    )
    assert wal(repo) == b""  # checkpointed: the journal, the file (once, not five times) and its folder synced
    assert syncs.count("sync_dir") >= 1


def test_a_power_cut_that_lost_the_journal_tail_and_the_rename_is_finished_from_the_segment(
    repo: Path, reboot: Reboot
) -> None:
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    before = journal(repo)
    sf.write_file(STORY, A, V2)
    complete = journal(repo)
    # what the disk can hold after a power cut: the synced segment, but neither the unsynced journal line nor
    # the unsynced rename (and a journal line cut in the middle)
    (repo / PATHS.journal).write_bytes(before + complete[len(before) : len(before) + 17])
    (repo / A).write_text(V1, encoding="utf-8")

    reboot()
    service(repo).story_status(STORY)  # read-only: repairs nothing
    assert (repo / A).read_text(encoding="utf-8") == V1
    service(repo).write_file(STORY, "packages/core/src/b.ts", "export const b = 1;\n")  # any transaction repairs
    assert (repo / A).read_text(encoding="utf-8") == V2
    assert journal(repo).startswith(complete)  # the lost line is back byte for byte: the chain holds
    assert held_paths(repo) == ["packages/core/src/b.ts"]  # checkpointed, then this write
    status = service(repo).story_status(STORY)
    assert A in {f.path for f in status.chunks[0].files}


def test_a_zero_length_file_a_power_cut_left_is_rewritten(repo: Path, reboot: Reboot) -> None:
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    sf.write_file(STORY, A, V2)
    (repo / A).write_bytes(b"")
    reboot()
    service(repo).write_file(STORY, "packages/core/src/b.ts", "export const b = 1;\n")
    assert (repo / A).read_text(encoding="utf-8") == V2


def test_a_file_created_and_lost_is_created_again_and_a_temp_file_left_is_removed(repo: Path, reboot: Reboot) -> None:
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    new = repo / "packages/core/src/c.ts"
    sf.write_file(STORY, "packages/core/src/c.ts", "export const c = 1;\n")
    entry = entries(repo)[-1]
    new.unlink()
    (new.parent / entry["ops"][0]["tmp"]).write_bytes(b"export const c")  # a temp file cut short
    reboot()
    service(repo).write_file(STORY, "packages/core/src/b.ts", "export const b = 1;\n")
    assert new.read_text(encoding="utf-8") == "export const c = 1;\n"
    assert not list(new.parent.glob(".storyfence-tmp-*"))


def test_a_hand_edit_after_the_write_is_never_overwritten_by_the_repair(repo: Path) -> None:
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    sf.write_file(STORY, A, V2)
    (repo / A).write_text("export const findOrder = 3; // by hand\n", encoding="utf-8")
    service(repo).write_file(STORY, "packages/core/src/b.ts", "export const b = 1;\n")
    assert (repo / A).read_text(encoding="utf-8") == "export const findOrder = 3; // by hand\n"


def test_a_delete_the_cut_undid_is_done_again(repo: Path, reboot: Reboot) -> None:
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    target = repo / "packages/core/src/b.ts"
    keep = repo / "kept-link"
    os.link(target, keep)  # the same file (inode, size, times) survives the delete under another name
    stat = target.stat()
    sf.delete_file(STORY, "packages/core/src/b.ts")
    assert not target.exists()
    entry = entries(repo)[-1]
    assert entry["ops"][0]["unlinks"].startswith(f"{stat.st_dev}:{stat.st_ino}:")
    assert entry["ops"][0]["data"] is None
    os.link(keep, target)  # what a cut that lost the unsynced unlink leaves: the same file, still there
    keep.unlink()
    reboot()
    service(repo).write_file(STORY, A, V2)
    assert not target.exists()


def test_a_torn_segment_line_was_never_acknowledged_and_is_dropped(repo: Path) -> None:
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    sf.write_file(STORY, A, V2)
    put_wal(repo, wal(repo) + b'{"at": 999999, "lines": "{\\"seq\\": 1')  # an append a crash cut short
    service(repo).write_file(STORY, "packages/core/src/b.ts", "export const b = 1;\n")
    assert (repo / A).read_text(encoding="utf-8") == V2
    assert held_paths(repo) == ["packages/core/src/b.ts"]


def test_a_damaged_segment_refuses_rather_than_guess(repo: Path) -> None:
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    sf.write_file(STORY, A, V2)
    put_wal(repo, b"not json at all\n")
    with pytest.raises(StateError, match="write-ahead segment was damaged"):
        service(repo).write_file(STORY, "packages/core/src/b.ts", "export const b = 1;\n")


def test_a_journal_replaced_under_a_pending_segment_refuses(repo: Path) -> None:
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    sf.write_file(STORY, A, V2)
    raw = journal(repo)
    entry = entries(repo)[-1]
    other = raw[: entry["at"]] + b'{"other": "record"}\n' + b" " * len(entry["lines"])
    (repo / PATHS.journal).write_bytes(other)
    with pytest.raises(StateError, match="holds other records"):
        service(repo).write_file(STORY, "packages/core/src/b.ts", "export const b = 1;\n")


def test_a_large_write_is_staged_in_its_own_synced_file_and_not_carried(
    repo: Path, syncs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "INLINE_MAX", 16)
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    syncs.clear()
    sf.write_file(STORY, A, V2)
    assert wal(repo) == b""
    assert (repo / A).read_text(encoding="utf-8") == V2
    assert syncs.count("sync_data") >= 3  # announced temp name, temp file, journal record (the old protocol)


def test_the_same_process_does_not_repair_its_own_segment_but_a_failed_write_makes_it_check(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    sf.write_file(STORY, A, V2)
    story = sf.story(STORY)
    assert not story.store.segment.needs_repair()

    def failing_replace(self: files.Folder, data: bytes, tmp: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.Folder, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        sf.write_file(STORY, A, "export const findOrder = 4;\n")
    assert story.store.segment.needs_repair()
    monkeypatch.undo()
    sf.write_file(STORY, "packages/core/src/b.ts", "export const b = 1;\n")  # the recorded write is finished
    assert (repo / A).read_text(encoding="utf-8") == "export const findOrder = 4;\n"


def test_a_repair_brings_each_file_to_its_last_operation_never_an_earlier_one(repo: Path, reboot: Reboot) -> None:
    """What the stress run caught: replaying a segment op by op, a file written, deleted and created again with
    its first content looked like a write the crash had undone, and went back to an older content."""
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    sf.write_file(STORY, A, V2)
    sf.delete_file(STORY, A)
    sf.write_file(STORY, A, V1)
    sf.write_file(STORY, "packages/core/src/b.ts", "export const b = 1;\n")
    sf.write_file(STORY, "packages/core/src/b.ts", "export {};\n")  # back to its content before the story
    reboot()
    service(repo).write_file(STORY, "packages/core/src/c.ts", "export const c = 1;\n")
    assert (repo / A).read_text(encoding="utf-8") == V1
    assert (repo / "packages/core/src/b.ts").read_text(encoding="utf-8") == "export {};\n"


def test_a_power_cut_that_lost_several_writes_to_one_file_ends_on_the_last(repo: Path, reboot: Reboot) -> None:
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    for n in range(3, 7):
        sf.write_file(STORY, A, f"export const findOrder = {n};\n")
    (repo / A).write_text("export const findOrder = 4;\n", encoding="utf-8")  # what reached the disk
    reboot()
    service(repo).write_file(STORY, "packages/core/src/c.ts", "export const c = 1;\n")
    assert (repo / A).read_text(encoding="utf-8") == "export const findOrder = 6;\n"


def test_a_status_read_first_does_not_stop_the_next_transaction_finishing_a_crashed_staged_write(repo: Path) -> None:
    """story_status decodes only what was appended since the last read; a transaction after it must still
    finish what a crash left (the staged write of the old protocol, and the log)."""
    from storyfence.adapters.store import new_temp_name
    from storyfence.core import steps
    from storyfence.core.models import FileChange

    crashed = service(repo)
    crashed.begin_chunk(STORY, "n", "o")
    staged = crashed.repo.files.stage(A, V2.encode(), new_temp_name("a.ts"))
    with crashed.story(STORY).store.transaction() as tx:
        change = FileChange(path=A, kind="modified", sha256="x" * 64)
        tx.record(steps.write(tx.state, change, staged=staged.tmp))
    (repo / f"{PATHS.impl}/BACKEND-LOG.md").unlink()  # and the log a crash left unwritten

    restarted = service(repo)
    restarted.story_status(STORY)
    restarted.story_status(STORY)
    assert (repo / A).read_text(encoding="utf-8") == V1
    restarted.write_file(STORY, "packages/core/src/b.ts", "export const b = 1;\n")
    assert (repo / A).read_text(encoding="utf-8") == V2
    assert "## Chunk 1" in (repo / f"{PATHS.impl}/BACKEND-LOG.md").read_text(encoding="utf-8")


def test_git_sees_the_journal_but_not_the_servers_working_files(repo: Path) -> None:
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    sf.write_file(STORY, A, V2)
    assert wal(repo)  # the segment holds the write: exactly what must not be committed
    listed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    server_files = sorted(line[3:] for line in listed.splitlines() if "/.storyfence/" in line)
    assert server_files == [PATHS.ignore, PATHS.journal]


def test_in_the_same_boot_a_finished_write_is_never_repaired_even_over_a_revert_to_its_old_content(
    repo: Path,
) -> None:
    """What the edit property test caught: a hand revert to the content before a write looked like a write a
    crash had undone. In the same boot a `done` line says the write finished (a kill keeps the page cache)."""
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    sf.write_file(STORY, A, V2)
    (repo / A).write_text(V1, encoding="utf-8")  # the user reverts it by hand
    service(repo).write_file(STORY, "packages/core/src/c.ts", "export const c = 1;\n")  # a new process repairs
    assert (repo / A).read_text(encoding="utf-8") == V1


def test_in_the_same_boot_a_write_a_kill_stopped_before_its_rename_is_finished(repo: Path) -> None:
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    sf.write_file(STORY, A, V2)
    raw = wal(repo)
    assert json.loads(raw.splitlines()[-1]) == {"done": entries(repo)[-1]["at"]}
    put_wal(repo, raw[: raw.rstrip(b"\n").rfind(b"\n") + 1])  # killed before the done line
    (repo / A).write_text(V1, encoding="utf-8")  # and before the rename
    service(repo).write_file(STORY, "packages/core/src/c.ts", "export const c = 1;\n")
    assert (repo / A).read_text(encoding="utf-8") == V2


# --- a full segment (found at 1,500 writes of 4 KB in one chunk: every later write failed) -----------------


def test_a_segment_that_fills_up_is_checkpointed_after_the_write_it_carried_and_the_story_goes_on(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "CHECKPOINT_BYTES", 1)  # every carried write fills it
    synced: list[tuple[str, str]] = []
    real_sync_path = files.RepoFiles.sync_path

    def sync_path(self: files.RepoFiles, rel: str) -> None:
        synced.append((rel, (self.root / rel).read_text(encoding="utf-8")))  # what is on disk when it is synced
        real_sync_path(self, rel)

    monkeypatch.setattr(files.RepoFiles, "sync_path", sync_path)
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    for n in range(3):
        content = f"export const findOrder = {n + 10};\n"
        sf.write_file(STORY, A, content)
        assert wal(repo) == b"", f"write {n} left {wal(repo)!r} in the segment after its checkpoint"
        # the checkpoint made the write itself durable: the file held the new content when it was synced
        assert synced[-1] == (A, content)
    assert (repo / A).read_text(encoding="utf-8") == "export const findOrder = 12;\n"
    service(repo).write_file(STORY, "packages/core/src/b.ts", "export const b = 1;\n")  # another server goes on


def test_a_done_line_whose_entry_a_checkpoint_already_removed_is_no_damage(repo: Path) -> None:
    """What the full-segment bug left in a story's segment: a lone `done` line. It holds no write, so it is
    skipped, never refused."""
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    sf.write_file(STORY, A, V2)
    sf.append_chunk_log(
        STORY, "did it", Reuse(reused="a", new="b", why_new="c"), PortsAdapters(core="x", adapters="y"), "none"
    )
    assert wal(repo) == b""
    put_wal(repo, b'{"done":4242}\n')
    entries_now, _ = segment.decode_segment(wal(repo), "wal")
    assert entries_now == []
    after = service(repo)
    after.write_file(STORY, "packages/core/src/b.ts", "export const b = 1;\n")
    assert (repo / "packages/core/src/b.ts").read_text(encoding="utf-8") == "export const b = 1;\n"


def test_a_story_whose_server_folder_was_removed_between_calls_gets_it_back(repo: Path) -> None:
    """The server's folder (journal, lock, .gitignore) is made by a story's first transaction; removed by hand
    later, the next transaction makes it again, its .gitignore included."""
    import shutil

    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    folder = repo / PATHS.server_dir
    shutil.rmtree(folder)
    sf.begin_chunk(STORY, "again", "o")  # a new journal: the story starts over
    assert (folder / "journal.jsonl").is_file()
    assert (folder / ".gitignore").read_text(encoding="utf-8").count("wal") == 1


@pytest.mark.parametrize(
    "entry",
    [
        segment.Entry(
            at=0,
            lines='{"a":"é \\" \\\\ \\u2028 \\n"}\n'.encode(),
            ops=(segment.Op(path="packages/ü/a b.ts", tmp=".storyfence-tmp-1-a b.ts", data=bytes(range(256)) * 9),),
            boot="6f1c-boot",
        ),
        segment.Entry(
            at=123456789,
            lines=b"{}\n{}\n",
            ops=(
                segment.Op(path='q"uote\\d.ts', tmp="t", data=b"", before="a" * 64, existed=True),
                segment.Op(path="gone.ts", unlinks="1:2:3:4"),
            ),
            boot=None,
        ),
    ],
)
def test_a_segment_line_is_the_json_of_its_entry_byte_for_byte(entry: segment.Entry) -> None:
    """The line is written by hand (the base64 content put in unescaped): it must be what json.dumps would give
    for the entry's fields, and read back to the same entry."""
    fields = {
        "at": entry.at,
        "boot": entry.boot,
        "lines": entry.lines.decode("utf-8"),
        "ops": [
            {
                "path": op.path,
                "tmp": op.tmp,
                "data": base64.b64encode(op.data).decode("ascii") if op.data is not None else None,
                "before": op.before,
                "existed": op.existed,
                "unlinks": op.unlinks,
            }
            for op in entry.ops
        ],
    }
    line = segment.encode_entry(entry)
    assert line == (json.dumps(fields, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    entries, length = segment.decode_segment(line, "wal")
    assert entries == [entry]
    assert length == len(line)


def _entry(at: int, size: int) -> segment.Entry:
    return segment.Entry(at=at, lines=b"{}\n", ops=(segment.Op(path="a.ts", tmp="t", data=b"x" * size),), boot="b")


def test_a_write_is_synced_over_room_already_on_the_disk_so_its_sync_changes_no_metadata(repo: Path) -> None:
    """The segment keeps zeroed room: each entry is written over it, and the file's size and blocks stay what
    the clear synced (a sync that must also commit a new size costs about three times as much on ext4)."""
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    path = repo / PATHS.wal
    first = path.stat()
    assert first.st_size > segment.ROOM
    for n in range(5):
        sf.write_file(STORY, A, f"export const findOrder = {n};\n")
        now = path.stat()
        assert (now.st_ino, now.st_size, now.st_blocks) == (first.st_ino, first.st_size, first.st_blocks)
    raw = path.read_bytes()
    assert raw.startswith(b'{"segment": "')
    assert len(entries(repo)) == 5
    assert not raw[len(raw.split(b"\0", 1)[0]) :].strip(b"\0")  # zeros after the lines, nothing else


def test_an_entry_that_does_not_fit_grows_the_room(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segment, "ROOM", 64)
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    for n in range(4):
        sf.write_file(STORY, A, f"export const findOrder = {n};\n" * 20)
    assert [e["ops"][0]["path"] for e in entries(repo)] == [A] * 4
    raw = (repo / PATHS.wal).read_bytes()
    lines = raw.split(b"\0", 1)[0]
    assert len(raw) > len(lines) > 4 * 64  # grown past the first room, and room again after the lines
    assert not raw[len(lines) :].strip(b"\0")
    fresh = segment.Segment(repo / PATHS.wal)
    assert fresh.needs_repair()  # another process cannot vouch for them
    assert len(fresh.read()) == 4


def test_a_process_is_not_fooled_by_another_that_cleared_the_segment_and_wrote_less_than_it_had(tmp_path: Path) -> None:
    """Same file, same size, zeros where this process's next line would go: only the generation line shows that
    another process cleared it and wrote since. Vouching here would put the next entry after a gap of zeros,
    where no reader would ever see it."""
    path = tmp_path / "wal"
    mine = segment.Segment(path)
    mine.clear()
    for n in range(3):
        mine.append(_entry(n * 10, 400))
    assert not mine.needs_repair()
    other = segment.Segment(path)
    assert other.needs_repair()
    other.clear()
    other.append(_entry(999, 10))
    assert path.stat().st_size == segment.ROOM + len(b'{"segment": "%s"}\n' % (b"0" * 32))
    assert mine.needs_repair()
    assert mine.pending()
    assert [e.at for e in segment.Segment(path).read()] == [999]


def test_a_process_sees_an_entry_another_wrote_after_its_own(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    mine = segment.Segment(path)
    mine.clear()
    mine.append(_entry(0, 10))
    other = segment.Segment(path)
    assert other.needs_repair()
    raw = path.read_bytes()
    end = raw.index(b"\0")
    line = segment.encode_entry(_entry(50, 10))
    path.write_bytes(raw[:end] + line + raw[end + len(line) :])  # the size and the generation line stay
    assert mine.needs_repair()


def test_what_a_power_cut_left_past_the_first_zero_byte_is_never_read_and_the_repair_clears_it(repo: Path) -> None:
    """A later page of an entry whose sync never returned can reach the disk without its first page: it lies
    past the first zero byte, is not a line, and the next transaction's checkpoint writes fresh room over it."""
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    sf.write_file(STORY, A, V2)
    path = repo / PATHS.wal
    raw = path.read_bytes()
    end = raw.index(b"\0")
    stray = b'not json, and no newline before it"}\n'
    path.write_bytes(raw[: end + 4096] + stray + raw[end + 4096 + len(stray) :])
    assert [e.ops[0].path for e in segment.Segment(path).read()] == [A]
    service(repo).write_file(STORY, "packages/core/src/b.ts", "export const b = 1;\n")
    assert stray not in path.read_bytes()
    assert held_paths(repo) == ["packages/core/src/b.ts"]
    assert (repo / A).read_text(encoding="utf-8") == V2


def test_a_segment_an_earlier_version_wrote_is_repaired_and_given_room(repo: Path, reboot: Reboot) -> None:
    """Lines with no generation line and no room (the append-only layout): read as they are, finished, then
    cleared into the new layout."""
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    sf.write_file(STORY, A, V2)
    path = repo / PATHS.wal
    path.write_bytes(wal(repo))  # the same entry, laid out as before
    (repo / A).write_text(V1, encoding="utf-8")  # its rename lost
    reboot()
    service(repo).write_file(STORY, "packages/core/src/b.ts", "export const b = 1;\n")
    assert (repo / A).read_text(encoding="utf-8") == V2
    assert path.read_bytes().startswith(b'{"segment": "')
    assert held_paths(repo) == ["packages/core/src/b.ts"]


def test_an_empty_segment_with_a_power_cuts_pages_in_its_room_is_cleared_not_written_over(repo: Path) -> None:
    """After a checkpoint, an entry whose sync never returned can leave a later page in the room and nothing
    before it. A process that took that room as clean would write its entry up against those bytes, and the
    next reader would find a line that does not decode."""
    sf = service(repo)
    sf.begin_chunk(STORY, "n", "o")
    path = repo / PATHS.wal
    raw = path.read_bytes()
    head = raw.index(b"\n") + 1
    stray = b"x" * 3000 + b"\n"
    path.write_bytes(raw[: head + 100] + stray + raw[head + 100 + len(stray) :])
    service(repo).write_file(STORY, A, V2)
    assert [e.ops[0].path for e in segment.Segment(path).read()] == [A]
    service(repo).write_file(STORY, "packages/core/src/b.ts", "export const b = 1;\n")
    assert held_paths(repo) == ["packages/core/src/b.ts"]


def test_two_servers_taking_turns_on_one_story_leave_every_acknowledged_write_where_a_repair_reads_it(
    repo: Path,
) -> None:
    """Two servers (each its own view of the segment) write in turns, with entries of different lengths: each
    finds the other's generation or lines, repairs and clears, and after every acknowledged write a reader that
    has never seen the segment decodes that write from it, content included."""
    servers = [service(repo), service(repo)]
    servers[0].begin_chunk(STORY, "n", "o")
    paths = [A, "packages/core/src/b.ts", "packages/core/src/c.ts"]
    for n in range(24):
        path = paths[n % 3]
        content = f"export const v = {n};\n" * (1 + (n * 7) % 23)
        servers[(n // 2) % 2].write_file(STORY, path, content)
        held = segment.Segment(repo / PATHS.wal).read()
        assert held, f"write {n} is not in the segment"
        assert held[-1].ops[0].path == path
        assert held[-1].ops[0].data == content.encode()
        assert (repo / path).read_text(encoding="utf-8") == content
    status = service(repo).story_status(STORY)
    assert {f.path for f in status.chunks[0].files} == set(paths)
