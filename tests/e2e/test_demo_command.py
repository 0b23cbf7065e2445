"""`storyfence demo`, the installed command, as a new user runs it: without pnpm on PATH it uses the pnpm
`make setup` installed in the checkout and shows every step's result; without node it says what to install, in
one line, with no traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import NODE_BIN
from tests.support.server import storyfence_argv

pytestmark = pytest.mark.e2e

SYSTEM = "/usr/bin:/bin"  # what a shell has without the project's tools: sh, git, and no pnpm


def run_demo(path: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*storyfence_argv(console=True), "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": path, "TURBO_TELEMETRY_DISABLED": "1", "NO_COLOR": "1"},
        cwd=cwd,
        check=False,
    )


def test_the_demo_without_pnpm_on_path_runs_with_the_checkouts_pnpm_and_shows_every_step(tmp_path: Path) -> None:
    node = tmp_path / "bin"
    node.mkdir()
    (node / "node").symlink_to(NODE_BIN / "node")
    path = os.pathsep.join([str(node), SYSTEM])
    assert shutil.which("pnpm", path=path) is None
    result = run_demo(path, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    out = result.stdout
    assert "Traceback" not in out + result.stderr
    # every call is followed by its result: a refusal (✗) or what it did (✓)
    lines = out.splitlines()
    calls = [i for i, line in enumerate(lines) if line.startswith("  → ")]
    assert len(calls) == 18
    for i in calls:
        assert lines[i + 1].startswith(("  ✓ ", "  ✗ refused: ")), lines[i : i + 2]
    assert "  ✓ packages/core/src/index.ts edited in chunk 1" in lines
    assert "  ✓ apps/api/api/orders/[id]/cancel.ts created (rule api-endpoints)" in lines
    assert "  ✓ __http__/orders-cancel.http created (rule http-requests)" in lines
    assert out.rstrip().endswith("BACKEND COMPLETE")


def test_the_demo_without_node_says_what_to_install_and_prints_no_traceback(tmp_path: Path) -> None:
    result = run_demo(str(tmp_path / "empty"), tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("storyfence demo: node is not on PATH: install Node 20 or newer"), result.stderr
    assert "Traceback" not in result.stderr
