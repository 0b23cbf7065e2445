"""stdio serving with JSON-RPC error answers for lines the SDK cannot decode.

The SDK's stdio transport drops a line that is not valid JSON or not a JSON-RPC message without a reply,
so a client waits for its own timeout. Here such a line gets the JSON-RPC 2.0 answer it is owed: -32700
(parse error) or -32600 (invalid request, with the request's id when it could be read). The server
keeps serving either way.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, cast

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage
from mcp_types import ErrorData
from mcp_types.jsonrpc import JSONRPCError
from pydantic import ValidationError

from storyfence.mcp import pipes

PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def error_for(exc: Exception) -> JSONRPCError:
    """The JSON-RPC error answering an undecodable line: invalid request for JSON that is not a message MCP
    accepts, else parse error."""
    errors = exc.errors() if isinstance(exc, ValidationError) else []
    if isinstance(exc, ValidationError) and not any(e["type"] == "json_invalid" for e in errors):
        request_id = next((i for i in (_request_id(e.get("input")) for e in errors) if i is not None), None)
        return JSONRPCError(
            jsonrpc="2.0",
            id=request_id,
            error=ErrorData(code=INVALID_REQUEST, message="Invalid Request: not a JSON-RPC 2.0 message MCP accepts"),
        )
    return JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=PARSE_ERROR, message="Parse error"))


def _request_id(value: object) -> int | str | None:
    """The id of a decoded-but-invalid request, when it has a usable one."""
    if not isinstance(value, dict):
        return None
    found = cast("dict[str, object]", value).get("id")
    return found if isinstance(found, (int, str)) and not isinstance(found, bool) else None


class AnsweringReader:
    """A read stream that answers the transport's decode failures instead of passing them on."""

    def __init__(self, inner: ReadStream[SessionMessage | Exception], write: WriteStream[SessionMessage]) -> None:
        self._inner = inner
        self._write = write

    def __getattr__(self, name: str) -> Any:  # e.g. last_context, read by the dispatcher
        return getattr(self._inner, name)

    async def receive(self) -> SessionMessage | Exception:
        while True:
            item = await self._inner.receive()
            if not isinstance(item, Exception):
                return item
            await self._write.send(SessionMessage(error_for(item)))  # pyright: ignore[reportArgumentType]

    def __aiter__(self) -> AnsweringReader:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except Exception as exc:
            if type(exc).__name__ in ("EndOfStream", "ClosedResourceError"):
                raise StopAsyncIteration from None
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> AnsweringReader:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc_val: BaseException | None, exc_tb: TracebackType | None
    ) -> bool | None:
        return await self._inner.__aexit__(exc_type, exc_val, exc_tb)


async def serve_stdio(server: MCPServer) -> None:
    """Serve over stdin and stdout: from the event loop when both are pipes or sockets (mcp/pipes.py), else
    through the SDK's threaded transport."""
    if pipes.usable():
        async with pipes.loop_stdio() as (lines, out):
            await _serve(server, cast("anyio.AsyncFile[str]", lines), cast("anyio.AsyncFile[str]", out))
    else:
        await _serve(server, None, None)


async def _serve(server: MCPServer, stdin: anyio.AsyncFile[str] | None, stdout: anyio.AsyncFile[str] | None) -> None:
    lowlevel = server._lowlevel_server  # pyright: ignore[reportPrivateUsage]
    async with stdio_server(stdin, stdout) as (read_stream, write_stream):
        await lowlevel.run(
            AnsweringReader(read_stream, write_stream), write_stream, lowlevel.create_initialization_options()
        )
