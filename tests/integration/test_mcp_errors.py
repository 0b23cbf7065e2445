"""Protocol errors the way the MCP spec says: an unknown tool or prompt is JSON-RPC error -32602 (invalid params),
not a tool result with isError, not code 0 or -32603, and nothing is logged at ERROR for it."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from storyfence.cli import make_service
from storyfence.mcp.roots import Binding
from storyfence.mcp.server import build_server

pytestmark = pytest.mark.anyio

INVALID_PARAMS = -32602
MODES = ["legacy", "auto"]  # the 2025-11-25 handshake, and the 2026-07-28 per-request protocol


def in_memory(root: Path, mode: str) -> Client:
    service = make_service(root, None)
    return Client(build_server(Binding(root, lambda r: make_service(r, None), service)), mode=mode)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "packages/core/src").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize("mode", MODES)
async def test_an_unknown_tool_is_invalid_params_not_a_tool_result(
    root: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with in_memory(root, mode) as client:
        with anyio.fail_after(30), pytest.raises(MCPError) as raised:
            await client.call_tool("no_such_tool", {})
    assert raised.value.code == INVALID_PARAMS
    assert "no_such_tool" in raised.value.message
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("mode", MODES)
async def test_an_unknown_prompt_is_invalid_params_and_logs_no_traceback(
    root: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with in_memory(root, mode) as client:
        with anyio.fail_after(30), pytest.raises(MCPError) as raised:
            await client.get_prompt("no-such-prompt", {})
        assert raised.value.code == INVALID_PARAMS
        assert "no-such-prompt" in raised.value.message
        with anyio.fail_after(30), pytest.raises(MCPError) as missing:
            await client.get_prompt("implement-backend", {})
        assert missing.value.code == INVALID_PARAMS
        assert "story" in missing.value.message
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
