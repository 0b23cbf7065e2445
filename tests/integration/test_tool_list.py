"""The tools/list answer cached between runs (mcp/tool_list.py over app/code_cache.py): served byte for byte as the
SDK builds it, with the cache and without it; a tool still built by the SDK before its first call; a damaged,
foreign or mismatched entry never believed; any change to a source file or a version makes a new key."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from storyfence.app.code_cache import CodeCache
from storyfence.cli import make_service
from storyfence.mcp.roots import Binding
from storyfence.mcp.server import build_server
from storyfence.mcp.tool_list import _digest, schema_cache  # pyright: ignore[reportPrivateUsage]
from tests.support.client import call
from tests.support.repos import story_inputs, write_tree

pytestmark = pytest.mark.anyio

STORY = "STORY-001"
OLD = 1_600_000_000  # a source file's mtime well in the past, so the entry is not racy


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    files = {
        "packages/core/src/orders/order.ts": "export type Order = { id: string };\n",
        **story_inputs(STORY, scope="# Scope\n\n## In scope\n- `packages/core/src/orders/**`\n"),
    }
    return write_tree(tmp_path / "repo", files)


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A stand-in source tree whose files are old: the cache key follows their identity."""
    folder = tmp_path / "src"
    (folder / "pkg").mkdir(parents=True)
    for name in ("a.py", "pkg/b.py"):
        (folder / name).write_text("x = 1\n", encoding="utf-8")
        os.utime(folder / name, (OLD, OLD))
    return folder


def cache_for(sources: Path, folder: Path, version: str = "1") -> CodeCache:
    return CodeCache("tools", [sources], {"pydantic": version}, folder=folder)


def server(repo: Path, cache: CodeCache | None) -> Client:
    service = make_service(repo, None)
    return Client(build_server(Binding(repo, lambda r: make_service(r, None), service), cache))


async def listed(client: Client) -> str:
    """The tools/list answer as the client receives it, as JSON text."""
    async with client:
        with anyio.fail_after(30):
            result = await client.list_tools()
    return json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in result.tools])


async def test_the_listing_is_the_same_bytes_built_cached_and_uncached(
    repo: Path, sources: Path, tmp_path: Path
) -> None:
    cache = cache_for(sources, tmp_path / "cache")
    uncached = await listed(server(repo, None))
    first = await listed(server(repo, cache))  # builds every tool, writes the entry
    assert cache.load() is not None
    second = await listed(server(repo, cache_for(sources, tmp_path / "cache")))  # served from the entry
    assert uncached == first == second


async def test_a_tool_listed_from_the_cache_is_built_before_its_first_call(
    repo: Path, sources: Path, tmp_path: Path
) -> None:
    cache = cache_for(sources, tmp_path / "cache")
    await listed(server(repo, cache))
    async with server(repo, cache_for(sources, tmp_path / "cache")) as client:
        with anyio.fail_after(30):
            await client.list_tools()
            decision = await call(client, "check_path", path="packages/core/src/orders/cancel.ts")
            bad = await client.call_tool("check_path", {"path": 42})
    assert decision["allowed"] is True
    assert bad.is_error  # the arguments are validated by the tool the SDK built


def entry(cache: CodeCache) -> dict[str, Any]:
    return json.loads(cache.file.read_text(encoding="utf-8"))


def tools_of(e: dict[str, Any]) -> list[dict[str, Any]]:
    return e["value"]["tools"]


def with_tools(e: dict[str, Any], tools: object, *, digest: str | None = None) -> str:
    value = {"digest": digest if digest is not None else e["value"]["digest"], "tools": tools}
    return json.dumps({**e, "value": value})


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda e: "not json {", id="not-json"),
        pytest.param(lambda e: json.dumps([e]), id="not-an-object"),
        pytest.param(lambda e: json.dumps({**e, "value": tools_of(e)}), id="value-not-an-object"),
        pytest.param(lambda e: json.dumps({**e, "value": {**e["value"], "more": 1}}), id="extra-value-field"),
        pytest.param(lambda e: with_tools(e, {"tools": 1}), id="tools-not-a-list"),
        pytest.param(lambda e: with_tools(e, tools_of(e)[1:]), id="a-tool-missing"),
        pytest.param(
            lambda e: with_tools(e, [{**tools_of(e)[0], "description": "planted"}, *tools_of(e)[1:]]),
            id="another-description",
        ),
        pytest.param(lambda e: with_tools(e, [{"name": 3}], digest=_digest([{"name": 3}])), id="not-a-tool"),
        pytest.param(lambda e: with_tools(e, [], digest=_digest([])), id="no-tools"),
        pytest.param(
            lambda e: with_tools(e, [*tools_of(e), tools_of(e)[0]], digest=_digest([*tools_of(e), tools_of(e)[0]])),
            id="a-name-twice",
        ),
        pytest.param(lambda e: json.dumps({**e, "extra": 1}), id="extra-field"),
    ],
)
async def test_a_damaged_entry_is_ignored_and_rebuilt(repo: Path, sources: Path, tmp_path: Path, damage: Any) -> None:
    cache = cache_for(sources, tmp_path / "cache")
    good = await listed(server(repo, cache))
    cache.file.write_text(damage(entry(cache)), encoding="utf-8")
    assert await listed(server(repo, cache_for(sources, tmp_path / "cache"))) == good
    assert tools_of(entry(cache)) == json.loads(good)  # rewritten whole


