"""`storyfence serve` as a person first meets it: the help tells the truth about the root, a terminal is told
what the command waits for, a port in use is a clear error before anything is announced, and a stdio session
with default settings writes nothing to stderr for a client to show as an error."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
from pathlib import Path

import pytest
from mcp.client.stdio import StdioServerParameters

from tests.support.client import refused
from tests.support.paths import tool_path
from tests.support.repos import write_tree
from tests.support.server import open_client, run_cli, storyfence_argv

pytestmark = pytest.mark.e2e


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "repo", {"packages/core/src/a.ts": "export {};\n"})


def test_serve_help_says_where_the_root_comes_from_and_what_happens_without_one() -> None:
    result = run_cli("serve", "--help", env={"COLUMNS": "400"})
    assert result.returncode == 0
    assert "$STORYFENCE_ROOT" in result.stdout
    assert "the first root the client announces" in result.stdout
    assert "with neither every tool call fails" in result.stdout
    assert "current directory" not in result.stdout


def test_serve_in_a_terminal_says_on_stderr_that_it_waits_for_a_client_on_stdin(root: Path) -> None:
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [*storyfence_argv(), "serve", "--root", str(root)],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PATH": tool_path()},
    )
    try:
        assert proc.stderr is not None
        readable, _, _ = select.select([proc.stderr], [], [], 60)
        assert readable, "nothing on stderr"
        said = os.read(proc.stderr.fileno(), 4096).decode()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        os.close(controller)
        os.close(terminal)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert said.startswith("storyfence: serving MCP over stdio: waiting for an MCP client on stdin"), said
    assert "storyfence init" in said


def test_serve_http_on_a_port_in_use_is_a_clear_error_and_announces_nothing(root: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli(
            "serve", "--http", "--port", str(port), "--root", str(root), env={"STORYFENCE_TOKEN": "t" * 32}
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "another server is using it; pick another --port" in result.stderr
    assert "listening on" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.anyio
async def test_a_stdio_session_with_default_logging_writes_nothing_to_stderr(root: Path, tmp_path: Path) -> None:
    command, *args = storyfence_argv()
    params = StdioServerParameters(
        command=command, args=[*args, "serve", "--root", str(root)], env={"PATH": tool_path()}
    )
    errlog = tmp_path / "stderr.txt"
    with errlog.open("w", encoding="utf-8") as sink:
        async with open_client(params, errlog=sink) as client:
            await refused(client, "write_file", story="STORY-001", path=".env", content="x\n")
            await refused(client, "read_file", path="../etc/passwd")
    assert errlog.read_text(encoding="utf-8") == ""


@pytest.mark.anyio
async def test_a_second_start_from_the_same_files_serves_first_and_guards_as_the_first(tmp_path: Path) -> None:
    """Over real stdio: the first start loads and checks the policy before serving, the second (nothing changed)
    serves at once and loads it at the first call; both sessions get the same instructions and the same
    decisions on disk."""
    import time

    from tests.support.client import call
    from tests.support.repos import copy_example

    root = copy_example(tmp_path / "repo", node_modules=False)
    hour_ago = time.time() - 3600
    for folder, dirs, files in os.walk(root):  # a checkout, not a tree copied a moment ago
        for name in [*dirs, *files]:
            os.utime(os.path.join(folder, name), (hour_ago, hour_ago), follow_symlinks=False)
    command, *args = storyfence_argv()
    env = {"PATH": tool_path(), "STORYFENCE_CACHE_DIR": str(tmp_path / "cache")}
    params = StdioServerParameters(
        command=command, args=[*args, "serve", "--root", str(root), "--log-level", "INFO"], env=env
    )
    seen: list[tuple[str, str | None]] = []
    for n in (1, 2):
        errlog = tmp_path / f"stderr-{n}.txt"
        with errlog.open("w", encoding="utf-8") as sink:
            async with open_client(params, errlog=sink) as client:
                text = await refused(
                    client, "write_file", story="STORY-042", path="apps/web/components/X.tsx", content="x\n"
                )
                seen.append((text, client.instructions))
        assert not (root / "apps/web/components/X.tsx").exists()
    first_log, second_log = ((tmp_path / f"stderr-{n}.txt").read_text(encoding="utf-8") for n in (1, 2))
    assert "with policy" in first_log
    assert "passed its checks with these same files before" in second_log
    assert seen[0] == seen[1]
    assert seen[0][0].startswith("apps/web/components/X.tsx: refused by rule")
    async with open_client(params) as client:
        await call(client, "begin_chunk", story="STORY-042", name="n", objective="o")
        wrote = await call(
            client, "write_file", story="STORY-042", path="packages/core/src/orders/x.ts", content="export {};\n"
        )
    assert wrote["rule"]
    assert (root / "packages/core/src/orders/x.ts").read_text(encoding="utf-8") == "export {};\n"


def test_a_stdio_server_whose_client_stopped_reading_ends_its_session_without_a_traceback(root: Path) -> None:
    """The client closed the server's stdout but not its stdin (it crashed half way, or kept the pipe open by
    mistake): the session ends as on EOF instead of serving answers no one reads."""
    proc = subprocess.Popen(
        [*storyfence_argv(), "serve", "--root", str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PATH": tool_path()},
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        hello = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        proc.stdin.write((json.dumps(hello) + "\n").encode())
        proc.stdin.flush()
        assert b'"id":1' in proc.stdout.readline()
        proc.stdout.close()
        assert proc.wait(timeout=60) == 0
        assert b"Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stdin.close()
        proc.stderr.close()
