"""Hostile input. In-process properties (hypothesis) over paths, edit lists and SCOPE.md text: the service
writes inside the root under an allowed path or raises a StoryfenceError, nothing else, and the disk outside
the root never changes. Over stdio: garbage, oversized and ill-typed JSON-RPC lines get errors and the server
keeps serving; a typecheck that floods 100 MB is capped and the server stays small."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scripts.stress import server_pid

from storyfence.adapters.policy_file import load_policy
from storyfence.app.service import StoryfenceService
from storyfence.app.writes import Edit
from storyfence.commands import demo_script as s
from storyfence.core.errors import StoryfenceError
from storyfence.core.journal import decode
from tests.conftest import tool_path
from tests.e2e.harness import call, connect

STORY = "STORY-001"
IMPL = f"{STORY}/_implementation"
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- in-process properties ---------------------------------------------------------------------------------


def snapshot(top: Path, skip: Path | None = None) -> dict[str, str]:
    """Every entry under `top` (but `skip`): files by content hash, links by target, directories by name."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        if skip is not None and Path(dirpath) == skip.parent:
            dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
        for name in [*filenames, *dirnames]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, top)
            if os.path.islink(full):
                out[rel] = "link->" + os.readlink(full)
            elif os.path.isdir(full):
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(Path(full).read_bytes()).hexdigest()
    return out


@dataclass
class World:
    """A repo with symlinks out of it, a git dir, an env file and a story; the service bound to it."""

    top: Path
    root: Path
    service: StoryfenceService

    def outside(self) -> dict[str, str]:
        return snapshot(self.top, skip=self.root)

    def guarded(self) -> dict[str, str]:
        return {rel: digest for rel, digest in snapshot(self.root).items() if rel.split(os.sep)[0] in (".git", ".env")}


@pytest.fixture
def world(tmp_path: Path) -> World:
    root = tmp_path / "repo"
    outside = tmp_path / "repo-evil"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside\n", encoding="utf-8")
    files = {
        "packages/core/src/a.ts": "export const a = 1;\n",
        "packages/core/src/orders/order.ts": "export type Order = { id: string };\n",
        ".env": "API_PORT=3001\n",
        ".git/config": "[core]\n",
        f"{STORY}/{STORY}.md": "# Story\n",
        f"{IMPL}/IMPLEMENTATION-PLAN.md": "# Plan\n",
        f"{IMPL}/SCOPE.md": "# Scope\nEverything backend.\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    os.symlink(outside, root / "packages/core/src/escape")
    os.symlink(outside / "secret.txt", root / "packages/core/src/link.ts")
    policy, sources = load_policy(root)
    service = StoryfenceService(root, policy, policy_paths=sources, use_ripgrep=False)
    service.begin_chunk(STORY, "hostile", "nothing lands outside")
    return World(top=tmp_path.resolve(), root=root.resolve(), service=service)


SEGMENTS = [
    *("..", ".", "", " ", "~", "*", "?", "[a]", "!x", "$HOME", "%2e%2e"),
    *(".git", ".GIT", ".Git", "HEAD", ".env", ".ENV", ".Env", ".env.local", ".ENV.LOCAL", "node_modules"),
    *("packages", "core", "src", "orders", "apps", "api", "__http__", "ui", "escape", "link.ts", "a.ts"),
    *(STORY, "_implementation", "BACKEND-LOG.md", "SCOPE.md", ".storyfence", "journal.jsonl", ".storyfence.toml"),
    *("x.http", "Button.tsx", "ﬁle.ts", "Ａ.ts", "a\u0301.ts", "\u202e.ts", "a\x00.ts", "a\n.ts", "\ud800.ts"),
    "\udc80.ts",
]
PREFIXES = ["", "", "/", "{root}/", "{outside}/", "./", "../", "{root}/../", "packages/core/src/orders/"]
PREFIXES += ["packages/core/src/", "packages/core/src/escape/", "__http__/", "apps/api/api/", ".git/", "//"]
segment = st.one_of(
    st.sampled_from(SEGMENTS),
    st.text(min_size=1, max_size=12),
    st.text(alphabet="aé漢😀", min_size=60, max_size=140),  # a name of more than 255 bytes, often
)
separator = st.sampled_from(["/", "/", "/", "//", "\\", "/./", "/../"])


ALLOWED_DIRS = [
    "packages/core/src/orders/",
    "packages/core/src/",
    "apps/api/api/",
    "__http__/",
    "{root}/packages/core/",
]


@st.composite
def hostile_paths(draw: st.DrawFn) -> str:
    """Half of the time one hostile name in an allowed folder (where a write gets furthest), else anything."""
    if draw(st.booleans()):
        return draw(st.sampled_from(ALLOWED_DIRS)) + draw(segment)
    parts = draw(st.lists(segment, min_size=1, max_size=6))
    seps = [draw(separator) for _ in parts[1:]]
    path = parts[0] + "".join(sep + part for sep, part in zip(seps, parts[1:], strict=True))
    return draw(st.sampled_from(PREFIXES)) + path


def inside(root: Path, rel: str) -> bool:
    real = os.path.realpath(root / rel)
    return real.startswith(str(root) + os.sep)


def holds_the_property(world: World, operation: Callable[[], Any]) -> Any:
    """Run one service call: it returns or raises a StoryfenceError; nothing outside the root changes."""
    outside, guarded = world.outside(), world.guarded()
    try:
        result = operation()
    except StoryfenceError:
        result = None
    assert world.outside() == outside
    assert world.guarded() == guarded
    return result


@PROPERTY
@given(path=hostile_paths(), content=st.text(max_size=40))
def test_a_hostile_write_path_lands_inside_the_root_under_an_allowed_path_or_raises_a_storyfence_error(
    world: World, path: str, content: str
) -> None:
    raw = path.replace("{root}", str(world.root)).replace("{outside}", str(world.top / "repo-evil"))
    result = holds_the_property(world, lambda: world.service.write_file(STORY, raw, content))
    if result is not None:
        rel = result.change.path
        assert inside(world.root, rel)
        assert not (world.root / rel).is_symlink()
        assert world.service.check_path(rel, STORY).allowed
        assert (world.root / rel).read_bytes() == content.encode("utf-8")


@PROPERTY
@given(path=hostile_paths())
def test_a_hostile_delete_or_read_path_never_escapes_and_never_raises_anything_else(world: World, path: str) -> None:
    raw = path.replace("{root}", str(world.root)).replace("{outside}", str(world.top / "repo-evil"))
    deleted = holds_the_property(world, lambda: world.service.delete_file(STORY, raw))
    if deleted is not None:
        assert inside(world.root, deleted.change.path)
        assert world.service.check_path(deleted.change.path, STORY).allowed
    read = holds_the_property(world, lambda: world.service.read_file(raw))
    if read is not None:
        assert inside(world.root, read.path)
    holds_the_property(world, lambda: world.service.check_path(raw, STORY))


def apply_edits(text: str, edits: list[Edit]) -> str | None:
    """What edit_file must produce: each old_text replaced where it occurs exactly once, else None."""
    for edit in edits:
        if text.count(edit.old_text) != 1:
            return None
        text = text.replace(edit.old_text, edit.new_text, 1)
    return text


@st.composite
def file_and_edits(draw: st.DrawFn) -> tuple[str, list[Edit]]:
    text = draw(st.text(min_size=1, max_size=60))
    edits: list[Edit] = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            start = draw(st.integers(0, len(text) - 1))
            old = text[start : draw(st.integers(start + 1, len(text)))]
        else:
            old = draw(st.text(min_size=1, max_size=6))
        new = draw(st.one_of(st.text(max_size=10), st.sampled_from(["\ud800", "// TODO later", "x" * 100])))
        edits.append(Edit(old_text=old, new_text=new))
    return text, edits


@PROPERTY
@given(case=file_and_edits())
def test_an_edit_list_applies_exactly_or_raises_a_storyfence_error_and_leaves_the_file_alone(
    world: World, case: tuple[str, list[Edit]]
) -> None:
    text, edits = case
    target = world.root / "packages/core/src/orders/edit-me.ts"
    target.write_bytes(text.encode("utf-8"))
    expected = apply_edits(text, edits)
    result = holds_the_property(
        world, lambda: world.service.edit_file(STORY, "packages/core/src/orders/edit-me.ts", edits)
    )
    if result is None:
        assert target.read_bytes() == text.encode("utf-8")  # refused: nothing written
    else:
        assert expected is not None
        assert result.applied == (expected != text)
        assert target.read_bytes() == expected.encode("utf-8")


scope_line = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["## In scope", "## Out of scope", "**In scope:**", "# Scope", "```", "~~~", "- `**`", "- `/`"]),
    st.builds(lambda g: f"- `{g}`", st.text(max_size=20)),
    st.builds(lambda g: f"- `{g}`", st.sampled_from(["packages/core/**", "**/.git/**", "../**", "!x", "[", "\\"])),
)
TRIED = ["packages/core/src/orders/new.ts", "packages/core/src/b.ts", "apps/api/api/x.ts", ".env", f"{IMPL}/SCOPE.md"]


