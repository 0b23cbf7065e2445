"""The MCP surface in memory: the official client connected to `build_server(...)` as `storyfence serve` builds it,
with no process and no stdio. Tools with their annotations, a refused and an allowed write, a read, the policy
resource and the prompt; protocol errors the way the MCP spec says (an unknown tool or prompt is JSON-RPC error
-32602, invalid params, not a tool result with isError, not code 0 or -32603, and nothing is logged at ERROR for
it). No typecheck runs, so nothing here needs pnpm."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import TextResourceContents

from tests.support.client import call, refused
from tests.support.in_memory import in_memory
from tests.support.repos import story_inputs, write_tree
from tests.support.surface import TOOLS

pytestmark = pytest.mark.anyio

INVALID_PARAMS = -32602
MODES = ["legacy", "auto"]  # the 2025-11-25 handshake, and the 2026-07-28 per-request protocol
STORY = "STORY-001"
ORDER = "export type Order = { id: string; status: 'pending' | 'cancelled' };\n"
CANCEL = (
    "import type { Order } from './order';\n\n"
    "export const cancel = (order: Order): Order => ({ ...order, status: 'cancelled' });\n"
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A backend package, a frontend component, an env file and a story whose scope is the orders folder."""
    files = {
        "packages/core/src/orders/order.ts": ORDER,
        "apps/web/components/OrderList.tsx": "export const OrderList = () => null;\n",
        ".env": "API_PORT=3001\n",
        **story_inputs(STORY, scope="# Scope\n\n## In scope\n- `packages/core/src/orders/**`\n"),
    }
    return write_tree(tmp_path / "repo", files)


