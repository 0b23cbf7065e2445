"""A second real client: the MCP Inspector CLI (npm, `--cli` mode) lists the tools and calls one."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import NODE_BIN, tool_path
from tests.support.server import storyfence_argv

pytestmark = pytest.mark.e2e
INSPECTOR = NODE_BIN / "mcp-inspector"


def inspector(root: Path, *method: str) -> dict[str, object]:
    if not INSPECTOR.exists():
        pytest.fail("the MCP Inspector is missing from tools/node: run `make setup`")
    result = subprocess.run(
        [str(INSPECTOR), "--cli", *storyfence_argv(), "serve", "--root", str(root), *method],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": tool_path()},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_the_inspector_cli_lists_the_tools(example_repo: Path) -> None:
    listed = inspector(example_repo, "--method", "tools/list")
    tools = listed["tools"]
    assert isinstance(tools, list)
    names = {tool["name"] for tool in tools}
    assert {"read_story", "write_file", "run_typecheck", "append_chunk_log", "complete_story"} <= names


def test_the_inspector_cli_calls_check_path_and_gets_the_rule(example_repo: Path) -> None:
    result = inspector(
        example_repo, "--method", "tools/call", "--tool-name", "check_path", "--tool-arg", "path=apps/web/app/page.tsx"
    )
    assert result["isError"] is False
    structured = result["structuredContent"]
    assert isinstance(structured, dict)
    assert structured["allowed"] is False
    assert structured["rule"] == "no-react-components"
