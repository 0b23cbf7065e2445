"""The official MCP client connected in memory to the server `storyfence serve --root ROOT` builds: no process,
no stdio, the repo's own policy (a .storyfence.toml, else the built-in one with the learned layout)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp import Client

from storyfence.cli import make_service
from storyfence.mcp.roots import Binding
from storyfence.mcp.server import build_server


def in_memory(root: Path, mode: str = "legacy", **options: Any) -> Client:
    """`mode="legacy"` speaks JSON-RPC with the initialize handshake over memory streams; `"auto"` dispatches
    each request directly (the 2026-07-28 per-request protocol). `options` are the Client's own (callbacks)."""
    service = make_service(root, None)
    return Client(build_server(Binding(root, lambda r: make_service(r, None), service)), mode=mode, **options)
