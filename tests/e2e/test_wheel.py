"""The install docs/clients.md gives, for real: a wheel built from this checkout by `python -m build`, installed
into a clean virtualenv (its dependencies from the package index, nothing from this checkout), decides paths with
the built-in policy it ships (`storyfence check`) and serves over stdio (the official client's initialize)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mcp.client.stdio import StdioServerParameters

from tests.support.paths import REPO, tool_path
from tests.support.repos import copy_example
from tests.support.server import open_client
from tests.support.surface import TOOLS

pytestmark = pytest.mark.e2e


def run(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600, cwd=cwd, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `storyfence` script of a clean virtualenv that has only the wheel (and its dependencies)."""
    work = tmp_path_factory.mktemp("wheel")
    built = run(sys.executable, "-m", "build", "--wheel", "--outdir", work / "dist", REPO, cwd=work)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    [wheel] = (work / "dist").glob("storyfence-*.whl")
    made = run(sys.executable, "-m", "venv", work / "venv", cwd=work)
    assert made.returncode == 0, made.stderr
    pip = run(work / "venv" / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, cwd=work)
    assert pip.returncode == 0, pip.stderr[-3000:]
    return work / "venv" / "bin" / "storyfence"


def test_the_installed_wheel_decides_paths_with_the_policy_it_ships(installed: Path, tmp_path: Path) -> None:
    root = copy_example(tmp_path / "repo", node_modules=False)
    result = run(
        installed, "check", "--root", root, "apps/web/app/page.tsx", "packages/core/src/orders/x.ts", cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr  # one of the two is refused
    lines = result.stdout.splitlines()
    assert lines[0].startswith("DENY  apps/web/app/page.tsx: refused by rule `no-react-components`")
    assert "backend.toml (built in)" in lines[0]
    assert lines[1].startswith("ALLOW packages/core/src/orders/x.ts")
    imported = run(installed.parent / "python", "-c", "import storyfence; print(storyfence.__file__)", cwd=tmp_path)
    assert str(installed.parent.parent) in imported.stdout  # the venv's copy, not this checkout's


@pytest.mark.anyio
async def test_the_installed_wheel_serves_over_stdio(installed: Path, tmp_path: Path) -> None:
    root = copy_example(tmp_path / "repo", node_modules=False)
    params = StdioServerParameters(
        command=str(installed), args=["serve", "--root", str(root)], env={"PATH": tool_path()}, cwd=str(tmp_path)
    )
    async with open_client(params) as client:
        listed = await client.list_tools()
    assert {tool.name for tool in listed.tools} == set(TOOLS)
