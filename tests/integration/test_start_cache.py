"""`storyfence serve --root` starts without loading the policy only when the last start loaded this very policy,
from these very files, and it passed every check (adapters/start_cache.py). Then the policy is loaded and checked
in full at the first call. Anything changed, a first start, or a policy that fails: it is loaded and checked
before serving, and a policy that fails stops the start, every time. The real `serve` command line runs here,
with the event loop's entry replaced by a catch of the server it would serve; the server is then driven in
memory by the official client."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import TextResourceContents

from storyfence import cli
from storyfence.adapters import private_cache, start_cache
from storyfence.core.errors import PolicyError
from storyfence.mcp.roots import Binding
from storyfence.mcp.server import build_server
from tests.support.client import call, refused
from tests.support.repos import copy_example, write_tree

pytestmark = pytest.mark.anyio

STORY = "STORY-042"
HOUR_AGO = time.time() - 3600


@pytest.fixture(autouse=True)
def settled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """storyfence's own modules may be fresh from a checkout: inputs count as settled at once (the test of the
    two-second rule puts it back). Each test has its own cache folder."""
    monkeypatch.setattr(private_cache, "RACY_NS", 0)
    monkeypatch.setenv("STORYFENCE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = copy_example(tmp_path / "repo", node_modules=False)
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            os.utime(os.path.join(folder, name), (HOUR_AGO, HOUR_AGO), follow_symlinks=False)
    return root


class Starts:
    """Runs `storyfence serve --root` up to serving, catching the server, and counts the policy loads."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.loads = 0
        self.servers: list[MCPServer] = []
        load = cli.make_service

        def counted(root: Path, policy: str | None) -> Any:
            self.loads += 1
            return load(root, policy)

        def caught(*args: object, **kwargs: object) -> None:
            del kwargs
            self.servers.extend(a for a in args if isinstance(a, MCPServer))

        monkeypatch.setattr(cli, "make_service", counted)
        monkeypatch.setattr(anyio, "run", caught)

    def start(self, root: Path) -> tuple[int, int]:
        """(exit code, policy loads before serving)."""
        before = self.loads
        code = cli.main(["serve", "--root", str(root)])
        return code, self.loads - before


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> Starts:
    return Starts(monkeypatch)


async def test_a_second_start_with_nothing_changed_serves_first_and_loads_the_policy_at_the_first_call(
    repo: Path, starts: Starts
) -> None:
    assert starts.start(repo) == (0, 1)
    assert starts.start(repo) == (0, 0)
    first, second = starts.servers
    assert second.instructions == first.instructions
    assert "packages/core" in (second.instructions or "")
    async with Client(second, mode="legacy") as client:
        assert starts.loads == 1  # the handshake and tools/list load nothing
        tools = await client.list_tools()
        assert "write_file" in {t.name for t in tools.tools}
        assert starts.loads == 1
        await call(client, "begin_chunk", story=STORY, name="cancel", objective="cancel an order")
        assert starts.loads == 2
        wrote = await call(
            client, "write_file", story=STORY, path="packages/core/src/orders/cancel.ts", content="export {};\n"
        )
        text = await refused(
            client, "write_file", story=STORY, path="apps/web/components/X.tsx", content="export {};\n"
        )
    assert starts.loads == 2  # once per server, not once per call
    assert wrote["rule"]
    assert (repo / "packages/core/src/orders/cancel.ts").read_text(encoding="utf-8") == "export {};\n"
    assert text.startswith("apps/web/components/X.tsx: refused by rule")
    assert not (repo / "apps/web/components/X.tsx").exists()


async def test_the_policy_resource_of_a_lazy_start_is_the_policy_loaded_then(repo: Path, starts: Starts) -> None:
    starts.start(repo)
    starts.start(repo)
    async with Client(starts.servers[1], mode="legacy") as client:
        read = await client.read_resource("storyfence://policy")
    content = read.contents[0]
    assert isinstance(content, TextResourceContents)
    assert '"rules"' in content.text
    assert starts.loads == 2


