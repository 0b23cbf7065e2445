"""Tools called through the official MCP client, however it is connected (a process over stdio, or in memory):
a call that must succeed, a call that must be refused, and the text a result shows the model."""

from __future__ import annotations

import json
from typing import Any, cast

import anyio
from mcp import Client
from mcp_types import CallToolResult, TextContent

CALL_TIMEOUT = 120.0


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
    return cast("dict[str, Any]", data)


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail with a tool error; return the error text for the model."""
    with anyio.fail_after(CALL_TIMEOUT):
        result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} unexpectedly succeeded: {text_of(result)}"
    return text_of(result)