async def test_a_listing_that_does_not_describe_the_tools_is_not_served_once_they_are_registered(
    repo: Path, sources: Path, tmp_path: Path
) -> None:
    cache = cache_for(sources, tmp_path / "cache")
    good = await listed(server(repo, cache))
    planted = [{**t, "description": "planted"} for t in tools_of(entry(cache))]
    cache.file.write_text(with_tools(entry(cache), planted, digest=_digest(planted)), encoding="utf-8")
    async with server(repo, cache_for(sources, tmp_path / "cache")) as client:
        with anyio.fail_after(30):
            await call(client, "check_path", path="packages/core/src/orders/cancel.ts")  # registers the tools
            after = await client.list_tools()
    wire = json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in after.tools])
    assert wire == good


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="file owners and modes")
async def test_an_entry_others_could_have_written_is_never_read(repo: Path, sources: Path, tmp_path: Path) -> None:
    cache = cache_for(sources, tmp_path / "cache")
    await listed(server(repo, cache))
    os.chmod(cache.file, 0o666)
    assert cache.load() is None
    os.chmod(cache.file, 0o600)
    os.chmod(cache.file.parent, 0o777)
    assert cache.load() is None


def test_any_change_to_a_source_file_or_a_version_is_a_new_key(sources: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cache_for(sources, folder).store(["listing"])
    assert cache_for(sources, folder).load() == ["listing"]  # the key, not the value, is what this checks
    assert cache_for(sources, folder, version="2").load() is None
    (sources / "pkg" / "b.py").write_text("x = 22\n", encoding="utf-8")
    os.utime(sources / "pkg" / "b.py", (OLD, OLD))
    assert cache_for(sources, folder).load() is None  # another size
    cache_for(sources, folder).store(["listing"])
    os.utime(sources / "pkg" / "b.py", (OLD + 1, OLD + 1))
    assert cache_for(sources, folder).load() is None  # another mtime
    cache_for(sources, folder).store(["listing"])
    (sources / "c.py").write_text("", encoding="utf-8")
    os.utime(sources / "c.py", (OLD, OLD))
    assert cache_for(sources, folder).load() is None  # a new file


def test_a_source_changed_just_now_is_not_cached_against(sources: Path, tmp_path: Path) -> None:
    (sources / "a.py").write_text("x = 3\n", encoding="utf-8")  # mtime: now
    cache = cache_for(sources, tmp_path / "cache")
    cache.store(["listing"])
    assert not cache.file.exists()


def test_the_served_key_covers_storyfence_the_sdk_and_pydantic(tmp_path: Path) -> None:
    key = schema_cache(tmp_path).key
    files = [str(f[0]) for f in key["files"]]  # type: ignore[union-attr]
    assert any(f.endswith("storyfence/mcp/server.py") for f in files)
    assert any(f.endswith("storyfence/app/results.py") for f in files)
    assert any(f.endswith("mcp/server/mcpserver/utilities/func_metadata.py") for f in files)
    assert any("mcp_types" in f for f in files)
    assert set(key["versions"]) == {"pydantic", "pydantic-core"}  # type: ignore[arg-type]


async def test_tools_called_before_the_first_listing_do_not_change_its_order(repo: Path) -> None:
    expected = await listed(server(repo, None))
    async with server(repo, None) as client:
        with anyio.fail_after(30):
            await call(client, "story_status", story=STORY)
            await call(client, "check_path", path="packages/core/src/orders/cancel.ts")
            after = await client.list_tools()
    assert json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in after.tools]) == expected
