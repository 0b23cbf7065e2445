"""What /proc says about the server processes this process started: which child is which, and its peak memory."""

from __future__ import annotations

import os
from pathlib import Path


def server_pid(root: Path) -> int | None:
    """The pid of this process's child running `storyfence serve --root ROOT`, if it is up."""
    me = str(os.getpid())
    marker = f"storyfence\0serve\0--root\0{root}\0".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text(encoding="utf-8", errors="replace")
            if stat.rsplit(")", 1)[1].split()[1] != me:
                continue
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if marker in cmdline:
            return int(entry)
    return None


def child_pids(parent: int | None = None) -> dict[int, str]:
    """Direct children of `parent` (default: this process) with their command lines."""
    parent = os.getpid() if parent is None else parent
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text(encoding="utf-8", errors="replace")
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("PPid:"):
                if int(line.split()[1]) == parent:
                    found[int(entry)] = cmdline.strip()
                break
    return found


def find_server_pid(marker: str, exclude: set[int] | None = None) -> int:
    """The pid of the one child process whose command line contains `marker`."""
    hits = [pid for pid, cmd in child_pids().items() if marker in cmd and pid not in (exclude or set())]
    if len(hits) != 1:
        raise RuntimeError(f"expected one child process matching {marker!r}, found {hits}")
    return hits[0]


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the peak resident set size of the process so far, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no VmHWM line")
