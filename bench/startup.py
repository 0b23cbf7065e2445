"""Why a server starts slower than the bare SDK server: import times (-X importtime) and start-up phases."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import serve_args

from bench.env import server_env
from bench.servers import BENCH_DIR

_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def _importtime(argv: list[str]) -> dict[str, tuple[int, int]]:
    """{module: (self µs, cumulative µs)} of one interpreter run that exits at EOF on stdin."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=server_env(),
        check=False,
        timeout=120,
    )
    found: dict[str, tuple[int, int]] = {}
    for line in proc.stderr.decode(errors="replace").splitlines():
        m = _LINE.match(line)
        if m:
            found[m.group(4)] = (int(m.group(1)), int(m.group(2)))
    return found


def _median_profile(argv: list[str], runs: int) -> dict[str, int]:
    samples: dict[str, list[int]] = defaultdict(list)
    for _ in range(runs):
        for module, (self_us, _) in _importtime(argv).items():
            samples[module].append(self_us)
    return {m: int(statistics.median(v)) for m, v in samples.items()}


def _group(module: str) -> str:
    """The top-level package, e.g. `yaml` for `yaml.reader`."""
    return module.split(".")[0]


def import_report(root: Path, runs: int = 5, top: int = 12) -> list[str]:
    """What `storyfence serve` imports on top of the bare SDK server, from `python -X importtime`."""
    sf = _median_profile(["-m", "storyfence", *serve_args(root)], runs)
    bare = _median_profile([str(BENCH_DIR / "bare_server.py")], runs)
    extra = {m: us for m, us in sf.items() if m not in bare}
    groups: dict[str, int] = defaultdict(int)
    for module, us in extra.items():
        groups[_group(module)] += us
    lines = [
        f"python -X importtime, median of {runs} runs each (self time summed over all modules):",
        f"  storyfence serve: {sum(sf.values()) / 1000:.0f} ms in {len(sf)} modules; bare SDK server: "
        f"{sum(bare.values()) / 1000:.0f} ms in {len(bare)} modules; storyfence's extra {len(extra)} modules: "
        f"{sum(extra.values()) / 1000:.0f} ms",
        "  the extra modules by package (self time):",
    ]
    for name, us in sorted(groups.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"    {us / 1000:6.1f} ms  {name}")
    lines.append("  the costliest extra modules:")
    for name, us in sorted(extra.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"    {us / 1000:6.1f} ms  {name}")
    return lines


@dataclass(frozen=True)
class Probe:
    phases: dict[str, float]
    tools: int
    tools_list_bytes: int


def _probe(argv: list[str]) -> Probe:
    proc = subprocess.run(
        [sys.executable, str(BENCH_DIR / "startup_probe.py"), *argv],
        capture_output=True,
        env=server_env(),
        check=True,
        timeout=120,
    )
    data = json.loads(proc.stdout)
    phases = {str(k): float(v) for k, v in dict(data["phases"]).items()}
    return Probe(phases=phases, tools=int(data["tools"]), tools_list_bytes=int(data["tools_list_bytes"]))


def phase_report(root: Path, runs: int = 5) -> list[str]:
    """Each start-up phase in a fresh interpreter (median of `runs`), storyfence next to the bare server."""
    results: dict[str, list[Probe]] = {"storyfence": [], "bare": []}
    for _ in range(runs):
        results["storyfence"].append(_probe(["storyfence", str(root)]))
        results["bare"].append(_probe(["bare"]))
    lines = [f"start-up phases in a fresh interpreter, median of {runs} runs (bench/startup_probe.py):"]
    for name, probes in results.items():
        phases: dict[str, list[float]] = defaultdict(list)
        for probe in probes:
            for phase, ms in probe.phases.items():
                phases[phase].append(ms)
        total = sum(statistics.median(v) for v in phases.values())
        last = probes[-1]
        lines.append(f"  {name}: {total:.0f} ms in all; {last.tools} tools, tools/list {last.tools_list_bytes:,} B")
        for phase, values in phases.items():
            lines.append(f"    {statistics.median(values):7.1f} ms  {phase}")
    return lines
