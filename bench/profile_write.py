"""Why write_file costs what it does: the in-process service call alone, as the story journal grows, and a
cProfile of where the time goes (storyfence's own functions and the I/O it waits on)."""

from __future__ import annotations

import cProfile
import pstats
import statistics
import time
from pathlib import Path
from typing import cast

from bench.trees import STORY, ts_payload
from storyfence.adapters.policy_file import load_builtin
from storyfence.app.service import StoryfenceService

TARGET = "packages/core/src/orders/bench-profile.ts"
WINDOWS = ((0, 20), (80, 100), (280, 300))


def _growth(root: Path, content: str, calls: int) -> list[str]:
    service = StoryfenceService(root, load_builtin())
    service.begin_chunk(STORY, "bench growth", "time the write path as the journal grows")
    times: list[float] = []
    for _ in range(calls):
        started = time.perf_counter()
        service.write_file(STORY, TARGET, content)
        times.append((time.perf_counter() - started) * 1000.0)
    lines = ["in-process StoryfenceService.write_file (4 KB, no MCP), median per call by journal size:"]
    for a, b in WINDOWS:
        if b <= len(times):
            median = statistics.median(times[a:b])
            lines.append(f"    calls {a + 1:>3}-{b:<3} (journal ~{a + 2}-{b + 1} records): {median:.2f} ms")
    return lines


def _profile(root: Path, content: str, calls: int, top: int) -> list[str]:
    service = StoryfenceService(root, load_builtin())
    service.begin_chunk(STORY, "bench profile", "profile the write path")
    for _ in range(2):
        service.write_file(STORY, TARGET, content)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        service.write_file(STORY, TARGET, content)
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw = cast("dict[tuple[str, int, str], tuple[int, int, float, float, object]]", stats.stats)  # type: ignore[attr-defined]
    entries: list[tuple[float, float, float, str]] = []
    per_call = 1000.0 / calls  # seconds over all calls -> ms per write_file call
    for (filename, line, func), (_, ncalls, tottime, cumtime, _) in raw.items():
        short = short_name(filename)
        if short is not None:
            entries.append((cumtime * per_call, tottime * per_call, ncalls / calls, f"{short}:{line}({func})"))
    lines = [
        f"cProfile of {calls} calls on a fresh story (journal 4-{calls + 3} records, a typical chunk; the profiler "
        "inflates pure-Python frames), per write_file call:"
    ]
    for cum, own, ncalls, name in sorted(entries, reverse=True)[:top]:
        lines.append(f"    {cum:6.2f} ms cum  {own:6.2f} ms self  {ncalls:6.1f} calls  {name}")
    return lines


def write_report(fresh: Path, grown: Path, calls: int = 300, top: int = 20) -> list[str]:
    """`fresh` and `grown` are two private copies of the example repo (each gets its own story journal)."""
    content = ts_payload(4096)
    return [*_growth(grown, content, calls), *_profile(fresh, content, 50, top)]


def short_name(filename: str) -> str | None:
    """storyfence's own files and the few library hot spots worth naming; None for the rest."""
    if "/storyfence/" in filename:
        return "storyfence/" + filename.split("/storyfence/", 1)[1]
    for lib in ("pathspec", "pydantic", "json", "dataclasses"):
        if f"/{lib}/" in filename or filename.endswith(f"/{lib}.py"):
            return lib + "/" + filename.rsplit("/", 1)[1]
    if filename == "~":
        return "builtin"
    return None
