"""storyfence as a process: the CLI run to its end, and `storyfence serve` over stdio with the official MCP client
connected to it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.support.client import CALL_TIMEOUT
from tests.support.paths import tool_path


def console_script() -> Path | None:
    """The `storyfence` script installed beside this interpreter (what a user's MCP config runs), if any."""
    script = Path(sys.executable).parent / "storyfence"
    return script if script.exists() else None


def storyfence_argv(*, console: bool = False) -> list[str]:
    """The command that runs storyfence: this interpreter with `-m storyfence`, or with console=True the
    installed script when there is one."""
    script = console_script() if console else None
    return [str(script)] if script is not None else [sys.executable, "-m", "storyfence"]


def serve_args(root: Path, *extra: str, log_level: str = "WARNING") -> list[str]:
    """The arguments of `storyfence serve --root ROOT` (after the command itself)."""
    return ["serve", "--root", str(root), "--log-level", log_level, *extra]


def server_params(
    root: Path,
    *extra: str,
    env: Mapping[str, str] | None = None,
    log_level: str = "WARNING",
    console: bool = False,
) -> StdioServerParameters:
    """`storyfence serve --root ROOT EXTRA...` for the stdio client. The server's environment is the PATH of
    tool_path() and no turbo telemetry, then `env` on top."""
    command, *args = [*storyfence_argv(console=console), *serve_args(root, *extra, log_level=log_level)]
    return StdioServerParameters(
        command=command,
        args=args,
        env={"PATH": tool_path(), "TURBO_TELEMETRY_DISABLED": "1", **(env or {})},
    )


def open_client(
    params: StdioServerParameters, *, timeout: float = CALL_TIMEOUT, errlog: TextIO | None = None, **options: Any
) -> Client:
    """The official client for the server `params` starts, with the initialize handshake. `timeout` bounds every
    request, the handshake included, so a hung server fails instead of hanging; the server's stderr goes to
    `errlog` (default: ours). `options` are the Client's own (callbacks, cache)."""
    server = stdio_client(params, errlog=errlog) if errlog is not None else params
    return Client(server, mode="legacy", read_timeout_seconds=timeout, **options)


@asynccontextmanager
async def connect(root: Path, *extra: str, env: Mapping[str, str] | None = None) -> AsyncGenerator[Client]:
    """A real `storyfence serve --root ROOT` over stdio with the official client connected to it."""
    async with open_client(server_params(root, *extra, env=env)) as client:
        yield client


def run_cli(
    *args: str, timeout: float = 120, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `storyfence ARGS...` to its end with this interpreter: output captured as text, the PATH of
    tool_path() and `env` as its whole environment, never raising on the exit code."""
    return subprocess.run(
        [*storyfence_argv(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": tool_path(), **(env or {})},
        cwd=cwd,
        check=False,
    )
