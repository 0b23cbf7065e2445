"""Each client config `storyfence init` writes is followed as the client would: its command is started
over stdio with the official client, in the folder the client starts it from, and must serve the repo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from mcp.client.stdio import StdioServerParameters

from storyfence.commands import demo_script as s
from tests.support.client import call
from tests.support.paths import tool_path
from tests.support.server import open_client, run_cli

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

# (file, key holding the servers, how the client expands ${workspaceFolder})
CONFIGS = [
    (".mcp.json", "mcpServers", "claude-code"),
    (".cursor/mcp.json", "mcpServers", "cursor"),
    (".vscode/mcp.json", "servers", "vscode"),
]


def run_init(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("init", "--root", str(root), *args, timeout=60)


@pytest.mark.parametrize(("config", "key", "client"), CONFIGS)
async def test_the_config_init_writes_starts_a_server_that_serves_the_repo(
    example_repo: Path, config: str, key: str, client: str
) -> None:
    done = run_init(example_repo, "--client", client)
    assert done.returncode == 0, done.stderr
    entry: dict[str, Any] = json.loads((example_repo / config).read_text(encoding="utf-8"))[key]["storyfence"]
    args = [str(a).replace("${workspaceFolder}", str(example_repo)) for a in entry["args"]]
    params = StdioServerParameters(
        command=entry["command"], args=args, env={"PATH": tool_path()}, cwd=str(example_repo)
    )
    async with open_client(params) as session:
        story = await call(session, "read_story", story=s.STORY)
        assert story["folder"] == s.STORY
        decision = await call(session, "check_path", path="apps/web/app/page.tsx")
        assert decision["rule"] == "no-react-components"


async def test_the_claude_desktop_snippet_init_prints_starts_a_server_from_anywhere(
    example_repo: Path, tmp_path: Path
) -> None:
    done = run_init(example_repo, "--client", "claude-desktop")
    assert done.returncode == 0, done.stderr
    start = done.stdout.index("{")
    snippet, _ = json.JSONDecoder().raw_decode(done.stdout[start:])
    entry = snippet["mcpServers"]["storyfence"]
    assert Path(entry["command"]).is_absolute()
    params = StdioServerParameters(
        command=entry["command"], args=entry["args"], env={"PATH": tool_path()}, cwd=str(tmp_path)
    )
    async with open_client(params) as session:
        story = await call(session, "read_story", story=s.STORY)
        assert story["folder"] == s.STORY