@PROPERTY
@given(scope=st.lists(scope_line, max_size=12).map("\n".join), path=st.sampled_from(TRIED))
def test_any_scope_md_text_gives_allowed_writes_or_storyfence_errors_and_never_a_crash(
    world: World, scope: str, path: str
) -> None:
    (world.root / IMPL / "SCOPE.md").write_bytes(scope.encode("utf-8"))
    holds_the_property(world, lambda: world.service.read_story(STORY))
    result = holds_the_property(world, lambda: world.service.write_file(STORY, path, "export {};\n"))
    if result is not None:
        assert world.service.check_path(result.change.path, STORY).allowed
    assert (world.root / ".env").read_text(encoding="utf-8") == "API_PORT=3001\n"


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
    argv = [sys.executable, "-m", "storyfence", "serve", "--root", str(root), "--log-level", "WARNING"]
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
    root = tmp_path / "repo"
    for rel, text in {
        "packages/core/src/a.ts": "export const a = 1;\n",
        f"{STORY}/{STORY}.md": "# Story\n",
        f"{IMPL}/IMPLEMENTATION-PLAN.md": "# Plan\n",
        f"{IMPL}/SCOPE.md": "# Scope\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


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


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.mark.anyio
@pytest.mark.e2e
async def test_a_typecheck_that_floods_100_mb_is_capped_and_the_server_stays_small_and_responsive(
    example_repo: Path,
) -> None:
    root = example_repo
    policy = root.parent / "flood.toml"
    policy.write_text(f'[typecheck]\ncommand = ["node", "-e", {json.dumps(FLOOD)}, "{{package}}"]\n', encoding="utf-8")
    async with connect(root, "--policy", str(policy)) as client:
        pid = server_pid(root)
        assert pid is not None
        await call(client, "begin_chunk", story=s.STORY, name="flood", objective="cap the output")
        await call(client, "write_file", story=s.STORY, path="packages/core/src/orders/x.ts", content="export {};\n")
        baseline = peak_rss_mb(pid)
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
        peak = peak_rss_mb(pid)
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
