"""`storyfence serve --http` as a process on a free loopback port, for the tests that speak HTTP to it."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.paths import tool_path
from tests.support.server import storyfence_argv

TOKEN = "test-token-0123456789abcdef"  # a test token, long enough for the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)  # bounded by the deadline: the server is still binding
    raise AssertionError("server did not listen in time")


@contextmanager
def http_server(root: Path, *, token: str = TOKEN) -> Iterator[str]:
    """`storyfence serve --http --root ROOT` on a free port with STORYFENCE_TOKEN=token; yields its /mcp URL
    once it listens, and stops it afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        [*storyfence_argv(), "serve", "--http", "--port", str(port), "--root", str(root)],
        env={"PATH": tool_path(), "STORYFENCE_TOKEN": token, "TURBO_TELEMETRY_DISABLED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
