"""Streamable HTTP: real requests on 127.0.0.1 against `storyfence serve --http`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from storyfence.commands import demo_script as s
from tests.support.http import TOKEN
from tests.support.http import http_server as serving
from tests.support.paths import tool_path
from tests.support.server import storyfence_argv

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
def http_server(example_repo: Path) -> Iterator[str]:
    with serving(example_repo) as url:
        yield url


def test_a_missing_or_wrong_token_is_refused(http_server: str) -> None:
    assert httpx2.post(http_server, json=INIT, headers=MCP_HEADERS, timeout=10).status_code == 401
    wrong = {**MCP_HEADERS, "Authorization": "Bearer not-the-token-at-all-0000"}
    response = httpx2.post(http_server, json=INIT, headers=wrong, timeout=10)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_foreign_origin_or_host_is_refused_even_with_the_token(http_server: str) -> None:
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"}
    evil_origin = httpx2.post(http_server, json=INIT, headers={**headers, "Origin": "http://evil.example"}, timeout=10)
    assert evil_origin.status_code == 403
    evil_host = httpx2.post(http_server, json=INIT, headers={**headers, "Host": "evil.example:80"}, timeout=10)
    assert evil_host.status_code in (403, 421)
    good = httpx2.post(http_server, json=INIT, headers=headers, timeout=10)
    assert good.status_code == 200


@pytest.mark.anyio
async def test_the_official_client_works_with_the_right_token(http_server: str) -> None:
    http_client = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
    async with http_client, Client(streamable_http_client(http_server, http_client=http_client)) as client:
        tools = await client.list_tools()
        assert "write_file" in {t.name for t in tools.tools}
        result = await client.call_tool("check_path", {"path": "apps/web/app/page.tsx", "story": s.STORY})
        assert result.structured_content is not None
        assert result.structured_content["rule"] == "no-react-components"


def test_a_non_loopback_bind_without_a_token_is_refused(example_repo: Path) -> None:
    result = subprocess.run(
        [*storyfence_argv(), "serve", "--http", "--host", "0.0.0.0", "--root", str(example_repo)],
        env={"PATH": tool_path()},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to bind the non-loopback address 0.0.0.0 without a token" in result.stderr
