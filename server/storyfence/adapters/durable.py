"""The syncs the crash guarantees rest on: a file's data, and a directory's entries, on the disk itself.

Linux: fdatasync for a file (its data and size; the mtime is not needed to read it back), fsync for a
directory. macOS: fsync only hands the data to the drive, whose cache can still lose it on power loss;
F_FULLFSYNC asks the drive to flush, so it is used for both.
"""

from __future__ import annotations

import fcntl
import os
import sys

F_FULLFSYNC = getattr(fcntl, "F_FULLFSYNC", 51)  # 51 on macOS; the constant exists only there


def _full(fd: int) -> bool:
    if sys.platform != "darwin":
        return False
    fcntl.fcntl(fd, F_FULLFSYNC)
    return True


def sync_data(fd: int) -> None:
    """Make what was written to the file `fd` durable (its data and size)."""
    if not _full(fd):
        getattr(os, "fdatasync", os.fsync)(fd)


def sync_dir(fd: int) -> None:
    """Make the entries of the directory `fd` durable (a rename into it, an unlink from it)."""
    if not _full(fd):
        os.fsync(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of `data` to `fd` (os.write may write fewer than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """Write every byte of `data` to `fd` at `offset` (os.pwrite may write fewer than asked)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written
