"""The MCP surface beyond tools, over stdio: tool metadata, resources, the prompt, roots and logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp.client.context import ClientRequestContext
from mcp_types import ListRootsResult, LoggingMessageNotificationParams, Root, TextResourceContents

from storyfence.commands import demo_script as s
from tests.support.client import call, refused
from tests.support.server import open_client, server_params
from tests.support.surface import TOOLS

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


async def test_every_tool_has_a_schema_an_output_schema_and_annotations(example_repo: Path) -> None:
    async with open_client(server_params(example_repo)) as client:
        listed = await client.list_tools()
        tools = {tool.name: tool for tool in listed.tools}
        assert set(tools) == set(TOOLS)
        for name, (read_only, destructive) in TOOLS.items():
            tool = tools[name]
            assert tool.annotations is not None, name
            assert tool.annotations.read_only_hint is read_only, name
            assert tool.annotations.destructive_hint is destructive, name
            assert tool.output_schema is not None, name
            assert "ctx" not in tool.input_schema.get("properties", {}), name
            assert tool.description is not None, name
            assert len(tool.description) > 60, name
        assert tools["write_file"].input_schema["required"] == ["story", "path", "content"]
        assert set(tools["append_chunk_log"].input_schema["required"]) == {
            "story",
            "summary",
            "reuse",
            "ports_adapters",
            "notes_risks",
        }


async def test_resources_serve_the_policy_and_the_story_files(example_repo: Path) -> None:
    async with open_client(server_params(example_repo)) as client:
        templates = await client.list_resource_templates()
        assert sorted(t.uri_template for t in templates.resource_templates) == [
            "storyfence://files/{+path}",
            "storyfence://stories/{story}/{document}",
        ]
        policy = await client.read_resource("storyfence://policy")
        [content] = policy.contents
        assert isinstance(content, TextResourceContents)
        rules = {rule["id"] for rule in json.loads(content.text)["rules"]}
        assert {"no-env-files", "core-package", "api-endpoints"} <= rules
        scope = await client.read_resource(f"storyfence://stories/{s.STORY}/scope")
        [scope_text] = scope.contents
        assert isinstance(scope_text, TextResourceContents)
        assert scope_text.text == (example_repo / s.STORY / "_implementation/SCOPE.md").read_text(encoding="utf-8")
        with pytest.raises(Exception, match=r"BACKEND-LOG\.md does not exist yet"):
            await client.read_resource(f"storyfence://stories/{s.STORY}/log")


async def test_the_implement_backend_prompt_walks_the_client_through_the_workflow(example_repo: Path) -> None:
    async with open_client(server_params(example_repo)) as client:
        prompts = await client.list_prompts()
        [prompt] = prompts.prompts
        assert prompt.name == "implement-backend"
        assert [a.name for a in prompt.arguments or []] == ["story"]
        got = await client.get_prompt("implement-backend", {"story": s.STORY})
        text = got.messages[0].content.text  # type: ignore[union-attr]
        for step in ("read_story", "begin_chunk", "append_chunk_log", "run_typecheck", "BACKEND COMPLETE"):
            assert step in text
        assert f'read_story("{s.STORY}")' in text


def roots_callback(*paths: Path) -> Any:
    async def list_roots(context: ClientRequestContext) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=p.as_uri()) for p in paths])  # type: ignore[arg-type]

    return list_roots


async def test_client_roots_narrow_the_root_but_never_widen_it(example_repo: Path, tmp_path: Path) -> None:
    outer = example_repo.parent  # --root is the folder above the monorepo
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    params = server_params(outer)
    async with open_client(params, list_roots_callback=roots_callback(elsewhere, example_repo)) as client:
        decision = await call(client, "check_path", path="packages/core/src/x.ts")
        assert decision["allowed"] is True  # relative to the narrowed root: the monorepo
        assert "escapes the repo root" in await refused(client, "list_files", path="../elsewhere")


async def test_without_root_the_first_client_root_is_served_and_without_either_a_clear_error(
    example_repo: Path,
) -> None:
    params = server_params(example_repo)
    params.args = [a for a in params.args if a not in ("--root", str(example_repo))]
    params.cwd = str(example_repo.parent)
    async with open_client(params, list_roots_callback=roots_callback(example_repo)) as client:
        story = await call(client, "read_story", story=s.STORY)
        assert story["folder"] == s.STORY
    async with open_client(params) as client:
        assert "no repo root: start storyfence with --root" in await refused(client, "read_story", story=s.STORY)


async def test_refusals_are_also_sent_to_the_client_log(example_repo: Path) -> None:
    seen: list[LoggingMessageNotificationParams] = []

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        seen.append(params)

    async with open_client(server_params(example_repo), logging_callback=on_log) as client:
        await call(client, "begin_chunk", story=s.STORY, name="n", objective="o")
        await refused(client, "write_file", story=s.STORY, path=".env", content="x")
    assert any(p.level == "warning" and "no-env-files" in str(p.data) for p in seen)
