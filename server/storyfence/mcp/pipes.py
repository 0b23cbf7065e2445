"""stdin and stdout served by the event loop itself, when both are pipes or sockets (as an MCP client's are).

The SDK's stdio transport reads each line and writes each reply through a worker thread: two thread hops a
call, about a third of a millisecond on a small machine, paid by every tool call. Here the loop's own pipe
transports read and write the same descriptors without a thread. Lines are split as bytes and decoded as
UTF-8 with replacement, as the SDK does; a line longer than `MAX_LINE` is dropped, said on stderr and
answered as a parse error, where the SDK would buffer it whole. A stdout whose reader went away ends the
session as EOF on stdin does.

Anything else (a terminal, a regular file, Windows, a loop other than asyncio's) keeps the SDK's transport.
While serving, fd 0 reads the null device and fd 1 writes to stderr, as with the SDK, so children and stray
prints miss the wire; both are given back, in blocking mode, on exit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
from collections import deque
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager, suppress

import anyio

MAX_LINE = 64 * 1024 * 1024  # one JSON-RPC message; a larger one is refused, not buffered
HIGH_WATER = 4 * 1024 * 1024  # queued bytes read ahead before reading pauses
OVERLONG = ""  # what an overlong line becomes: not JSON, so the client gets -32700 (parse error)

log = logging.getLogger("storyfence")


def usable(fd_in: int = 0, fd_out: int = 1) -> bool:
    """Whether the loop can serve these descriptors: POSIX, asyncio running, and both a pipe or a socket."""
    if sys.platform == "win32":
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # another async library's loop
        return False
    for fd in (fd_in, fd_out):
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            return False
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            return False
    return True


class Lines(asyncio.Protocol):
    """Split what a read pipe delivers into lines; the async iterator of them, as text."""

    def __init__(self, max_line: int = MAX_LINE, high_water: int = HIGH_WATER) -> None:
        self._max_line = max_line
        self._high_water = high_water
        self._partial = bytearray()
        self._skipping = False  # inside an overlong line: dropped up to its newline
        self._lines: deque[bytes | None] = deque()  # None: an overlong line
        self._queued = 0
        self._ended = False
        self._waiter: asyncio.Future[None] | None = None
        self._transport: asyncio.ReadTransport | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.ReadTransport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        start = 0
        while (newline := data.find(b"\n", start)) >= 0:
            if self._skipping:
                self._skipping = False
            elif len(self._partial) + newline - start > self._max_line:
                self._partial.clear()
                self._overlong()
            elif self._partial:
                self._partial += data[start:newline]
                self._push(bytes(self._partial))
                self._partial.clear()
            else:
                self._push(data[start:newline])
            start = newline + 1
        if start < len(data) and not self._skipping:
            if len(self._partial) + len(data) - start > self._max_line:
                self._partial.clear()
                self._skipping = True
                self._overlong()
            else:
                self._partial += data[start:]
        self._wake()
        if self._queued > self._high_water and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def eof_received(self) -> bool:
        self.end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            log.warning("stdin failed (%s): the session ends", exc)
        self.end()

    def end(self) -> None:
        """No more lines: what is queued is still read, then the iteration stops (EOF, or stdout gone)."""
        if not self._ended:
            self._ended = True
            if self._partial and not self._skipping:  # a last line without its newline
                self._push(bytes(self._partial))
            self._partial.clear()
        self._wake()

    def _overlong(self) -> None:
        log.warning("a line of more than %d bytes on stdin was dropped and answered as a parse error", self._max_line)
        self._lines.append(None)

    def _push(self, line: bytes) -> None:
        self._lines.append(line)
        self._queued += len(line)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __aiter__(self) -> Lines:
        return self

    async def __anext__(self) -> str:
        while not self._lines:
            if self._ended:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        line = self._lines.popleft()
        if line is None:
            return OVERLONG
        self._queued -= len(line)
        if self._paused and self._queued <= self._high_water // 2 and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return line.decode("utf-8", errors="replace")


class Drain(asyncio.Protocol):
    """Flow control of a write pipe: writers wait while it is paused; a lost pipe is remembered, and ends
    `lines` (the session's input) when given."""

    def __init__(self, lines: Lines | None = None) -> None:
        self.paused = False
        self.lost = False
        self._waiters: list[asyncio.Future[None]] = []
        self._lines = lines

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._wake()
        if self._lines is not None:
            self._lines.end()

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter


class Out:
    """The text stream the SDK writes replies to: `write` and `flush`, both async."""

    def __init__(self, transport: asyncio.WriteTransport, drain: Drain) -> None:
        self._transport = transport
        self._drain = drain

    async def write(self, text: str) -> None:
        if self._drain.lost or self._transport.is_closing():
            raise anyio.ClosedResourceError  # the client stopped reading: the SDK's writer ends quietly
        self._transport.write(text.encode("utf-8"))
        while self._drain.paused and not self._drain.lost:
            await self._drain.wait()

    async def flush(self) -> None:
        """Nothing to do: the transport writes at once and buffers only what the pipe could not take."""


def _dup(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)


@asynccontextmanager
async def loop_stdio(fd_in: int = 0, fd_out: int = 1) -> AsyncGenerator[tuple[Lines, Out]]:
    """Serve the wire on fd_in and fd_out from the running loop; call only when `usable()`."""
    loop = asyncio.get_running_loop()
    wire_in, wire_out = _dup(fd_in), _dup(fd_out)
    diverted: list[tuple[int, int]] = []
    read: asyncio.ReadTransport | None = None
    write: asyncio.WriteTransport | None = None
    lines = Lines()
    drain = Drain(lines)
    try:
        for fd, wire, diversion in (
            (fd_in, wire_in, lambda: os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)),
            (fd_out, wire_out, lambda: _dup(2)),
        ):
            spare = diversion()
            try:
                os.dup2(spare, fd)
            finally:
                os.close(spare)
            diverted.append((fd, wire))
        read, _ = await loop.connect_read_pipe(lambda: lines, os.fdopen(_dup(wire_in), "rb", buffering=0))
        write, _ = await loop.connect_write_pipe(lambda: drain, os.fdopen(_dup(wire_out), "wb", buffering=0))
        yield lines, Out(write, drain)
    finally:
        if read is not None:
            read.close()
        if write is not None:
            write.close()  # sends what is still buffered, then closes its descriptor
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                while not drain.lost:
                    await drain.wait()
        for fd, wire in diverted:
            with suppress(OSError):
                os.set_blocking(wire, True)  # the transports made the shared description non-blocking
                os.dup2(wire, fd)
        for wire in (wire_in, wire_out):
            with suppress(OSError):
                os.close(wire)
