"""The confined workspace: every path is resolved inside the root before any rule sees it, and every
write is atomic (temp file in the same directory, fsync, rename) without following a symlink."""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from storyfence.core.errors import InputError, Refused
from storyfence.core.policy import Decision

TMP_PREFIX = ".storyfence-tmp-"
NAME_MAX = 255  # bytes in one file or folder name (ext4, APFS, NTFS, ...)
PATH_MAX = 4096  # bytes in an absolute path (Linux)
_O_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_sync = getattr(os, "fdatasync", os.fsync)


def confinement_refusal(path: str, reason: str, instead: str) -> Refused:
    decision = Decision(
        path=path,
        allowed=False,
        rule="confinement",
        kind="deny",
        reason=reason,
        instead=instead,
        policy_file="storyfence (built in)",
    )
    return Refused(decision.message(), decision)


@dataclass(frozen=True)
class Staged:
    """A write whose synced content waits in `tmp` (a name in the target's directory) for `commit`."""

    rel: str
    tmp: str
    existed: bool


@dataclass(frozen=True)
class Located:
    """A user path resolved against the root. `rel` is lexical; `real` is after following symlinks."""

    rel: str  # POSIX, relative to root, "." for the root itself
    real: str  # POSIX, relative to root, symlinks resolved (still inside root)
    symlink: str | None  # the first symlink on the way (relative), if any

    @property
    def parts(self) -> list[str]:
        return [] if self.rel == "." else self.rel.split("/")


