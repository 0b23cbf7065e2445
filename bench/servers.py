"""The three servers under test, started by the official MCP client over stdio, and their processes."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult, TextContent

from bench.env import FILESYSTEM_SERVER, server_env

BENCH_DIR = Path(__file__).resolve().parent
CALL_TIMEOUT = 300.0


def storyfence_params(root: Path) -> StdioServerParameters:
    """`storyfence serve --root ROOT` with the venv's console script (what a user's MCP config runs)."""
    exe = Path(sys.executable).parent / "storyfence"
    command, args = (str(exe), []) if exe.exists() else (sys.executable, ["-m", "storyfence"])
    return StdioServerParameters(
        command=command,
        args=[*args, "serve", "--root", str(root), "--log-level", "WARNING"],
        env=server_env(),
    )


def bare_params() -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[str(BENCH_DIR / "bare_server.py")], env=server_env())


def filesystem_params(root: Path) -> StdioServerParameters:
    """The reference MCP filesystem server from npm, allowed the same root."""
    entry = FILESYSTEM_SERVER / "dist" / "index.js"
    if not entry.is_file():
        raise RuntimeError(f"{entry} is missing: run `npm ci --prefix tools/node` (make setup does)")
    return StdioServerParameters(command="node", args=[str(entry), str(root)], env=server_env())


@asynccontextmanager
async def connect(params: StdioServerParameters, errlog: TextIO) -> AsyncGenerator[Client]:
    """The official client over stdio (initialize handshake, no client-side response cache); server stderr
    goes to `errlog` so the report stays readable."""
    transport = stdio_client(params, errlog=errlog)
    async with Client(transport, mode="legacy", read_timeout_seconds=CALL_TIMEOUT, cache=None) as client:
        yield client


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def call(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {text_of(result)[:500]}")
    return result


# --- processes ----------------------------------------------------------------------------------------------


def child_pids(parent: int | None = None) -> dict[int, str]:
    """Direct children of `parent` (default: this process) with their command lines, from /proc."""
    parent = os.getpid() if parent is None else parent
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("PPid:"):
                if int(line.split()[1]) == parent:
                    found[int(entry)] = cmdline.strip()
                break
    return found


def find_server_pid(marker: str, exclude: set[int] | None = None) -> int:
    """The pid of the one server child whose command line contains `marker`."""
    hits = [pid for pid, cmd in child_pids().items() if marker in cmd and pid not in (exclude or set())]
    if len(hits) != 1:
        raise RuntimeError(f"expected one child process matching {marker!r}, found {hits}")
    return hits[0]


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the peak resident set size of the process so far, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no VmHWM line")