def test_a_changed_policy_file_loads_and_checks_the_policy_before_serving(repo: Path, starts: Starts) -> None:
    policy = repo / ".storyfence.toml"
    policy.write_text('extends = "backend"\n', encoding="utf-8")
    os.utime(policy, (HOUR_AGO, HOUR_AGO))
    assert starts.start(repo) == (0, 1)
    assert starts.start(repo) == (0, 0)
    policy.write_text('extends = "backend"\n# edited\n', encoding="utf-8")
    assert starts.start(repo) == (0, 1)


def test_a_new_workspace_package_or_an_edited_learned_module_loads_the_policy_before_serving(
    repo: Path, starts: Starts
) -> None:
    assert starts.start(repo) == (0, 1)
    assert starts.start(repo) == (0, 0)
    write_tree(repo, {"packages/admin/package.json": '{"name": "@acme/admin", "dependencies": {"react": "18"}}'})
    assert starts.start(repo) == (0, 1)
    assert starts.start(repo) == (0, 0)
    page = repo / "apps/web/app/page.tsx"
    page.write_text(page.read_text(encoding="utf-8") + "\n// edited\n", encoding="utf-8")
    assert starts.start(repo) == (0, 1)


def test_what_the_server_writes_in_a_story_keeps_the_next_start_quick(repo: Path, starts: Starts) -> None:
    """A story's _implementation folder is the server's (its log, its journal): a session's work there is no
    change to the layout or the packages, so the next start does not load the policy first."""
    assert starts.start(repo) == (0, 1)
    write_tree(repo, {f"{STORY}/_implementation/BACKEND-LOG.md": "# log\n", f"{STORY}/_implementation/x.tmp": ""})
    (repo / f"{STORY}/_implementation/x.tmp").unlink()
    assert starts.start(repo) == (0, 0)


def test_a_policy_that_fails_its_checks_stops_every_start_and_is_never_kept(
    repo: Path, starts: Starts, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = repo / ".storyfence.toml"
    policy.write_text('extends = "backend"\n[examples]\nallowed = ["apps/web/components/OrderList.tsx"]\n')
    os.utime(policy, (HOUR_AGO, HOUR_AGO))
    assert starts.start(repo) == (2, 1)
    assert starts.start(repo) == (2, 1)
    assert "examples do not hold" in capsys.readouterr().err
    assert starts.servers == []
    assert not os.path.exists(start_cache.entry_file(os.path.realpath(repo), None))


def test_nothing_changed_within_the_last_two_seconds_is_cached_against(
    repo: Path, starts: Starts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(private_cache, "RACY_NS", 2_000_000_000)
    (repo / "packages/core/package.json").write_text('{"name": "@example/core"}\n', encoding="utf-8")
    assert starts.start(repo) == (0, 1)
    assert starts.start(repo) == (0, 1)


async def test_a_policy_that_cannot_be_loaded_at_the_first_call_is_the_answer_of_every_call(repo: Path) -> None:
    """Should the policy fail when it is loaded at the first call (an input the entry does not know of), every
    call that needs it refuses with the reason, and nothing is written."""
    tries: list[Path] = []

    def failing(root: Path) -> Any:
        tries.append(root)
        raise PolicyError("Invalid policy .storyfence.toml: its examples do not hold: apps/web is refused")

    server = build_server(Binding(repo, failing), None, "instructions kept from the last start")
    async with Client(server, mode="legacy") as client:
        first = await refused(
            client, "write_file", story=STORY, path="packages/core/src/orders/x.ts", content="export {};\n"
        )
        second = await refused(client, "read_file", path="packages/core/src/index.ts")
        with pytest.raises(MCPError) as resource:
            await client.read_resource("storyfence://policy")
    assert first.startswith("Invalid policy .storyfence.toml: its examples do not hold")
    assert second == first
    assert resource.value.error.message == first
    assert len(tries) == 3  # never kept: tried again at each call, and refused again
    assert not (repo / "packages/core/src/orders/x.ts").exists()