class Workspace:
    """A repo root on disk. All filesystem access of the server goes through here."""

    def __init__(self, root: Path) -> None:
        try:
            real = Path(os.path.realpath(root))
            if not real.is_dir():
                raise InputError(f"root {root} is not a directory")
            os.listdir(real)
        except PermissionError:
            raise InputError(f"root {root} is not readable") from None
        except FileNotFoundError:
            raise InputError(f"root {root} does not exist") from None
        self.root = real
        self._root_str = str(real)

    # --- confinement ------------------------------------------------------------------------------------

    def _inside(self, absolute: str) -> bool:
        # commonpath, not startswith: /repo-evil is not inside /repo
        return absolute == self._root_str or os.path.commonpath([self._root_str, absolute]) == self._root_str

    def locate(self, user_path: str) -> Located:
        """Resolve `user_path` (relative to the root, or absolute inside it) or refuse it."""
        if "\x00" in user_path:
            raise confinement_refusal(repr(user_path), "the path contains a NUL byte.", "pass a plain path.")
        try:
            user_path.encode("utf-8")
        except UnicodeEncodeError as exc:
            # a lone surrogate would become a non-UTF-8 file name on disk that the journal cannot record
            raise InputError(
                f"the path {user_path[:80]!r} is not valid Unicode text (a lone surrogate at position {exc.start}); "
                "send the path as UTF-8 text"
            ) from None
        raw = user_path.strip()
        if "\\" in raw:
            raise confinement_refusal(
                raw, "the path contains a backslash.", "use forward slashes, relative to the repo root."
            )
        if raw in ("", "."):
            return Located(rel=".", real=".", symlink=None)
        if os.path.isabs(raw):
            absolute = posixpath.normpath(raw)
            if not self._inside(absolute):
                raise confinement_refusal(
                    raw,
                    f"the absolute path is outside the repo root {self._root_str}.",
                    "use a path relative to the repo root.",
                )
            rel = posixpath.relpath(absolute, self._root_str)
        else:
            rel = posixpath.normpath(raw)
        if rel == ".." or rel.startswith("../"):
            raise confinement_refusal(
                raw, "the path escapes the repo root with `..`.", "use a path inside the repo root."
            )
        _check_lengths(self._root_str, rel)
        # walk component by component so the first symlink on the way can be named
        current = self._root_str
        symlink: str | None = None
        for part in [] if rel == "." else rel.split("/"):
            candidate = os.path.join(current, part)
            if os.path.islink(candidate):
                target = os.path.realpath(candidate)
                link_rel = posixpath.relpath(candidate, self._root_str)
                if not self._inside(target):
                    raise confinement_refusal(
                        raw,
                        f"`{link_rel}` is a symlink that leads outside the repo root.",
                        "use paths whose every directory is inside the repo.",
                    )
                symlink = symlink or link_rel
                current = target
            else:
                current = candidate
        real = posixpath.relpath(current, self._root_str) if current != self._root_str else "."
        return Located(rel=rel, real=real, symlink=symlink)

    def absolute(self, rel: str) -> Path:
        return self.root if rel == "." else self.root / rel

    # --- fd walks that never follow a link ----------------------------------------------------------------

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

    def write_atomic(self, rel: str, data: bytes, announce: Callable[[str], None] | None = None) -> bool:
        """Replace `rel` with `data` atomically. Returns True if the file existed before."""
        staged = self.stage(rel, data, announce)
        self.commit(staged)
        return staged.existed

    def stage(self, rel: str, data: bytes, announce: Callable[[str], None] | None = None) -> Staged:
        """Write `data` to a synced temp file next to `rel`; nothing is visible until `commit`.

        The temp file is created O_EXCL|O_NOFOLLOW next to the target; the rename in `commit` replaces the
        directory entry, so a hard-linked target is detached rather than written through. `announce` gets
        the temp name before the file exists, so a kill before the rename leaves a name to clean up.
        """
        parts = rel.split("/")
        dir_fd = self._open_dir(parts[:-1], create=True)
        name = parts[-1]
        tmp = _tmp_name(name)
        if announce is not None:
            announce(tmp)
        try:
            mode = 0o644
            existed = False
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                existed = True
                if stat.S_ISLNK(st.st_mode):
                    raise confinement_refusal(
                        rel, f"`{rel}` is a symlink: writes never follow a symlink.", "write the real path."
                    )
                if stat.S_ISDIR(st.st_mode):
                    raise InputError(f"{rel} is a directory, not a file")
                if not stat.S_ISREG(st.st_mode):
                    raise InputError(f"{rel} is not a regular file")
                mode = stat.S_IMODE(st.st_mode)
            except FileNotFoundError:
                pass
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, mode, dir_fd=dir_fd)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                _sync(fd)  # the data must be on disk before the rename makes it visible
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
            os.fsync(dir_fd)
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

    def roll_forward(self, rel: str, tmp: str) -> bool:
        """Finish a staged write the journal recorded but a crash left unrenamed. Returns True if it did.

        Only when the temp file is still there and the target has not changed since it was staged (a
        newer target means someone edited it by hand afterwards: their edit wins, the temp file goes).
        """
        parts = rel.split("/")
        try:
            dir_fd = self._open_dir(parts[:-1], create=False)
        except (InputError, Refused, OSError):
            return False
        try:
            try:
                staged_at = os.stat(tmp, dir_fd=dir_fd, follow_symlinks=False).st_mtime_ns
            except FileNotFoundError:
                return False  # renamed as planned (or cleaned up): nothing to finish
            try:
                target_at = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False).st_mtime_ns
            except FileNotFoundError:
                target_at = -1
            if target_at > staged_at:
                os.unlink(tmp, dir_fd=dir_fd)
                return False
            os.replace(tmp, parts[-1], src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            os.fsync(dir_fd)
            return True
        finally:
            os.close(dir_fd)

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

    def delete(self, rel: str, identity: str) -> bool:
        """Unlink `rel` (never following a link) if it is still the file `identity` names. Returns True if
        it did; False when it is gone or was replaced since (a newer file wins over a replayed delete)."""
        parts = rel.split("/")
        try:
            dir_fd = self._open_dir(parts[:-1], create=False)
        except (InputError, Refused, OSError):
            return False
        try:
            try:
                st = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return False
            if _identity(st) != identity:
                return False
            os.unlink(parts[-1], dir_fd=dir_fd)
            os.fsync(dir_fd)
            return True
        finally:
            os.close(dir_fd)

    def remove_stale(self, rel: str, tmp: str) -> bool:
        """Remove the temp file `tmp` staged beside `rel` that a kill left behind. Confined like every write
        (no symlink followed on the way, nothing created), and only a regular file with our temp prefix."""
        if not tmp.startswith(TMP_PREFIX) or "/" in tmp or tmp in (".", ".."):
            return False
        parts = rel.split("/")
        try:
            dir_fd = self._open_dir(parts[:-1], create=False)
        except (InputError, Refused, OSError):
            return False
        try:
            try:
                st = os.stat(tmp, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return False
            if not stat.S_ISREG(st.st_mode):
                return False
            os.unlink(tmp, dir_fd=dir_fd)
            os.fsync(dir_fd)
            return True
        finally:
            os.close(dir_fd)

    def read_bytes(self, rel: str, *, cap: int) -> bytes:
        """Read a regular file (no link followed on the way), refusing more than `cap` bytes."""
        parts = rel.split("/")
        if rel == ".":
            raise InputError("the repo root is a directory, not a file: use list_files")
        dir_fd = self._open_dir(parts[:-1], create=False)
        try:
            try:
                fd = os.open(parts[-1], os.O_RDONLY | _O_NOFOLLOW, dir_fd=dir_fd)
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

    def exists(self, rel: str) -> bool:
        return os.path.lexists(self.absolute(rel))

    def is_dir(self, rel: str) -> bool:
        return os.path.isdir(self.absolute(rel)) and not os.path.islink(self.absolute(rel))


def _check_lengths(root: str, rel: str) -> None:
    """Refuse names the filesystem cannot hold, with a clear error instead of an OSError mid-write."""
    for part in rel.split("/"):
        size = len(part.encode("utf-8"))
        if size > NAME_MAX:
            raise InputError(
                f"the name `{part[:40]}…` in the path is {size} bytes long; a file or folder name holds at most "
                f"{NAME_MAX} bytes: use a shorter name"
            )
    size = len(root.encode("utf-8")) + 1 + len(rel.encode("utf-8"))
    if size >= PATH_MAX:
        raise InputError(f"the path is {size} bytes long with the repo root; at most {PATH_MAX - 1}: use a shorter one")


def _identity(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def _tmp_name(name: str) -> str:
    """A unique temp name next to `name`, within NAME_MAX bytes (cut on a character boundary)."""
    prefix = f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-"
    tail = name.encode("utf-8")[: NAME_MAX - len(prefix)].decode("utf-8", errors="ignore")
    return prefix + tail


def decode_text(rel: str, data: bytes) -> str:
    """UTF-8 text or a clear InputError (binary, invalid UTF-8)."""
    if b"\x00" in data[:8192]:
        raise InputError(f"{rel} is a binary file; only text files can be read or edited")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{rel} is not valid UTF-8 (byte {exc.start}); only UTF-8 text is supported") from None
