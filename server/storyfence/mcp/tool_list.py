"""The tools, registered and built by the SDK only when first used; the tools/list answer served from a cache
of the schemas the SDK built the last time the same code ran.

Building a typed tool means importing its result models and the use cases behind them, then pydantic
generating its argument model, validator and input and output JSON schemas: for fifteen tools that is most of
a start-up's own work, and the answer depends on the code alone. So the listing is cached (app.code_cache:
keyed by the identity of every source file of storyfence, the SDK's server and types packages, and the
pydantic versions), and the tools are registered (mcp/tools.py imported) when one is first called, each
built through the SDK's own `add_tool`, its output schema then inlined (mcp/schemas.py). A cached listing must
match the digest stored with it and validate as the SDK's Tool type, one per name; otherwise every tool is
built and the listing made, and cached, again.
Once the tools are registered, a listing that does not name them, in order, with their descriptions and
annotations, is never served.
"""

from __future__ import annotations

import hashlib
import json
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
from storyfence.mcp.schemas import inline_refs

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


def _digest(tools: list[Any]) -> str:
    return hashlib.sha256(json.dumps(tools, sort_keys=True).encode("utf-8")).hexdigest()


def _wire(tool: MCPTool) -> dict[str, Any]:
    return tool.model_dump(mode="json", by_alias=True, exclude_none=True)


class DeferredTools:
    """Tools added to `server` on first use, in registration order; the listing from `cache` when it holds."""

    def __init__(self, server: MCPServer, cache: CodeCache | None) -> None:
        self._server = server
        self._cache = cache
        self._register: Callable[[], None] | None = None
        self._registered: dict[str, Registered] = {}
        self._pending: set[str] = set()
        self._listing: list[MCPTool] | None = None

    def registers(self, register: Callable[[], None]) -> None:
        """`register()` adds every tool (through `add`); it is called when a tool is first needed."""
        self._register = register

    def add(self, fn: Callable[..., Any], description: str, annotations: ToolAnnotations) -> None:
        self._registered[fn.__name__] = Registered(fn, description, annotations)
        self._pending.add(fn.__name__)

    def _registered_tools(self) -> dict[str, Registered]:
        if self._register is not None:
            register, self._register = self._register, None
            register()
            if self._listing is not None and not self._matches(self._listing):
                self._listing = None  # a cached listing that does not describe these tools is not served again
        return self._registered

    def build(self, name: str) -> None:
        """Let the SDK build the tool `name` now, if it exists and is not built yet."""
        registered = self._registered_tools().get(name)
        if registered is not None and name in self._pending:
            self._pending.discard(name)
            self._server.add_tool(registered.fn, description=registered.description, annotations=registered.annotations)
            tool = self._server._tool_manager.get_tool(name)  # pyright: ignore[reportPrivateUsage]
            if tool is not None and tool.fn_metadata.output_schema is not None:
                # read live by the SDK: listed (and cached) inlined, so a client checks results without references
                tool.fn_metadata.output_schema = inline_refs(tool.fn_metadata.output_schema)

    def build_all(self) -> None:
        for name in list(self._registered_tools()):
            self.build(name)

    def cached_listing(self) -> list[MCPTool] | None:
        """The tools/list answer from the cache (read once), when it can be trusted; else None."""
        if self._listing is None:
            self._listing = self._cached()
        return None if self._listing is None else list(self._listing)

    def remember(self, listing: list[MCPTool]) -> list[MCPTool]:
        """The listing the SDK built from every tool, in registration order (the SDK lists them in the order
        they were built, which the first calls decide): served from now on, cached for the next run."""
        order = {name: index for index, name in enumerate(self._registered)}
        listing = sorted(listing, key=lambda t: order.get(t.name, len(order)))
        self._listing = list(listing)
        if self._cache is not None:
            tools = [_wire(t) for t in listing]
            self._cache.store({"digest": _digest(tools), "tools": tools})
        return listing

    def _matches(self, tools: list[MCPTool]) -> bool:
        if [t.name for t in tools] != list(self._registered):
            return False
        return all(
            t.description == self._registered[t.name].description
            and t.annotations == self._registered[t.name].annotations
            for t in tools
        )

    def _cached(self) -> list[MCPTool] | None:
        if self._cache is None:
            return None
        raw = self._cache.load()
        if not isinstance(raw, dict):
            return None
        entry = cast("dict[str, object]", raw)
        listing = entry.get("tools")
        if set(entry) != {"digest", "tools"} or not isinstance(listing, list):
            return None
        if entry["digest"] != _digest(cast("list[object]", listing)):
            return None  # damaged since it was written
        try:
            tools = [MCPTool.model_validate(item) for item in cast("list[object]", listing)]
        except Exception:  # a damaged entry is rebuilt, whatever the error
            return None
        names = [t.name for t in tools]
        if not names or len(set(names)) != len(names):
            return None
        if self._register is None and not self._matches(tools):
            return None
        return tools
