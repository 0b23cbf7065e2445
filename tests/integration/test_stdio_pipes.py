"""The loop-served stdio transport (mcp/pipes.py) on real pipes: lines split as a client may deliver them,
overlong lines refused, a reader that went away ends the session, and the process's fds 0 and 1 given back
as they were."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager, suppress

import anyio
import anyio.lowlevel
import pytest
from mcp_types import jsonrpc_message_adapter
from pydantic import ValidationError

from storyfence.mcp import pipes
from storyfence.mcp.stdio import PARSE_ERROR, error_for

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def reading(
    max_line: int = pipes.MAX_LINE, high_water: int = pipes.HIGH_WATER
) -> AsyncGenerator[tuple[int, pipes.Lines, asyncio.ReadTransport]]:
    """A real pipe whose read end the loop serves through `Lines`; yields the write end's fd and the transport."""
    read_fd, write_fd = os.pipe()
    lines = pipes.Lines(max_line, high_water)
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: lines, os.fdopen(read_fd, "rb", buffering=0)
    )
    try:
        yield write_fd, lines, transport
    finally:
        transport.close()
        with suppress(OSError):
            os.close(write_fd)


async def collect(lines: pipes.Lines) -> list[str]:
    with anyio.fail_after(10):
        return [line async for line in lines]


async def test_lines_split_across_writes_and_several_in_one_come_out_whole() -> None:
    async with reading() as (w, lines, _):
        os.write(w, b'{"a": 1}\n{"b"')
        os.write(w, b': 2}\n{"c": "caf\xc3')  # a UTF-8 character split between two writes
        os.write(w, b'\xa9"}\n\n{"d": 4}')  # an empty line, then a last line without its newline
        os.close(w)
        got = await collect(lines)
    assert got == ['{"a": 1}', '{"b": 2}', '{"c": "café"}', "", '{"d": 4}']


async def test_invalid_utf8_is_replaced_as_the_sdk_does() -> None:
    async with reading() as (w, lines, _):
        os.write(w, b'{"s": "\xff"}\n')
        os.close(w)
        assert await collect(lines) == ['{"s": "\ufffd"}']


async def test_an_overlong_line_is_dropped_and_becomes_a_parse_error_the_next_line_is_served() -> None:
    async with reading(max_line=64) as (w, lines, _):
        os.write(w, b"x" * 40)
        os.write(w, b"y" * 40)  # over the cap before its newline arrives: dropped up to the newline
        os.write(w, b"z" * 100 + b"\n" + b"ok\n" + b"w" * 65 + b"\nlast\n")  # one more overlong, complete line
        os.close(w)
        got = await collect(lines)
    assert got == [pipes.OVERLONG, "ok", pipes.OVERLONG, "last"]
    with pytest.raises(ValidationError) as decoding:  # what the SDK's transport does with the line
        jsonrpc_message_adapter.validate_json(pipes.OVERLONG, by_name=False)
    assert error_for(decoding.value).error.code == PARSE_ERROR  # the client is answered -32700


async def test_reading_pauses_past_the_high_water_mark_and_resumes_without_losing_a_line() -> None:
    sent = [f'{{"n": {n}, "pad": "{"p" * 200}"}}' for n in range(2000)]
    blob = ("\n".join(sent) + "\n").encode()
    got: list[str] = []
    async with reading(high_water=4096) as (w, lines, transport):
        os.write(w, blob[:16384])  # four times the mark, and nobody reads the lines yet
        with anyio.fail_after(10):
            while transport.is_reading():  # the loop takes what arrived, then stops reading the pipe
                await anyio.lowlevel.checkpoint()

        async def feed() -> None:
            for start in range(16384, len(blob), 7000):
                await anyio.to_thread.run_sync(os.write, w, blob[start : start + 7000])
            os.close(w)

        async with anyio.create_task_group() as tg:
            tg.start_soon(feed)
            got = await collect(lines)
    assert got == sent


async def test_a_stdout_whose_reader_went_away_refuses_writes_and_ends_the_lines() -> None:
    read_fd, write_fd = os.pipe()
    lines = pipes.Lines()
    drain = pipes.Drain(lines)
    transport, _ = await asyncio.get_running_loop().connect_write_pipe(
        lambda: drain, os.fdopen(write_fd, "wb", buffering=0)
    )
    out = pipes.Out(transport, drain)
    await out.write('{"first": true}\n')
    assert os.read(read_fd, 100) == b'{"first": true}\n'
    os.close(read_fd)
    with anyio.fail_after(10):
        while not drain.lost:
            await drain.wait()
    with pytest.raises(anyio.ClosedResourceError):
        await out.write('{"second": true}\n')
    assert await collect(lines) == []  # the session ends as on EOF
    transport.close()


async def test_usable_only_for_pipes_and_sockets() -> None:
    read_fd, write_fd = os.pipe()
    with tempfile.TemporaryFile() as regular:
        try:
            assert pipes.usable(read_fd, write_fd)
            assert not pipes.usable(regular.fileno(), write_fd)
            assert not pipes.usable(read_fd, regular.fileno())
            assert not pipes.usable(read_fd, 987654)  # not open
        finally:
            os.close(read_fd)
            os.close(write_fd)


CHILD = r"""
import asyncio, os, stat, sys
from storyfence.mcp import pipes
from storyfence.mcp.stdio import PARSE_ERROR, error_for

def ident(fd):
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)

before = (ident(0), ident(1))
null, err = ident(os.open(os.devnull, os.O_RDONLY)), ident(2)

async def main():
    assert pipes.usable()
    async with pipes.loop_stdio() as (lines, out):
        assert (ident(0), ident(1)) == (null, err), "fds 0 and 1 are not diverted while serving"
        async for line in lines:
            await out.write(line.upper() + "\n")
            await out.flush()

asyncio.run(main())
assert (ident(0), ident(1)) == before, "fds 0 and 1 are not given back"
assert os.get_blocking(0) and os.get_blocking(1), "fds 0 and 1 are left non-blocking"
sys.stderr.write("restored\n")
"""


def test_the_process_fds_are_diverted_while_serving_and_given_back_blocking_after() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], input=b"one\ntwo\n", capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b"ONE\nTWO\n"
    assert proc.stderr == b"restored\n"


def test_sockets_are_served_too_as_node_clients_give_them() -> None:
    """Node's child_process (Claude Code, the MCP inspector) gives a child socket pairs, not pipes."""
    stdin_ours, stdin_theirs = socket.socketpair()
    stdout_ours, stdout_theirs = socket.socketpair()
    with stdin_ours, stdin_theirs, stdout_ours, stdout_theirs:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdin=stdin_theirs.fileno(),
            stdout=stdout_theirs.fileno(),
            stderr=subprocess.PIPE,
        )
        stdin_theirs.close()
        stdout_theirs.close()
        stdin_ours.sendall(b"one\ntwo\n")
        stdin_ours.shutdown(socket.SHUT_WR)
        got = b""
        stdout_ours.settimeout(60)
        while chunk := stdout_ours.recv(4096):
            got += chunk
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert got == b"ONE\nTWO\n"
    assert err == b"restored\n"
