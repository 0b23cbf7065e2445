"""What the server mirrors into the client's log (`notifications/message`), at the level the client asked for.

A server that sends log notifications declares the logging capability and honours `logging/setLevel` (MCP
2025-11-25): the SDK declares the capability only when a handler for that method is registered, so it is
registered here. The 2026-07-28 revision removed the method (each request carries its own log level, which
the SDK applies), so the handler serves clients of the older revisions only.
"""

from __future__ import annotations

import contextlib
import warnings
import weakref
from typing import Any, get_args

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import EmptyResult, LoggingLevel, SetLevelRequestParams

LEVELS: tuple[LoggingLevel, ...] = get_args(LoggingLevel)
"""Least to most severe, as the spec orders them."""


def _connection(session: object) -> object:
    # the SDK builds a session object per request; the level a client sets holds for its whole connection
    return getattr(session, "_connection", session)


class ClientLog:
    """The level each connection asked for (default: everything), and the one way to log to a client."""

    def __init__(self) -> None:
        # keyed by the connection object itself: a closed connection's entry goes with it
        self._levels: weakref.WeakKeyDictionary[object, LoggingLevel] = weakref.WeakKeyDictionary()

    def register(self, server: MCPServer) -> None:
        """Serve `logging/setLevel` (and so declare the logging capability) on `server`."""

        async def set_level(ctx: ServerRequestContext[Any], params: SetLevelRequestParams) -> EmptyResult:
            self._levels[_connection(ctx.session)] = params.level
            return EmptyResult()

        lowlevel = server._lowlevel_server  # pyright: ignore[reportPrivateUsage]
        lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)

    def wants(self, session: object, level: LoggingLevel) -> bool:
        wanted = self._levels.get(_connection(session), LEVELS[0])
        return LEVELS.index(level) >= LEVELS.index(wanted)

    async def tell(self, ctx: Context, level: LoggingLevel, message: str) -> None:
        """Mirror `message` into the client's log when it wants that level; best effort, never an error."""
        if not self.wants(ctx.session, level):
            return
        with contextlib.suppress(Exception), warnings.catch_warnings():  # logging to the client is best effort
            warnings.simplefilter("ignore")  # deprecated in the newest protocol; older clients still show it
            await ctx.log(level, message, logger_name="storyfence")  # pyright: ignore[reportDeprecated]
