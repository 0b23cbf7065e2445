"""Over stdio, the real server answers an unknown tool or prompt with JSON-RPC error -32602 (invalid params)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from tests.support.server import open_client, server_params

pytestmark = pytest.mark.anyio

INVALID_PARAMS = -32602


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "packages/core/src").mkdir(parents=True)
    return tmp_path


@pytest.mark.e2e
async def test_over_stdio_the_real_client_gets_invalid_params_for_an_unknown_tool_and_prompt(root: Path) -> None:
    async with open_client(server_params(root)) as client:
        with pytest.raises(MCPError) as tool:
            await client.call_tool("no_such_tool", {})
        assert tool.value.code == INVALID_PARAMS
        with pytest.raises(MCPError) as prompt:
            await client.get_prompt("no-such-prompt", {})
        assert prompt.value.code == INVALID_PARAMS
        # and a known tool still answers
        listed = await client.list_tools()
        assert "read_file" in {t.name for t in listed.tools}
