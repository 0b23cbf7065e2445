"""Every tool's refusal reaches the model starting with what was refused and why (the rule, the story, the
workflow step), never with the SDK's `Error executing tool <name>: ` prefix: over stdio, and over HTTP in both
protocol modes, with the official client against a real server process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from storyfence.commands import demo_script as s
from tests.support.client import refused
from tests.support.http import TOKEN, http_server
from tests.support.server import connect
from tests.support.surface import TOOLS

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

UNKNOWN = "STORY-999"
LOG_FIELDS = {
    "summary": "s",
    "reuse": {"reused": "a", "new": "b", "why_new": "c"},
    "ports_adapters": {"core": "c", "adapters": "a"},
    "notes_risks": "none",
}
# each tool, a call it refuses, and how the refusal must begin
REFUSALS: dict[str, tuple[dict[str, Any], str]] = {
    "read_file": ({"path": ".env"}, ".env: refused by rule `no-secret-reads`"),
    "list_files": ({"path": "../"}, "../: refused by rule `confinement`"),
    "search_code": ({"pattern": "x", "path": "../"}, "../: refused by rule `confinement`"),
    "check_path": ({"path": "a.ts", "story": UNKNOWN}, f"unknown story {UNKNOWN}"),
    "read_story": ({"story": UNKNOWN}, f"unknown story {UNKNOWN}"),
    "story_status": ({"story": UNKNOWN}, f"unknown story {UNKNOWN}"),
    "begin_chunk": ({"story": UNKNOWN, "name": "n", "objective": "o"}, f"unknown story {UNKNOWN}"),
    "write_file": ({"story": s.STORY, "path": ".env", "content": "x"}, ".env: refused by rule `no-env-files`"),
    "edit_file": (
        {"story": s.STORY, "path": ".env", "edits": [{"old_text": "a", "new_text": "b"}]},
        ".env: refused by rule `no-env-files`",
    ),
    "delete_file": ({"story": s.STORY, "path": ".env"}, ".env: refused by rule `no-env-files`"),
    "restore_file": ({"story": UNKNOWN, "path": "a.ts"}, f"unknown story {UNKNOWN}"),
    "run_typecheck": ({"story": s.STORY}, "run_typecheck refused in state IDLE"),
    "append_chunk_log": ({"story": s.STORY, **LOG_FIELDS}, "append_chunk_log refused in state IDLE"),
    "report_blocker": ({"story": UNKNOWN, "reason": "r", "details": "d"}, f"unknown story {UNKNOWN}"),
    "complete_story": ({"story": s.STORY}, "complete_story refused in state IDLE"),
}


@asynccontextmanager
async def client_over(transport: str, root: Path) -> AsyncIterator[Client]:
    if transport == "stdio":
        async with connect(root) as client:
            yield client
        return
    mode = transport.removeprefix("http-")
    with http_server(root) as url:
        http_client = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
        async with http_client, Client(streamable_http_client(url, http_client=http_client), mode=mode) as client:
            yield client


def test_every_tool_has_a_refusal_here() -> None:
    assert set(REFUSALS) == set(TOOLS)


@pytest.mark.parametrize("transport", ["stdio", "http-legacy", "http-auto"])
async def test_every_refusal_starts_with_the_rule_not_with_the_sdks_prefix(example_repo: Path, transport: str) -> None:
    async with client_over(transport, example_repo) as client:
        for tool, (arguments, start) in REFUSALS.items():
            text = await refused(client, tool, **arguments)
            assert not text.startswith("Error executing tool"), (tool, text)
            assert text.startswith(start), (tool, text)