@pytest.mark.parametrize("mode", MODES)
async def test_tools_list_gives_every_tool_its_annotations_and_schemas(repo: Path, mode: str) -> None:
    async with in_memory(repo, mode) as client:
        with anyio.fail_after(30):
            listed = await client.list_tools()
    tools = {tool.name: tool for tool in listed.tools}
    assert set(tools) == set(TOOLS)
    for name, (read_only, destructive) in TOOLS.items():
        annotations = tools[name].annotations
        assert annotations is not None, name
        assert (annotations.read_only_hint, annotations.destructive_hint) == (read_only, destructive), name
        assert annotations.open_world_hint is False, name  # every tool stays inside the repo
        schema = tools[name].output_schema
        assert schema is not None, name
        # references inlined (mcp/schemas.py): the client checks every result against this schema
        assert "$ref" not in json.dumps(schema), name
        assert "$defs" not in schema, name
    assert tools["write_file"].input_schema["required"] == ["story", "path", "content"]
    assert tools["write_file"].output_schema["properties"]["change"]["properties"]["kind"]["enum"] == [  # pyright: ignore[reportOptionalSubscript]
        "created",
        "modified",
        "deleted",
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_a_refused_write_is_a_tool_error_that_starts_with_the_rule_and_writes_nothing(
    repo: Path, mode: str
) -> None:
    async with in_memory(repo, mode) as client:
        await call(client, "begin_chunk", story=STORY, name="cancel", objective="AC1: cancel an order")
        env = await refused(client, "write_file", story=STORY, path=".env", content="API_PORT=4000\n")
        component = "apps/web/components/CancelButton.tsx"
        react = await refused(client, "write_file", story=STORY, path=component, content="export {};\n")
    assert env.startswith(".env: refused by rule `no-env-files`"), env
    assert react.startswith(f"{component}: refused by rule `no-react-components`"), react
    assert "Instead:" in react
    assert (repo / ".env").read_text(encoding="utf-8") == "API_PORT=3001\n"
    assert not (repo / component).exists()


@pytest.mark.parametrize("mode", MODES)
async def test_an_allowed_write_lands_on_disk_and_names_its_rule(repo: Path, mode: str) -> None:
    path = "packages/core/src/orders/cancel.ts"
    async with in_memory(repo, mode) as client:
        await call(client, "begin_chunk", story=STORY, name="cancel", objective="AC1: cancel an order")
        written = await call(client, "write_file", story=STORY, path=path, content=CANCEL)
        status = await call(client, "story_status", story=STORY)
    assert (written["change"]["path"], written["change"]["kind"], written["rule"]) == (path, "created", "core-package")
    assert written["bytes"] == len(CANCEL.encode())
    assert (repo / path).read_text(encoding="utf-8") == CANCEL
    assert [f["path"] for f in status["chunks"][0]["files"]] == [path]


@pytest.mark.parametrize("mode", MODES)
async def test_read_file_returns_the_lines_and_refuses_a_secret(repo: Path, mode: str) -> None:
    async with in_memory(repo, mode) as client:
        read = await call(client, "read_file", path="packages/core/src/orders/order.ts")
        secret = await refused(client, "read_file", path=".env")
    assert read["content"] == ORDER
    assert (read["start_line"], read["end_line"], read["total_lines"], read["truncated"]) == (1, 1, 1, False)
    assert "`no-secret-reads`" in secret
    assert "3001" not in secret


@pytest.mark.parametrize("mode", MODES)
async def test_the_policy_resource_is_the_active_policy_as_json(repo: Path, mode: str) -> None:
    async with in_memory(repo, mode) as client:
        with anyio.fail_after(30):
            listed = await client.list_resources()
            policy = await client.read_resource("storyfence://policy")
    assert [str(r.uri) for r in listed.resources] == ["storyfence://policy"]
    [content] = policy.contents
    assert isinstance(content, TextResourceContents)
    rules = {rule["id"] for rule in json.loads(content.text)["rules"]}
    assert {"no-env-files", "no-react-components", "core-package", "api-endpoints"} <= rules


@pytest.mark.parametrize("mode", MODES)
async def test_the_prompt_walks_the_client_through_the_workflow_for_the_story(repo: Path, mode: str) -> None:
    async with in_memory(repo, mode) as client:
        with anyio.fail_after(30):
            [prompt] = (await client.list_prompts()).prompts
            got = await client.get_prompt("implement-backend", {"story": STORY})
    assert prompt.name == "implement-backend"
    assert [a.name for a in prompt.arguments or []] == ["story"]
    text = got.messages[0].content.text  # type: ignore[union-attr]
    assert f'read_story("{STORY}")' in text
    for step in ("begin_chunk", "append_chunk_log", "run_typecheck", "BACKEND COMPLETE"):
        assert step in text


# --- protocol errors -----------------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "packages/core/src").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize("mode", MODES)
async def test_an_unknown_tool_is_invalid_params_not_a_tool_result(
    root: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with in_memory(root, mode) as client:
        with anyio.fail_after(30), pytest.raises(MCPError) as raised:
            await client.call_tool("no_such_tool", {})
    assert raised.value.code == INVALID_PARAMS
    assert "no_such_tool" in raised.value.message
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("mode", MODES)
async def test_an_unknown_prompt_is_invalid_params_and_logs_no_traceback(
    root: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with in_memory(root, mode) as client:
        with anyio.fail_after(30), pytest.raises(MCPError) as raised:
            await client.get_prompt("no-such-prompt", {})
        assert raised.value.code == INVALID_PARAMS
        assert "no-such-prompt" in raised.value.message
        with anyio.fail_after(30), pytest.raises(MCPError) as missing:
            await client.get_prompt("implement-backend", {})
        assert missing.value.code == INVALID_PARAMS
        assert "story" in missing.value.message
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("mode", MODES)
async def test_a_log_whose_reuse_comes_as_lists_is_taken_and_each_list_reads_as_one_text(repo: Path, mode: str) -> None:
    # the seed's log shows Reused and New as lists, and models follow it
    reuse = {"reused": ["Order type", "the orders folder"], "new": ["cancel()"], "why_new": "no cancel existed"}
    ports = {"core": "the use case", "adapters": "none"}
    async with in_memory(repo, mode) as client:
        await call(client, "begin_chunk", story=STORY, name="cancel", objective="AC1: cancel an order")
        listed = await client.list_tools()
        schema = next(t for t in listed.tools if t.name == "append_chunk_log").input_schema
        logged = await call(
            client,
            "append_chunk_log",
            story=STORY,
            summary="cancel an order",
            reuse=reuse,
            ports_adapters=ports,
            notes_risks="none",
        )
    assert "- Reused: Order type; the orders folder" in logged["section"]
    assert "- New: cancel()" in logged["section"]
    assert "array" in json.dumps(schema)  # the schema says a list is welcome, not only the server
