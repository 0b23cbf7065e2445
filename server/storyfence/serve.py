"""`storyfence serve`: the MCP server over stdio (or streamable HTTP), started as fast as it safely can be.

With --root, a root that is not a folder, or a policy that does not load or whose examples do not hold, stops
the start. A policy that passed every check at the last start, from files none of which changed since, is not
loaded before serving: the server answers the handshake and tools/list at once and loads and checks it in full
at the first call (adapters/start_cache.py). Without --root, the first client root is served.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, TypeVar

from storyfence import cli
from storyfence.core.errors import StoryfenceError

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from storyfence.app.service import StoryfenceService

T = TypeVar("T")


def start(root: Path, policy: str | None) -> tuple[StoryfenceService | None, str]:
    """`serve --root`'s start: the service, its policy loaded and checked (one that fails stops the start), and
    the server instructions for that policy. When the last start loaded this very policy from these very inputs
    and it passed (adapters/start_cache.py), only the instructions: the service is built, and the policy loaded
    and checked again, when the first call needs it."""
    from storyfence.adapters import start_cache

    if not root.is_dir():
        raise StoryfenceError(f"root {root} does not exist or is not a directory")
    real = os.path.realpath(root)
    known = start_cache.load(real, policy)
    if known is not None:
        return None, known
    from storyfence.adapters.reads import Reads
    from storyfence.mcp.prompts import instructions

    inputs = start_cache.inputs_before(real, policy)
    with Reads() as reads:
        service = cli.make_service(root, policy)
    text = instructions(service.policy)
    start_cache.save(real, policy, {**inputs, **reads.seen}, text)
    return service, text


def settled(value: T) -> T:
    """Move every object the server has made so far (its imports, its policy and service) out of the garbage
    collector's view: they live as long as the server. Otherwise a full collection, which the first read of a
    long story's journal sets off, walks all of them again (about 80 ms at a 2,000-write story)."""
    import gc

    gc.freeze()
    return value


def serving(explicit: Path | None, ready: StoryfenceService | None) -> str:
    """What the start line says is served, and how its policy was checked."""
    if ready is not None:
        return f"serving {ready.root} with policy {ready.policy_note()}"
    if explicit is not None:
        return (
            f"serving {explicit}; its policy passed its checks with these same files before, and is loaded and "
            "checked again at the first call"
        )
    return "serving the client's first root"


WAITING = (
    "storyfence: serving MCP over stdio: waiting for an MCP client on stdin (JSON-RPC, one message a line).\n"
    "  An MCP client starts this command itself: `storyfence init --claude-code` (or --client cursor, vscode)\n"
    "  writes its config; `storyfence demo` shows a session; Ctrl-C stops."
)


def serve(args: argparse.Namespace) -> int:
    # stdio carries JSON-RPC: every diagnostic goes to stderr, nothing else ever touches stdout. Clients show a
    # stdio server's stderr as errors (Claude Code: `[ERROR] Server stderr`), so stdio logs warnings and up
    import logging

    level = args.log_level or ("INFO" if args.http else "WARNING")
    logging.basicConfig(level=level, stream=sys.stderr, format="storyfence %(levelname)s %(message)s")
    from storyfence.mcp.roots import Binding
    from storyfence.mcp.server import build_server
    from storyfence.mcp.tool_list import schema_cache

    explicit = cli.explicit_root(args.root)
    # with --root, a bad root or policy fails now, at start; without it the first client root is used
    ready, instructions = start(explicit, args.policy) if explicit is not None else (None, None)
    binding = Binding(explicit, lambda root: settled(cli.make_service(root, args.policy)), ready)

    def engine() -> str:  # which search engine: said where it is shown (the search module loads with the note)
        from storyfence.adapters.search import engine_note, find_ripgrep

        return engine_note(ready.searcher.rg if ready is not None else find_ripgrep())

    log = logging.getLogger("storyfence")
    if log.isEnabledFor(logging.INFO):  # the note loads the search module (and the story use cases): only if shown
        log.info("%s; %s", serving(explicit, ready), engine())
    server = build_server(binding, schema_cache(), instructions, inline_writes=not args.http)
    settled(None)
    if args.http:
        from storyfence.mcp.http import serve_http

        serve_http(server, args.host, args.port)
    else:
        import anyio

        from storyfence.mcp.stdio import serve_stdio

        if sys.stdin.isatty():  # typed into a terminal: say what it waits for instead of printing nothing
            print(f"{WAITING}\n  {engine()}", file=sys.stderr, flush=True)
        anyio.run(serve_stdio, server)
    return 0
