"""The three servers under test, started by the official MCP client over stdio."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import CallToolResult
from tests.support.client import text_of
from tests.support.server import open_client, server_params

from bench.env import FILESYSTEM_SERVER, server_env

BENCH_DIR = Path(__file__).resolve().parent
CALL_TIMEOUT = 300.0


def storyfence_params(root: Path) -> StdioServerParameters:
    """`storyfence serve --root ROOT` with the venv's console script (what a user's MCP config runs)."""
    return server_params(root, env=server_env(), console=True)


def bare_params() -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[str(BENCH_DIR / "bare_server.py")], env=server_env())


def filesystem_params(root: Path) -> StdioServerParameters:
    """The reference MCP filesystem server from npm, allowed the same root."""
    entry = FILESYSTEM_SERVER / "dist" / "index.js"
    if not entry.is_file():
        raise RuntimeError(f"{entry} is missing: run `npm ci --prefix tools/node` (make setup does)")
    return StdioServerParameters(command="node", args=[str(entry), str(root)], env=server_env())


def connect(params: StdioServerParameters, errlog: TextIO) -> Client:
    """The official client over stdio (initialize handshake, no client-side response cache); server stderr
    goes to `errlog` so the report stays readable."""
    return open_client(params, timeout=CALL_TIMEOUT, errlog=errlog, cache=None)


async def call(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {text_of(result)[:500]}")
    return result
