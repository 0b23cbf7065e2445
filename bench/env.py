"""Where the tools are, the PATH the benchmark and its servers use, and what machine it runs on."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from tests.support.paths import EXAMPLES, NODE_BIN, REPO

VENV_BIN = REPO / ".venv" / "bin"
FILESYSTEM_SERVER = REPO / "tools" / "node" / "node_modules" / "@modelcontextprotocol" / "server-filesystem"


def setup_environment() -> None:
    """Put the venv (rg, storyfence) and the pinned Node tools (pnpm) first on PATH, as `make bench` does."""
    parts = [str(Path(sys.executable).parent), str(VENV_BIN), str(NODE_BIN)]
    inherited = os.environ.get("PATH") or os.defpath  # a bare environment still finds node and git
    rest = [p for p in inherited.split(os.pathsep) if p and p not in parts]
    os.environ["PATH"] = os.pathsep.join(dict.fromkeys(parts + rest))
    os.environ["TURBO_TELEMETRY_DISABLED"] = "1"
    server_src = str(REPO / "server")
    if server_src not in sys.path:
        sys.path.append(server_src)  # only used when storyfence is not installed in this interpreter


def server_env() -> dict[str, str]:
    """Extra environment for every server the benchmark starts (the SDK adds HOME, USER and the like)."""
    return {"PATH": os.environ["PATH"], "TURBO_TELEMETRY_DISABLED": "1"}


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    except OSError as exc:
        return f"unavailable ({exc.strerror})"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _dist(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _package_version(path: Path) -> str:
    try:
        return str(json.loads((path / "package.json").read_text())["version"])
    except (OSError, KeyError, ValueError):
        return "not installed"


def machine_info() -> list[tuple[str, str]]:
    from storyfence.adapters.search import find_ripgrep

    rg = find_ripgrep() or "rg"
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    examples_modules = EXAMPLES / "node_modules"
    return [
        ("cpu", _cpu_model()),
        ("cores", f"{os.cpu_count()} logical, {affinity} usable"),
        ("memory", _mem_total()),
        ("os", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("mcp (python sdk)", _dist("mcp")),
        ("pydantic", _dist("pydantic")),
        ("storyfence", _dist("storyfence")),
        ("node", _first_line(["node", "--version"])),
        ("pnpm", _first_line(["pnpm", "--version"])),
        ("ripgrep", _first_line([rg, "--version"])),
        ("server-filesystem (npm)", _package_version(FILESYSTEM_SERVER)),
        (
            "turbo / typescript (examples)",
            f"{_package_version(examples_modules / 'turbo')} / {_package_version(examples_modules / 'typescript')}",
        ),
    ]


def load_average() -> str:
    """1/5/15-minute load: other work on the machine during the run shows up here (and as noise)."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"
