"""Drive the real `storyfence serve` over stdio with the official MCP client."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import CallToolResult, TextContent

from tests.support.paths import tool_path

CALL_TIMEOUT = 120.0


def server_params(root: Path, *extra: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    base = {"PATH": tool_path(), "TURBO_TELEMETRY_DISABLED": "1"}
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "storyfence", "serve", "--root", str(root), "--log-level", "WARNING", *extra],
        env={**base, **(env or {})},
    )


@asynccontextmanager
async def connect(root: Path, *extra: str, env: dict[str, str] | None = None) -> AsyncIterator[Client]:
    # read_timeout_seconds bounds every request, the handshake included: a hung server fails the test
    async with Client(server_params(root, *extra, env=env), mode="legacy", read_timeout_seconds=CALL_TIMEOUT) as client:
        yield client


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured result."""
    with anyio.fail_after(CALL_TIMEOUT):
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {text_of(result)}"
    data = result.structured_content
    if data is None:
        data = json.loads(text_of(result))
    assert isinstance(data, dict)
    return data


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail with a tool error; return the error text for the model."""
    with anyio.fail_after(CALL_TIMEOUT):
        result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} unexpectedly succeeded: {text_of(result)}"
    return text_of(result)
