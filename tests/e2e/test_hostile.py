"""Hostile input over stdio: garbage, oversized and ill-typed JSON-RPC lines get errors and the server keeps
serving; a typecheck that floods 100 MB is capped and the server stays small. (The in-process properties over
paths, edit lists and SCOPE.md text are in tests/integration/test_hostile_input.py.)"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from storyfence.commands import demo_script as s
from storyfence.core.journal import decode
from tests.support.client import call
from tests.support.paths import tool_path
from tests.support.procfs import peak_rss_kib, server_pid
from tests.support.repos import story_inputs, write_tree
from tests.support.server import connect, serve_args, storyfence_argv

STORY = "STORY-001"
IMPL = f"{STORY}/_implementation"


# --- raw JSON-RPC on the real server's stdin ---------------------------------------------------------------


class RawServer:
    """The real server over pipes, spoken to in raw bytes (no client library to sanitise anything)."""

    def __init__(self, process: Process) -> None:
        self.process = process
        assert process.stdout is not None
        self.stdout = BufferedByteReceiveStream(process.stdout)
        self.next_id = 1000
        self.others: list[dict[str, Any]] = []  # messages that were not the answer waited for

    async def send(self, line: bytes) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(line + b"\n")

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.send(json.dumps(message).encode())
        return await self.answer(self.next_id)

    async def answer(self, wanted: int) -> dict[str, Any]:
        with anyio.fail_after(60):
            while True:
                line = await self.stdout.receive_until(b"\n", 64 * 1024 * 1024)
                message = json.loads(line)
                if message.get("id") == wanted:
                    return message
                self.others.append(message)

    async def tool(self, name: str, /, **arguments: Any) -> dict[str, Any]:
        answer = await self.request("tools/call", {"name": name, "arguments": arguments})
        return answer["result"]

    async def alive(self) -> None:
        """The process runs and answers a valid request."""
        assert self.process.returncode is None
        assert await self.request("ping") == {"jsonrpc": "2.0", "id": self.next_id, "result": {}}


@asynccontextmanager
async def raw_server(root: Path, log: Path) -> AsyncIterator[RawServer]:
    argv = [*storyfence_argv(), *serve_args(root)]
    with log.open("wb") as stderr:
        process = await anyio.open_process(argv, stderr=stderr, env={"PATH": tool_path(), "PYTHONWARNINGS": "ignore"})
        server = RawServer(process)
        try:
            init = await server.request(
                "initialize",
                {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
            )
            assert init["result"]["serverInfo"]["name"] == "storyfence"
            await server.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
            yield server
        finally:
            assert process.stdin is not None
            await process.stdin.aclose()
            with anyio.fail_after(30):
                await process.wait()


@pytest.fixture
def small_repo(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "repo", {"packages/core/src/a.ts": "export const a = 1;\n", **story_inputs(STORY)})


GARBAGE = [
    b"this is not json",
    b'{"jsonrpc":"2.0","id":',
    b"\xff\xfe\x00\x80 binary",
    b"[]",
    b"{}",
    b"null",
    b'"a string"',
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"nope"}',
    b'{"jsonrpc":"1.0","id":2,"method":"ping"}',
    b'{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}',
    b"x" * (10 * 1024 * 1024),
    b'{"jsonrpc":"2.0","id":3,"method":"' + b"m" * (10 * 1024 * 1024) + b'"}',
    b'{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"'
    + b"[" * (1024 * 1024)
    + b'"}}}',
]


@pytest.mark.anyio
@pytest.mark.e2e
async def test_garbage_and_oversized_json_rpc_lines_never_stop_the_server(small_repo: Path, tmp_path: Path) -> None:
    async with raw_server(small_repo, tmp_path / "stderr.log") as server:
        for line in GARBAGE:
            await server.send(line)
            await server.alive()
        # whatever the garbage got back, it was never a success
        answers = [m for m in server.others if "id" in m]
        assert all("error" in m or m.get("result", {}).get("isError") for m in answers), answers


@pytest.mark.anyio
@pytest.mark.e2e
async def test_ill_typed_and_oversized_tool_arguments_get_tool_errors_and_the_server_keeps_serving(
    small_repo: Path, tmp_path: Path
) -> None:
    async with raw_server(small_repo, tmp_path / "stderr.log") as server:
        await server.tool("begin_chunk", story=STORY, name="raw", objective="nothing lands")
        wrong = await server.tool("write_file", story=42, path=["x"], content=None)
        assert wrong["isError"] is True
        assert "validation error" in wrong["content"][0]["text"]
        offset = await server.tool("read_file", path="packages/core/src/a.ts", offset="many")
        assert offset["isError"] is True
        missing = await server.tool("write_file", story=STORY)
        assert missing["isError"] is True
        unknown = await server.request("tools/call", {"name": "no_such_tool", "arguments": {}})
        assert "error" in unknown or unknown["result"]["isError"] is True
        long_path = "packages/core/src/" + "a" * (10 * 1024 * 1024) + ".ts"
        too_long = await server.tool("write_file", story=STORY, path=long_path, content="x")
        assert too_long["isError"] is True
        assert "bytes long" in too_long["content"][0]["text"]
        read_long = await server.tool("read_file", path=long_path)
        assert "bytes long" in read_long["content"][0]["text"]
        await server.alive()
    records, _ = decode((small_repo / IMPL / ".storyfence/journal.jsonl").read_text(encoding="utf-8"))
    assert [r.event.type for r in records] == ["chunk_opened"]


@pytest.mark.anyio
@pytest.mark.e2e
async def test_a_lone_surrogate_escape_in_a_request_is_never_written_and_the_server_keeps_serving(
    small_repo: Path, tmp_path: Path
) -> None:
    async with raw_server(small_repo, tmp_path / "stderr.log") as server:
        await server.tool("begin_chunk", story=STORY, name="raw", objective="nothing lands")
        for rid, (path, content) in enumerate(
            [("packages/core/src/s.ts", "\\ud800"), ("packages/core/src/\\udc80.ts", "x")], start=500
        ):
            arguments = f'{{"story":"{STORY}","path":"{path}","content":"{content}"}}'
            await server.send(
                f'{{"jsonrpc":"2.0","id":{rid},"method":"tools/call","params":{{"name":"write_file",'
                f'"arguments":{arguments}}}}}'.encode()
            )
            await server.alive()
        # the SDK's JSON parser drops such a line without an answer; if it ever answers, it must be an error
        answers = [m for m in server.others if m.get("id") in (500, 501)]
        assert all("error" in m or m["result"]["isError"] for m in answers), answers
        status = await server.tool("story_status", story=STORY)
        assert status["structuredContent"]["chunks"][0]["files"] == []
    assert sorted(p.name for p in (small_repo / "packages/core/src").iterdir()) == ["a.ts"]


# --- a typecheck command that floods its output -----------------------------------------------------------

FLOOD_MB = 100
# 100 MB of tsc-like error lines, then an end marker; the command then holds on for 3 s before exiting 2
FLOOD = (
    "const b=Buffer.from('src/orders/x.ts(1,1): error TS2322: flooded output line, padded to be long.\\n'"
    ".repeat(4096));const total=" + str(FLOOD_MB) + "*1024*1024;let n=0;"
    "function w(){while(n<total){n+=b.length;if(!process.stdout.write(b)){process.stdout.once('drain',w);return;}}"
    "process.stdout.write('FLOOD-END '+n+'\\n',()=>setTimeout(()=>process.exit(2),3000));}w();"
)


@pytest.mark.anyio
@pytest.mark.e2e
async def test_a_typecheck_that_floods_100_mb_is_capped_and_the_server_stays_small_and_responsive(
    example_repo: Path,
) -> None:
    root = example_repo
    policy = root.parent / "flood.toml"
    # one flood: core's dependents would get a command each
    flood = f'[typecheck]\ncommand = ["node", "-e", {json.dumps(FLOOD)}, "{{package}}"]\ndependents = false\n'
    policy.write_text(flood, encoding="utf-8")
    async with connect(root, "--policy", str(policy)) as client:
        pid = server_pid(root)
        assert pid is not None
        await call(client, "begin_chunk", story=s.STORY, name="flood", objective="cap the output")
        await call(client, "write_file", story=s.STORY, path="packages/core/src/orders/x.ts", content="export {};\n")
        baseline = peak_rss_kib(pid) / 1024
        running = anyio.Event()
        answered: list[str] = []
        check: dict[str, Any] = {}

        async def progress(_progress: float, _total: float | None, _message: str | None) -> None:
            running.set()

        async def typecheck() -> None:
            result = await client.call_tool("run_typecheck", {"story": s.STORY}, progress_callback=progress)
            assert not result.is_error
            assert result.structured_content is not None
            check.update(result.structured_content)
            answered.append("run_typecheck")

        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                tg.start_soon(typecheck)
                await running.wait()
                status = await call(client, "story_status", story=s.STORY)  # while the command runs
                answered.append("story_status")
        peak = peak_rss_kib(pid) / 1024
    assert status["status"] == "open"
    assert answered == ["story_status", "run_typecheck"]
    [run] = check["runs"]
    assert run["outcome"] == "failed"
    assert len(run["output_tail"]) <= 4000
    end = re.search(r"FLOOD-END (\d+)", run["output_tail"])  # the whole flood was drained, the tail kept
    assert end is not None
    assert int(end[1]) >= FLOOD_MB * 1024 * 1024
    assert 1 <= len(run["diagnostics"]) <= 200
    # the 100 MB went through the server without being kept: its peak memory grew by far less than that
    assert peak - baseline < FLOOD_MB / 4, (baseline, peak)


@pytest.mark.anyio
@pytest.mark.e2e
async def test_an_undecodable_line_gets_the_json_rpc_error_it_is_owed(small_repo: Path, tmp_path: Path) -> None:
    async with raw_server(small_repo, tmp_path / "stderr.log") as server:
        await server.send(b"this is not json")
        await server.alive()
        await server.send(b'{"jsonrpc":"2.0","id":"bad-params","method":"tools/call","params":"nope"}')
        await server.alive()
        await server.send(b'{"no":"jsonrpc"}')
        await server.alive()
    errors = [(m["id"], m["error"]["code"]) for m in server.others if "error" in m]
    assert errors == [(None, -32700), ("bad-params", -32600), (None, -32600)]
