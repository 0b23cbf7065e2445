"""Run in a fresh interpreter: time each phase from import to a tools/list result, printed as JSON.

`python bench/startup_probe.py storyfence ROOT` or `python bench/startup_probe.py bare`. For storyfence it
runs the real `storyfence serve` command line with the event loop's entry (`anyio.run`, and `MCPServer.run`)
replaced by a catch of the server it would serve, so every phase is the server's own code path, without relying
on its internal function names.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# modules `storyfence serve` loads lazily; imported up front so their cost is a phase of its own
SERVE_MODULES = (
    "storyfence.mcp.server",
    "storyfence.mcp.roots",
    "storyfence.mcp.tool_list",
    "storyfence.adapters.start_cache",
    "storyfence.serve",
)


def _timed(phases: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    value = fn()
    phases[name] = (time.perf_counter() - started) * 1000.0
    return value


def _import_all(names: tuple[str, ...]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            continue  # renamed or gone: its cost then lands in the next phase


def main() -> None:
    import anyio

    phases: dict[str, float] = {}
    which = sys.argv[1]
    _timed(phases, "import the SDK (mcp.server.mcpserver)", lambda: importlib.import_module("mcp.server.mcpserver"))
    from mcp.server.mcpserver import MCPServer

    if which == "bare":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        module = _timed(
            phases, "import bare_server (MCPServer + 1 tool)", lambda: importlib.import_module("bare_server")
        )
        server: MCPServer = module.server
    else:
        caught: list[MCPServer] = []

        def catch(self: MCPServer, *args: object, **kwargs: object) -> None:
            del args, kwargs
            caught.append(self)

        def catch_loop(*args: object, **kwargs: object) -> None:
            del kwargs
            caught.extend(a for a in args if isinstance(a, MCPServer))

        cli = _timed(phases, "import storyfence.cli", lambda: importlib.import_module("storyfence.cli"))
        _timed(
            phases,
            "import what serve loads (mcp server, roots, tool list, start cache)",
            lambda: _import_all(SERVE_MODULES),
        )
        MCPServer.run = catch  # type: ignore[method-assign]
        run_loop = anyio.run
        anyio.run = catch_loop  # type: ignore[assignment]  # serve hands the server to the event loop
        argv = ["serve", "--root", sys.argv[2], "--log-level", "WARNING"]
        _timed(phases, "serve up to serving (start cache or policy, tool registration)", lambda: cli.main(argv))
        anyio.run = run_loop
        server = caught[0]

    tools = _timed(phases, "list_tools (first call)", lambda: anyio.run(server.list_tools))
    payload = _timed(
        phases,
        "serialize the tools/list result",
        lambda: json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]),
    )
    print(json.dumps({"phases": phases, "tools": len(tools), "tools_list_bytes": len(payload)}))


if __name__ == "__main__":
    main()
