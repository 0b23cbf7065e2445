"""The server instructions and the implement-backend prompt say where a write may go by the policy the
session's repo is served with, in memory (`Client(build_server(...))`): a repo's own policy gets its own rules,
never the bundled backend policy's globs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp_types import ListRootsResult, Root, TextContent

from storyfence.adapters.policy_file import load_builtin
from storyfence.cli import make_service
from storyfence.mcp import prompts
from storyfence.mcp.roots import Binding
from storyfence.mcp.server import build_server
from tests.support.in_memory import in_memory

pytestmark = pytest.mark.anyio

SERVICES_POLICY = """\
extends = "none"
name = "services"

[[rules]]
id = "go-services"
kind = "allow"
patterns = ["services/*/internal/**"]
reason = "Go services are ours to write."

[[rules]]
id = "no-secrets"
kind = "deny"
hard = true
patterns = ["**/secrets/**"]
reason = "secrets are never written."
"""
BUNDLED_WORDS = ("packages/core/**", "Vercel", "__http__", "no-env-files", "transport-agnostic")


@pytest.fixture
def services_repo(tmp_path: Path) -> Path:
    (tmp_path / "services/orders/internal").mkdir(parents=True)
    (tmp_path / ".storyfence.toml").write_text(SERVICES_POLICY, encoding="utf-8")
    return tmp_path


def roots(*paths: Path) -> Any:
    async def list_roots(context: ClientRequestContext) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=p.as_uri()) for p in paths])  # type: ignore[arg-type]

    return list_roots


async def prompt_text(client: Client, story: str) -> str:
    with anyio.fail_after(30):
        got = await client.get_prompt("implement-backend", {"story": story})
    [message] = got.messages
    assert isinstance(message.content, TextContent)
    return message.content.text


def assert_names_the_services_policy(text: str) -> None:
    assert "policy `services`" in text
    assert "- Go services are ours to write: `services/*/internal/**`" in text
    assert "`no-secrets` (`**/secrets/**`)" in text
    for word in BUNDLED_WORDS:
        assert word not in text


async def test_a_repo_with_its_own_policy_gets_instructions_and_a_prompt_naming_its_rules(services_repo: Path) -> None:
    async with in_memory(services_repo) as client:
        assert client.instructions is not None
        assert_names_the_services_policy(client.instructions)
        assert_names_the_services_policy(await prompt_text(client, "STORY-7"))


async def test_the_bundled_policy_gets_its_own_scope_in_words_close_to_the_seed(tmp_path: Path) -> None:
    async with in_memory(tmp_path) as client:
        text = await prompt_text(client, "STORY-042")
        assert client.instructions == prompts.instructions(load_builtin())
    assert text == prompts.implement_backend("STORY-042", load_builtin())
    assert "API endpoints (Vercel Functions, Next route handlers) are backend scope" in text
    assert "packages/core/** is backend scope, as long as it stays transport-agnostic" in text
    assert "never change ports" in text
    assert 'read_story("STORY-042")' in text


async def test_without_root_the_instructions_name_no_rule_and_the_prompt_uses_the_client_root(
    services_repo: Path,
) -> None:
    server = build_server(Binding(None, lambda r: make_service(r, None)))
    async with Client(server, mode="legacy", list_roots_callback=roots(services_repo)) as client:
        assert client.instructions is not None
        assert "check_path" in client.instructions
        for word in (*BUNDLED_WORDS, "services/*/internal/**"):
            assert word not in client.instructions
        assert_names_the_services_policy(await prompt_text(client, "STORY-7"))


async def test_with_no_repo_at_all_the_prompt_still_answers_and_points_at_check_path() -> None:
    server = build_server(Binding(None, lambda r: make_service(r, None)))
    async with Client(server) as client:
        text = await prompt_text(client, "STORY-7")
    assert text == prompts.implement_backend("STORY-7", None)
    assert "check_path" in text


async def test_a_connection_is_asked_its_roots_once_not_once_per_call(services_repo: Path) -> None:
    """The SDK builds a session object per request; the binding keys on the client's connection, so a session's
    calls do not each cost a roots/list round trip (and a log line)."""
    asked: list[int] = []
    answer = roots(services_repo)

    async def counting(context: ClientRequestContext) -> ListRootsResult:
        asked.append(1)
        return await answer(context)

    server = build_server(Binding(None, lambda r: make_service(r, None)))
    async with Client(server, mode="legacy", list_roots_callback=counting) as client:
        for _ in range(3):
            result = await client.call_tool("check_path", {"path": "services/a/internal/x.go"})
            assert result.is_error is False
    assert len(asked) == 1
