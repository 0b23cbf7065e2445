"""What a kill of the server leaves behind: a crash at any step of a write or a delete leaves the journal and the
disk agreeing after the next transaction, no staged temp file survives it, and no typecheck process outlives
the server. Each crash is a real process dying with os._exit at one step of the real code path."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from storyfence.adapters.policy_file import load_builtin
from storyfence.app.service import StoryfenceService
from storyfence.core.events import FileChanged
from storyfence.core.story_paths import TMP_PREFIX
from tests.support.stories import ONE_FILE, ONE_FILE_STORY, one_file_story

STORY = ONE_FILE_STORY
TARGET = ONE_FILE


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return one_file_story(tmp_path / "repo")


def crash_during(root: Path, call: str, *, when: str, staged: bool = False) -> None:
    """Run `call` on a fresh service in a child process that dies (os._exit) right `when` ("before" or "after")
    the journal records the file change: the two sides of the record a kill can land on. `staged`: the write
    takes the protocol of a write too large for the write-ahead segment (staged in its own synced temp file)."""
    script = textwrap.dedent(
        f"""
        import os
        import storyfence.adapters.store
        if {staged!r}:
            storyfence.adapters.store.INLINE_MAX = 0
        from pathlib import Path
        from storyfence.adapters.policy_file import load_builtin
        from storyfence.adapters.store import Transaction
        from storyfence.core.events import FileChanged
        from storyfence.app.service import StoryfenceService

        append = Transaction._append  # every record goes through it: with the write-ahead segment, or synced

        def dying_append(self, step, ops):
            changes = any(isinstance(event, FileChanged) for event in step.events)
            if changes and {when!r} == "before":
                os._exit(9)
            result = append(self, step, ops)
            if changes:
                os._exit(9)
            return result

        Transaction._append = dying_append
        service = StoryfenceService(Path({str(root)!r}), load_builtin())
        service.{call}
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 9, proc.stderr


def recorded(root: Path) -> list[FileChanged]:
    records, _ = StoryfenceService(root, load_builtin()).story(STORY).store.read_state()
    return [r.event for r in records if isinstance(r.event, FileChanged)]


def leftovers(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob(f"{TMP_PREFIX}*"))


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_delete_killed_on_either_side_of_its_record_leaves_disk_and_journal_agreeing(repo: Path, when: str) -> None:
    crash_during(repo, f"delete_file({STORY!r}, {TARGET!r})", when=when)
    deletes = [e for e in recorded(repo) if e.change.path == TARGET and e.change.kind == "deleted"]
    if when == "before":
        # write-ahead: nothing recorded, so nothing may be gone
        assert deletes == []
        assert (repo / TARGET).exists(), "the file was deleted without a journal record"
    else:
        assert len(deletes) == 1
    StoryfenceService(repo, load_builtin()).write_file(STORY, "packages/core/src/b.ts", "export {};\n")
    assert (repo / TARGET).exists() is (when == "before")  # a recorded delete is finished by the next transaction


def test_a_recorded_delete_is_not_replayed_on_a_file_made_again_afterwards(repo: Path) -> None:
    crash_during(repo, f"delete_file({STORY!r}, {TARGET!r})", when="after")
    service = StoryfenceService(repo, load_builtin())
    service.write_file(STORY, "packages/core/src/b.ts", "export {};\n")  # finishes the delete
    service.write_file(STORY, TARGET, "export const a = 2;\n")  # the agent writes it again
    StoryfenceService(repo, load_builtin()).write_file(STORY, "packages/core/src/c.ts", "export {};\n")
    assert (repo / TARGET).read_text(encoding="utf-8") == "export const a = 2;\n"


@pytest.mark.parametrize("staged", [False, True], ids=["segment", "staged"])
@pytest.mark.parametrize("call", [f"write_file({STORY!r}, {TARGET!r}, 'export const a = 3;\\n')", "edit"])
def test_a_write_killed_before_its_record_leaves_no_staged_file_after_the_next_transaction(
    repo: Path, call: str, staged: bool
) -> None:
    if call == "edit":
        edit = "__import__('storyfence.app.writes').app.writes.Edit(old_text='= 1', new_text='= 4')"
        call = f"edit_file({STORY!r}, {TARGET!r}, [{edit}])"
    crash_during(repo, call, when="before", staged=staged)
    # a large write stages its content beside the target before its record; a small one stages nothing
    assert (leftovers(repo) != []) is staged
    assert (repo / TARGET).read_text(encoding="utf-8") == "export const a = 1;\n"
    StoryfenceService(repo, load_builtin()).story_status(STORY)  # read-only: touches nothing
    StoryfenceService(repo, load_builtin()).write_file(STORY, "packages/core/src/b.ts", "export {};\n")
    assert leftovers(repo) == []
    assert (repo / TARGET).read_text(encoding="utf-8") == "export const a = 1;\n"


def test_cleanup_removes_only_the_servers_own_staged_files_and_follows_no_symlink(repo: Path, tmp_path: Path) -> None:
    crash_during(repo, f"write_file({STORY!r}, {TARGET!r}, 'export const a = 3;\\n')", when="before", staged=True)
    mine = leftovers(repo)
    assert len(mine) == 1
    # a file of the user's that merely looks like a staged one, and a symlinked folder with one inside
    (repo / f"packages/core/src/{TMP_PREFIX}mine.ts").write_text("keep\n", encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / f"{TMP_PREFIX}x").write_text("keep\n", encoding="utf-8")
    (repo / "packages/link").symlink_to(outside)
    StoryfenceService(repo, load_builtin()).write_file(STORY, "packages/core/src/b.ts", "export {};\n")
    assert leftovers(repo) == [f"packages/core/src/{TMP_PREFIX}mine.ts"]
    assert (outside / f"{TMP_PREFIX}x").exists()


def test_no_typecheck_process_outlives_a_killed_server(tmp_path: Path) -> None:
    fifo = tmp_path / "started"
    os.mkfifo(fifo)
    # the "server": runs a typecheck whose command reports its pid, then never ends on its own
    script = textwrap.dedent(
        f"""
        import anyio
        from pathlib import Path
        from storyfence.adapters.typecheck import run_command

        # a command that works on without writing (as tsc does): it never notices its output pipe is gone
        argv = ("sh", "-c", "echo $$ > {fifo}; exec {sys.executable} -c 'import signal; signal.pause()'")
        anyio.run(lambda: run_command(argv, package="p", package_dir=".", cwd=Path({str(tmp_path)!r}),
                                      timeout=600, output_cap=1000))
        """
    )
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready, _, _ = select.select([reader], [], [], 60)
        assert ready, "the typecheck command never started"
        pid = int(os.read(reader, 100).decode().strip())
        watch = os.pidfd_open(pid)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=60)
        gone, _, _ = select.select([watch], [], [], 15)
        if not gone:
            os.kill(pid, signal.SIGKILL)
        assert gone, "the typecheck command kept running after its server was killed"
    finally:
        os.close(reader)
        if server.poll() is None:
            server.kill()
            server.wait()
