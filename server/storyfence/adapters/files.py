"""The repo's files at the level of file descriptors: every walk opens one directory at a time with
O_NOFOLLOW, so no symlink is ever followed, and every write is atomic (a synced temp file beside the target,
renamed over it, the directory synced). Paths are repo-relative and already confined by the workspace.

Two write-ahead protocols run on these calls (the story store picks one per write):
- a small write: `writable` opens and checks the target's folder, then the store records the write *and its
  content* in its write-ahead segment (the one sync), then `replace` writes a temp file into that folder and
  renames it, neither synced; a crash is repaired from the segment (`read_current`, `write_atomic`), and a
  checkpoint makes it durable (`sync_path`);
- a large write: `stage` the content under a synced temp name (announced first), record it in the journal,
  then `commit` (rename, directory synced). After a crash, `roll_forward` finishes a recorded write.
`delete` finishes a recorded delete, and `remove_stale` removes a temp file a crash left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Generator
from pathlib import Path

from storyfence.adapters.durable import sync_data, sync_dir, write_all
from storyfence.adapters.ports import Staged
from storyfence.core.confinement import confinement_refusal
from storyfence.core.errors import InputError, Refused
from storyfence.core.story_paths import is_temp_name

_O_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class RepoFiles:
    """Reads and atomic writes under one root, never following a link on the way."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root_str = str(root)

    def _open_dir(self, parts: list[str], *, create: bool) -> int:
        fd = os.open(self._root_str, _O_DIR)
        try:
            for index, part in enumerate(parts):
                try:
                    next_fd = os.open(part, _O_DIR | _O_NOFOLLOW, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise InputError(f"{'/'.join(parts[: index + 1])} does not exist") from None
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o777, dir_fd=fd)
                    next_fd = os.open(part, _O_DIR | _O_NOFOLLOW, dir_fd=fd)
                except OSError as exc:
                    where = "/".join(parts[: index + 1])
                    if exc.errno in (errno.ELOOP, errno.EMLINK):
                        raise confinement_refusal(
                            where,
                            f"`{where}` is a symlink: writes never follow a symlink.",
                            "write the real path.",
                        ) from None
                    if exc.errno == errno.ENOTDIR:
                        raise InputError(f"{where} is a file, not a directory") from None
                    raise
                os.close(fd)
                fd = next_fd
            return fd
        except BaseException:
            os.close(fd)
            raise

    def write_atomic(self, rel: str, data: bytes, tmp: str) -> bool:
        """Replace `rel` with `data` atomically through the temp file `tmp`. Returns True if it existed."""
        staged = self.stage(rel, data, tmp)
        self.commit(staged)
        return staged.existed

    def writable(self, rel: str) -> Folder:
        """Make and open the folders of `rel` and check that a write can replace it (no link, not a folder, a
        regular file or nothing), before the write is recorded; `replace` then writes into that same folder."""
        parts = rel.split("/")
        dir_fd = self._open_dir(parts[:-1], create=True)
        try:
            return Folder(rel, dir_fd, parts[-1], _regular_or_missing(rel, dir_fd, parts[-1]) is not None)
        except BaseException:
            os.close(dir_fd)
            raise

    def read_current(self, rel: str, *, cap: int) -> bytes | None:
        """The file at `rel` as it is (None when it is not there), for a crash repair to compare with what was
        recorded; raises when the path leads through a link or to something that is not a regular file."""
        try:
            return self.read_bytes(rel, cap=cap)
        except InputError:
            if not os.path.lexists(os.path.join(self._root_str, rel)):
                return None
            raise

    def sync_path(self, rel: str) -> None:
        """Make the file at `rel` (its data) and its directory entry durable: a checkpoint of the writes the
        segment carried. Nothing is followed or created; a path that no longer leads anywhere is skipped."""
        name = rel.split("/")[-1]
        with self._parent_if_there(rel) as dir_fd:
            if dir_fd is None:
                return
            try:
                fd = os.open(name, os.O_RDONLY | _O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
            except OSError:
                fd = None  # deleted, or not a file we wrote any more: its directory entry is what counts
            if fd is not None:
                try:
                    if stat.S_ISREG(os.fstat(fd).st_mode):
                        sync_data(fd)
                finally:
                    os.close(fd)
            sync_dir(dir_fd)

    def stage(self, rel: str, data: bytes, tmp: str) -> Staged:
        """Write `data` to a synced temp file next to `rel`; nothing is visible until `commit`.

        The temp file is created O_EXCL|O_NOFOLLOW next to the target; the rename in `commit` replaces the
        directory entry, so a hard-linked target is detached rather than written through. The caller announced
        `tmp` before this call, so a kill before the rename leaves a name to clean up.
        """
        parts = rel.split("/")
        dir_fd = self._open_dir(parts[:-1], create=True)
        try:
            st = _regular_or_missing(rel, dir_fd, parts[-1])
            existed = st is not None
            mode = stat.S_IMODE(st.st_mode) if st is not None else 0o644
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, mode, dir_fd=dir_fd)
            try:
                write_all(fd, data)
                sync_data(fd)  # the data must be on disk before the rename makes it visible
            finally:
                os.close(fd)
            return Staged(rel=rel, tmp=tmp, existed=existed)
        finally:
            os.close(dir_fd)

    def commit(self, staged: Staged) -> None:
        """Make a staged write visible: rename the temp file over the target, then sync the directory."""
        parts = staged.rel.split("/")
        dir_fd = self._open_dir(parts[:-1], create=False)
        try:
            os.replace(staged.tmp, parts[-1], src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            sync_dir(dir_fd)
        finally:
            os.close(dir_fd)

    def discard(self, staged: Staged) -> None:
        parts = staged.rel.split("/")
        with contextlib.suppress(OSError):
            dir_fd = self._open_dir(parts[:-1], create=False)
            try:
                os.unlink(staged.tmp, dir_fd=dir_fd)
            finally:
                os.close(dir_fd)

    @contextlib.contextmanager
    def _parent_if_there(self, rel: str) -> Generator[int | None, None, None]:
        """The directory of `rel`, opened without following a link or creating anything; None when it cannot be
        (repairs after a crash do nothing where the path no longer leads)."""
        try:
            dir_fd = self._open_dir(rel.split("/")[:-1], create=False)
        except (InputError, Refused, OSError):
            yield None
            return
        try:
            yield dir_fd
        finally:
            os.close(dir_fd)

    def roll_forward(self, rel: str, tmp: str) -> bool:
        """Finish a staged write the journal recorded but a crash left unrenamed. Returns True if it did.

        Only when the temp file is still there and the target has not changed since it was staged (a
        newer target means someone edited it by hand afterwards: their edit wins, the temp file goes).
        """
        name = rel.split("/")[-1]
        with self._parent_if_there(rel) as dir_fd:
            if dir_fd is None:
                return False
            try:
                staged_at = os.stat(tmp, dir_fd=dir_fd, follow_symlinks=False).st_mtime_ns
            except FileNotFoundError:
                return False  # renamed as planned (or cleaned up): nothing to finish
            try:
                target_at = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mtime_ns
            except FileNotFoundError:
                target_at = -1
            if target_at > staged_at:
                os.unlink(tmp, dir_fd=dir_fd)
                return False
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            sync_dir(dir_fd)
            return True

    def identity(self, rel: str) -> str:
        """What the file at `rel` is right now (device, inode, size, mtime), for a write-ahead delete: a file
        made again at that path later is another file, which a replayed delete must not remove."""
        parts = rel.split("/")
        dir_fd = self._open_dir(parts[:-1], create=False)
        try:
            try:
                st = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                raise InputError(f"{rel} does not exist") from None
            if stat.S_ISDIR(st.st_mode):
                raise InputError(f"{rel} is a directory; delete_file removes files only")
            return _identity(st)
        finally:
            os.close(dir_fd)

    def delete(self, rel: str, identity: str, *, durable: bool = True) -> bool:
        """Unlink `rel` (never following a link) if it is still the file `identity` names. Returns True if
        it did; False when it is gone or was replaced since (a newer file wins over a replayed delete).
        `durable=False` leaves the directory unsynced (the story's write-ahead segment holds the delete)."""
        name = rel.split("/")[-1]
        with self._parent_if_there(rel) as dir_fd:
            if dir_fd is None:
                return False
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return False
            if _identity(st) != identity:
                return False
            os.unlink(name, dir_fd=dir_fd)
            if durable:
                sync_dir(dir_fd)
            return True

    def remove_stale(self, rel: str, tmp: str) -> bool:
        """Remove the temp file `tmp` staged beside `rel` that a kill left behind. Confined like every write
        (no symlink followed on the way, nothing created), and only a regular file with our temp prefix."""
        if not is_temp_name(tmp):
            return False
        with self._parent_if_there(rel) as dir_fd:
            if dir_fd is None:
                return False
            try:
                st = os.stat(tmp, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return False
            if not stat.S_ISREG(st.st_mode):
                return False
            os.unlink(tmp, dir_fd=dir_fd)
            sync_dir(dir_fd)
            return True

    def read_bytes(self, rel: str, *, cap: int) -> bytes:
        """Read a regular file (no link followed on the way), refusing more than `cap` bytes."""
        parts = rel.split("/")
        if rel == ".":
            raise InputError("the repo root is a directory, not a file: use list_files")
        dir_fd = self._open_dir(parts[:-1], create=False)
        try:
            try:
                fd = os.open(parts[-1], os.O_RDONLY | _O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)  # a FIFO never blocks
            except FileNotFoundError:
                raise InputError(f"{rel} does not exist") from None
            except IsADirectoryError:
                raise InputError(f"{rel} is a directory, not a file: use list_files") from None
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise confinement_refusal(rel, f"`{rel}` is a symlink.", "read the real path.") from None
                raise
            try:
                st = os.fstat(fd)
                if stat.S_ISDIR(st.st_mode):
                    raise InputError(f"{rel} is a directory, not a file: use list_files")
                if not stat.S_ISREG(st.st_mode):
                    raise InputError(f"{rel} is not a regular file")
                if st.st_size > cap:
                    raise InputError(
                        f"{rel} is {st.st_size:,} bytes, over the {cap:,}-byte cap; "
                        "use search_code to find the part you need"
                    )
                chunks: list[bytes] = []
                remaining = cap + 1
                while remaining > 0:
                    block = os.read(fd, min(remaining, 1 << 20))
                    if not block:
                        break
                    chunks.append(block)
                    remaining -= len(block)
                data = b"".join(chunks)
                if len(data) > cap:
                    raise InputError(f"{rel} is over the {cap:,}-byte cap")
                return data
            finally:
                os.close(fd)
        finally:
            os.close(dir_fd)


class Folder:
    """The open folder of a file a small write replaces (`RepoFiles.writable`); closed on leaving the block."""

    def __init__(self, rel: str, dir_fd: int, name: str, existed: bool) -> None:
        self.rel, self._fd, self._name, self.existed = rel, dir_fd, name, existed

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)

    def replace(self, data: bytes, tmp: str) -> None:
        """Write `data` to the temp file `tmp` beside the target and rename it over the target, nothing synced:
        the story's write-ahead segment already holds `data`, and its checkpoint makes the file durable
        (`RepoFiles.sync_path`)."""
        st = _regular_or_missing(self.rel, self._fd, self._name)
        mode = stat.S_IMODE(st.st_mode) if st is not None else 0o644
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, mode, dir_fd=self._fd)
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, self._name, src_dir_fd=self._fd, dst_dir_fd=self._fd)


def _regular_or_missing(rel: str, dir_fd: int, name: str) -> os.stat_result | None:
    """The target `name` in `dir_fd` when it is a regular file, None when it is not there; refuses a link, a
    folder, anything else."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise confinement_refusal(rel, f"`{rel}` is a symlink: writes never follow a symlink.", "write the real path.")
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{rel} is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{rel} is not a regular file")
    return st


def _identity(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
