"""The tools, registered by function and built by the SDK only when first used; the tools/list answer served
from a cache of the schemas the SDK built the last time the same code ran.

Building a typed tool means pydantic generating its argument model, validator and input and output JSON
schemas: for fifteen tools that is most of a start-up's own work, and the result depends on the code alone.
So the listing is cached (app.code_cache: keyed by every source file of storyfence, the SDK's server and types
packages and the pydantic versions), and a tool is built through the SDK's own `add_tool` on its first call.
A cached listing is used only when it validates as the SDK's Tool type and names the registered tools, in
order, with the same descriptions and annotations; otherwise every tool is built and the listing made again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import mcp.server.mcpserver
import mcp_types
import pydantic
import pydantic_core
from mcp.server.mcpserver import MCPServer
from mcp_types import Tool as MCPTool
from mcp_types import ToolAnnotations

import storyfence
from storyfence.app.code_cache import CodeCache

CACHE_NAME = "tools"


@dataclass(frozen=True)
class Registered:
    fn: Callable[..., Any]
    description: str
    annotations: ToolAnnotations


def schema_cache(folder: Path | None = None) -> CodeCache:
    """The cache of the tools/list answer for the code installed here."""
    sources = [
        Path(storyfence.__file__).resolve().parent,
        Path(mcp.server.mcpserver.__file__).resolve().parent,
        Path(mcp_types.__file__).resolve().parent,
    ]
    versions = {"pydantic": pydantic.VERSION, "pydantic-core": pydantic_core.__version__}
    return CodeCache(CACHE_NAME, sources, versions, folder=folder)


def _wire(tool: MCPTool) -> dict[str, Any]:
    return tool.model_dump(mode="json", by_alias=True, exclude_none=True)


class DeferredTools:
    """Tools added to `server` on first use, in registration order; the listing from `cache` when it holds."""

    def __init__(self, server: MCPServer, cache: CodeCache | None) -> None:
        self._server = server
        self._cache = cache
        self._registered: dict[str, Registered] = {}
        self._pending: set[str] = set()
        self._order: list[str] = []
        self._listing: list[MCPTool] | None = None

    def add(self, fn: Callable[..., Any], description: str, annotations: ToolAnnotations) -> None:
        self._registered[fn.__name__] = Registered(fn, description, annotations)
        self._pending.add(fn.__name__)
        self._order.append(fn.__name__)

    def known(self, name: str) -> bool:
        return name in self._order

    def build(self, name: str) -> None:
        """Let the SDK build the tool `name` now, if it is registered and not built yet."""
        if name in self._pending:
            self._pending.discard(name)
            registered = self._registered[name]
            self._server.add_tool(registered.fn, description=registered.description, annotations=registered.annotations)

    def cached_listing(self) -> list[MCPTool] | None:
        """The tools/list answer from the cache (read once), when it matches these tools; else None."""
        if self._listing is None:
            self._listing = self._cached()
        return None if self._listing is None else list(self._listing)

    def build_all(self) -> None:
        for name in self._order:
            self.build(name)

    def remember(self, listing: list[MCPTool]) -> None:
        """The listing the SDK built from every tool: served from now on, and cached for the next run."""
        self._listing = list(listing)
        if self._cache is not None:
            self._cache.store([_wire(t) for t in listing])

    def _cached(self) -> list[MCPTool] | None:
        if self._cache is None:
            return None
        raw = self._cache.load()
        if not isinstance(raw, list):
            return None
        try:
            tools = [MCPTool.model_validate(item) for item in cast("list[object]", raw)]
        except Exception:  # a damaged entry is rebuilt, whatever the error
            return None
        if [t.name for t in tools] != self._order:
            return None
        for tool in tools:
            registered = self._registered[tool.name]
            if tool.description != registered.description or tool.annotations != registered.annotations:
                return None
        return tools
