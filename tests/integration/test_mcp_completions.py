"""Completions and the client's log level, in memory with the official client, in both protocol modes: the
`story` argument of the prompt and of the story-document template completes to the repo's story ids, `document`
to the document names, the file template's `path` one segment at a time; the log level a 2025-11-25 client sets
is honoured."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import LoggingMessageNotificationParams, PromptReference, ResourceTemplateReference, TextResourceContents

from storyfence.mcp.roots import Binding
from storyfence.mcp.server import build_server
from tests.support.client import refused
from tests.support.in_memory import in_memory
from tests.support.repos import story_inputs, write_tree

pytestmark = pytest.mark.anyio

MODES = ["legacy", "auto"]
PROMPT = PromptReference(name="implement-backend")
DOCUMENT = ResourceTemplateReference(uri="storyfence://stories/{story}/{document}")
FILE = ResourceTemplateReference(uri="storyfence://files/{+path}")
ORDER = "export type Order = { id: string };\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Stories in two of the policy's story folders, a folder that only looks like one, and some code."""
    files = {
        **story_inputs("STORY-017"),
        **story_inputs("STORY-042"),
        "docs/stories/STORY-103/STORY-103.md": "# Story\n",
        "STORY-NOT-AN-ID/notes.md": "no\n",
        "packages/core/src/orders/order.ts": ORDER,
        "packages/core/package.json": '{"name": "@example/core"}\n',
        "packages/contracts/index.ts": "export {};\n",
    }
    root = write_tree(tmp_path / "repo", files)
    (root / "STORY-999").symlink_to(root / "STORY-042")  # a link is not a story folder
    return root


async def values(client: object, ref: PromptReference | ResourceTemplateReference, name: str, typed: str) -> list[str]:
    with anyio.fail_after(30):
        result = await client.complete(ref, {"name": name, "value": typed})  # type: ignore[attr-defined]
    return list(result.completion.values)


@pytest.mark.parametrize("mode", MODES)
async def test_the_story_argument_completes_to_the_repos_story_ids(repo: Path, mode: str) -> None:
    async with in_memory(repo, mode) as client:
        assert client.server_capabilities.completions is not None
        assert await values(client, PROMPT, "story", "") == ["STORY-017", "STORY-042", "STORY-103"]
        assert await values(client, PROMPT, "story", "story-04") == ["STORY-042"]
        assert await values(client, DOCUMENT, "story", "STORY-1") == ["STORY-103"]
        assert await values(client, DOCUMENT, "document", "") == ["story", "plan", "scope", "log", "blockers"]
        assert await values(client, DOCUMENT, "document", "b") == ["blockers"]


@pytest.mark.parametrize("mode", MODES)
async def test_a_path_completes_one_segment_at_a_time(repo: Path, mode: str) -> None:
    async with in_memory(repo, mode) as client:
        top = await values(client, FILE, "path", "")
        assert "packages/" in top
        assert "STORY-042/" in top
        assert await values(client, FILE, "path", "packages/co") == ["packages/contracts/", "packages/core/"]
        assert await values(client, FILE, "path", "packages/core/src/orders/") == ["packages/core/src/orders/order.ts"]
        assert await values(client, FILE, "path", "no/such/folder/x") == []
        assert await values(client, FILE, "path", "../") == []  # outside the repo: nothing, not an error


@pytest.mark.parametrize("mode", MODES)
async def test_what_the_server_does_not_complete_gets_an_empty_answer_not_an_error(repo: Path, mode: str) -> None:
    async with in_memory(repo, mode) as client:
        assert await values(client, PromptReference(name="no-such-prompt"), "arg1", "x") == []
        assert await values(client, PROMPT, "not-an-argument", "") == []
        assert await values(client, ResourceTemplateReference(uri="test://template/{id}/data"), "id", "") == []


async def test_with_no_repo_bound_yet_a_story_completes_to_nothing(tmp_path: Path) -> None:
    from mcp import Client

    from storyfence.cli import make_service

    server = build_server(Binding(None, lambda r: make_service(r, None)))
    async with Client(server, mode="legacy") as client:
        assert await values(client, PROMPT, "story", "") == []


@pytest.mark.parametrize("mode", MODES)
async def test_the_file_template_reads_like_read_file_and_refuses_a_secret(repo: Path, mode: str) -> None:
    (repo / ".env").write_text("API_PORT=3001\n", encoding="utf-8")
    async with in_memory(repo, mode) as client:
        with anyio.fail_after(30):
            read = await client.read_resource("storyfence://files/packages/core/src/orders/order.ts")
            [content] = read.contents
            assert isinstance(content, TextResourceContents)
            assert content.text == ORDER
            with pytest.raises(Exception, match="no-secret-reads"):
                await client.read_resource("storyfence://files/.env")


async def test_a_2025_client_that_sets_a_log_level_gets_only_that_level_and_above(repo: Path) -> None:
    received: list[LoggingMessageNotificationParams] = []

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        received.append(params)

    async with in_memory(repo, "legacy", logging_callback=on_log) as client:
        assert client.server_capabilities.logging is not None
        await refused(client, "write_file", story="STORY-042", path=".env", content="x\n")
        assert [m.level for m in received] == ["warning"]
        with anyio.fail_after(30), pytest.warns(MCPDeprecationWarning):  # gone in 2026-07-28, still served
            await client.set_logging_level("error")
        await refused(client, "write_file", story="STORY-042", path=".env", content="x\n")
    assert [m.level for m in received] == ["warning"]  # the second refusal was below the level asked for
