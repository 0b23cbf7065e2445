"""Cache files only the user can have written: JSON in the user's cache folder (`$STORYFENCE_CACHE_DIR`, else
`$XDG_CACHE_HOME/storyfence`, else `~/.cache/storyfence`), read only when the file and its folder are the user's
and nobody else may write them, written atomically. Reading one never runs code; a file that cannot be trusted
or parsed reads as None (the caller recomputes). Light on purpose: the Claude Code hook reads its cache here."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Mapping

CACHE_ENV = "STORYFENCE_CACHE_DIR"
RACY_NS = 2_000_000_000
"""An input younger than this is not cached against: a second change within the clock's granularity could keep
its identity (as git treats a racily clean index)."""


def cache_folder(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    chosen = env.get(CACHE_ENV)
    if chosen:
        return chosen
    xdg = env.get("XDG_CACHE_HOME")
    return os.path.join(xdg if xdg else os.path.join(os.path.expanduser("~"), ".cache"), "storyfence")


def _of(st: os.stat_result) -> list[int]:
    # the ctime too: setting an mtime back (os.utime) cannot set it back, so an edit hidden that way still shows
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_dev]


def identity(path: str) -> list[int] | None:
    """A file's (or folder's) identity as [inode, size, mtime_ns, ctime_ns, device], following symlinks; None
    when it cannot be stat'ed. A folder's changes when an entry is added, removed or renamed in it."""
    try:
        return _of(os.stat(path))
    except (OSError, ValueError):
        return None


def lidentity(path: str) -> list[int] | None:
    """`identity` of the path itself (a symlink is not followed)."""
    try:
        return _of(os.lstat(path))
    except (OSError, ValueError):
        return None


def racy(identities: list[list[int] | None], now_ns: int) -> bool:
    """True when one of `identities` was modified too recently to be cached against (see RACY_NS); by its
    mtime, as git does (a ctime is only ever now after a checkout sets mtimes back)."""
    return any(i is not None and now_ns - i[2] < RACY_NS for i in identities)


def entry_path(kind: str, real_root: str, explicit: str | None, folder: str | None = None) -> str:
    """The cache file of one kind of entry for this root and policy argument (a name clash only ever costs a
    miss: an entry names both in its key)."""
    import zlib

    name = f"{real_root}\0{explicit or ''}".encode("utf-8", "surrogateescape")
    return os.path.join(folder or cache_folder(), f"{kind}-{zlib.crc32(name):08x}{zlib.adler32(name):08x}.json")


def inputs_hold(inputs: object) -> bool:
    """True when `inputs` (as an entry stores them: a non-empty list of [path, identity]) all still have that
    identity; False for anything else."""
    if not isinstance(inputs, list) or not inputs:
        return False
    for item in inputs:  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str):  # pyright: ignore[reportUnknownArgumentType]
            return False
        if identity(item[0]) != item[1]:
            return False
    return True


def read_entry(file: str) -> object | None:
    """The cache file's JSON, or None when there is none we may trust (fail closed: a read error is a miss)."""
    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        folder = os.stat(os.path.dirname(file) or ".")
        if hasattr(os, "getuid") and (
            st.st_uid != os.getuid()
            or folder.st_uid != os.getuid()
            or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            or folder.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            or not stat.S_ISREG(st.st_mode)
        ):
            return None  # someone else could have written it: never trust it
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return json.loads(fh.read())
    except Exception:  # a corrupt or foreign cache is recomputed, whatever the error
        return None
    finally:
        os.close(fd)


def write_entry(file: str, entry: object) -> None:
    """Write the entry atomically (a temp file renamed over it); a cache that cannot be written is skipped."""
    import tempfile

    with contextlib.suppress(OSError, TypeError, ValueError):
        folder = os.path.dirname(file)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".entry-", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(entry, fh)
            os.replace(tmp, file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
