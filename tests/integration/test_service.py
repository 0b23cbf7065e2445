"""The application service in-process (no MCP): behaviour the stdio suites do not reach."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult

from storyfence.adapters.policy_file import load_builtin
from storyfence.app.service import StoryfenceService
from storyfence.app.writes import Edit
from storyfence.core.errors import InputError, Refused
from storyfence.mcp.roots import Binding
from storyfence.mcp.server import build_server
from tests.support.repos import story_inputs, write_tree

STORY = "STORY-001"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    files = {
        ".gitignore": "dist/\n*.log\n",
        "packages/core/src/a.ts": "export const findOrder = 1;\n",
        "packages/core/src/b.ts": "import { findOrder } from './a';\n",
        "packages/core/dist/a.js": "findOrder\n",
        "packages/core/debug.log": "findOrder\n",
        "node_modules/x/index.js": "findOrder\n",
        ".env": "SECRET=findOrder\n",
        "apps/api/api/orders.ts": "// findOrder is used here\n",
        **story_inputs(STORY),
    }
    write_tree(root, files)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


@pytest.fixture(params=[True, False], ids=["ripgrep", "python"])
def service(request: pytest.FixtureRequest, repo: Path) -> StoryfenceService:
    return StoryfenceService(repo, load_builtin(), use_ripgrep=request.param)


def test_search_finds_code_skips_ignored_files_and_never_shows_secrets(service: StoryfenceService) -> None:
    result = service.search_code("findOrder")
    assert [(m.path, m.line) for m in result.matches] == [
        ("apps/api/api/orders.ts", 1),
        ("packages/core/src/a.ts", 1),
        ("packages/core/src/b.ts", 1),
    ]
    assert result.truncated is False
    assert result.engine == ("ripgrep" if service.searcher.rg else "python")


def test_search_narrows_by_path_and_glob_and_supports_regex(service: StoryfenceService) -> None:
    by_path = service.search_code("findOrder", path="packages/core")
    assert sorted(m.path for m in by_path.matches) == ["packages/core/src/a.ts", "packages/core/src/b.ts"]
    by_glob = service.search_code("findOrder", glob="orders.ts")
    assert [m.path for m in by_glob.matches] == ["apps/api/api/orders.ts"]
    by_regex = service.search_code(r"import \{ \w+ \}", regex=True)
    assert [m.path for m in by_regex.matches] == ["packages/core/src/b.ts"]
    with pytest.raises(InputError, match="not a valid regular expression"):
        service.search_code("(", regex=True)


def test_list_files_is_gitignore_aware_filtered_and_paginated(service: StoryfenceService, repo: Path) -> None:
    listed = service.list_files()
    assert "packages/core/dist/a.js" not in listed.files
    assert "packages/core/debug.log" not in listed.files
    assert not any(f.startswith("node_modules/") for f in listed.files)
    assert "packages/core/src/a.ts" in listed.files
    ts = service.list_files(pattern="*.ts")
    assert ts.files == ["apps/api/api/orders.ts", "packages/core/src/a.ts", "packages/core/src/b.ts"]
    for i in range(600):
        (repo / "packages/core/src" / f"gen{i:03}.ts").write_text("", encoding="utf-8")
    first = service.list_files("packages/core/src")
    assert len(first.files) == 500
    assert first.total == 602
    assert first.next_offset == 500
    second = service.list_files("packages/core/src", offset=500)
    assert len(second.files) == 102
    assert second.next_offset is None
    assert set(first.files).isdisjoint(second.files)


def test_text_that_is_not_unicode_is_refused_before_anything_is_written(service: StoryfenceService, repo: Path) -> None:
    service.begin_chunk(STORY, "n", "o")
    with pytest.raises(InputError, match="lone surrogate"):
        service.write_file(STORY, "packages/core/src/s.ts", "a\ud800b")
    with pytest.raises(InputError, match="lone surrogate"):
        service.begin_chunk(STORY, "n\udfff", "o")
    assert not (repo / "packages/core/src/s.ts").exists()
    assert service.story_status(STORY).chunks[0].files == []


def test_check_path_reports_confinement_as_a_decision_not_an_error(service: StoryfenceService) -> None:
    decision = service.check_path("../outside.ts")
    assert decision.allowed is False
    assert decision.rule == "confinement"
    assert service.check_path("packages/core/src/x.ts").rule == "core-package"


def test_a_write_recorded_but_not_renamed_before_a_crash_is_finished_by_the_next_server(repo: Path) -> None:
    from storyfence.adapters.store import new_temp_name
    from storyfence.core import steps
    from storyfence.core.models import FileChange

    crashed = StoryfenceService(repo, load_builtin())
    crashed.begin_chunk(STORY, "n", "o")
    target = repo / "packages/core/src/a.ts"
    # what write_file does up to the crash: content staged and synced, the journal record written, no rename
    staged = crashed.repo.files.stage("packages/core/src/a.ts", b"export const a = 2;\n", new_temp_name("a.ts"))
    story = crashed.story(STORY)
    with story.store.transaction() as tx:
        change = FileChange(path="packages/core/src/a.ts", kind="modified", sha256="x" * 64)
        tx.record(steps.write(tx.state, change, staged=staged.tmp))
    assert target.read_text(encoding="utf-8") == "export const findOrder = 1;\n"

    restarted = StoryfenceService(repo, load_builtin())
    restarted.write_file(STORY, "packages/core/src/b.ts", "export {};\n")  # any transaction repairs
    assert target.read_text(encoding="utf-8") == "export const a = 2;\n"
    assert not list(target.parent.glob(".storyfence-tmp-*"))


def test_a_staged_write_older_than_a_hand_edit_of_its_target_is_dropped_not_applied(repo: Path) -> None:
    import os

    from storyfence.adapters.store import new_temp_name
    from storyfence.core import steps
    from storyfence.core.models import FileChange

    crashed = StoryfenceService(repo, load_builtin())
    crashed.begin_chunk(STORY, "n", "o")
    target = repo / "packages/core/src/a.ts"
    staged = crashed.repo.files.stage("packages/core/src/a.ts", b"export const a = 2;\n", new_temp_name("a.ts"))
    with crashed.story(STORY).store.transaction() as tx:
        change = FileChange(path="packages/core/src/a.ts", kind="modified", sha256="x" * 64)
        tx.record(steps.write(tx.state, change, staged=staged.tmp))
    target.write_text("export const a = 3; // by hand\n", encoding="utf-8")
    tmp = target.parent / staged.tmp
    os.utime(tmp, ns=(target.stat().st_mtime_ns - 10**9, target.stat().st_mtime_ns - 10**9))

    StoryfenceService(repo, load_builtin()).story_status(STORY)  # read-only: repairs nothing
    assert tmp.exists()
    StoryfenceService(repo, load_builtin()).write_file(STORY, "packages/core/src/b.ts", "export {};\n")
    assert target.read_text(encoding="utf-8") == "export const a = 3; // by hand\n"
    assert not tmp.exists()


# --- SCOPE.md: prose never widens, an unreadable scope refuses (issue 11, hole 2) ---------------------------

SCOPE_MD = f"{STORY}/_implementation/SCOPE.md"


def test_read_story_reports_the_paths_scope_md_names_in_prose_as_ignored(
    service: StoryfenceService, repo: Path
) -> None:
    (repo / SCOPE_MD).write_text(
        "## In scope\n- `packages/core/src/**`\nDo not touch `packages/db/migrations/**` in this story.\n",
        encoding="utf-8",
    )
    scope = service.read_story(STORY).scope
    assert scope.in_scope == ["packages/core/src/**"]
    assert (scope.narrows, scope.refuses_every_write) == (True, False)
    assert [(i.section, i.line, i.text) for i in scope.ignored] == [("in_scope", 3, "packages/db/migrations/**")]
    assert "prose" in scope.ignored[0].reason
    service.begin_chunk(STORY, "n", "o")
    with pytest.raises(Refused) as refused:
        service.write_file(STORY, "packages/db/migrations/002_x.sql", "select 1;\n")
    assert refused.value.decision.rule == "story-not-in-scope"
    assert not (repo / "packages/db/migrations/002_x.sql").exists()


def test_an_in_scope_section_with_no_valid_glob_refuses_every_write_and_read_story_says_so(
    service: StoryfenceService, repo: Path
) -> None:
    (repo / SCOPE_MD).write_text("## In scope\nOnly the endpoint under `apps/api/api/orders/**`.\n", encoding="utf-8")
    scope = service.read_story(STORY).scope
    assert (scope.in_scope, scope.narrows, scope.refuses_every_write) == ([], True, True)
    assert "every write is refused" in scope.note
    service.begin_chunk(STORY, "n", "o")
    with pytest.raises(Refused) as refused:
        service.write_file(STORY, "packages/core/src/new.ts", "export {};\n")
    assert refused.value.decision.rule == "story-scope-unreadable"
    assert not (repo / "packages/core/src/new.ts").exists()


def test_a_path_written_before_scope_md_narrowed_is_refused_after_it(service: StoryfenceService, repo: Path) -> None:
    """Decisions are remembered per path only while the facts they read are the same: an edited SCOPE.md (and a
    package found again) decides each path anew."""
    service.begin_chunk(STORY, "n", "o")
    path = "packages/core/src/orders/again.ts"
    service.write_file(STORY, path, "export const a = 1;\n")
    assert service.check_path(path, STORY).allowed is True
    (repo / SCOPE_MD).write_text("## In scope\n- `apps/api/api/**`\n", encoding="utf-8")
    assert service.check_path(path, STORY).rule == "story-not-in-scope"
    with pytest.raises(Refused) as refused:
        service.write_file(STORY, path, "export const a = 2;\n")
    assert refused.value.decision.rule == "story-not-in-scope"
    assert (repo / path).read_text(encoding="utf-8") == "export const a = 1;\n"


@pytest.mark.parametrize(
    ("link", "points_at", "path", "says"),
    [
        # a folder link inside the repo: the refusal names the link and the real path to write instead
        (
            "packages/core/lib",
            "src",
            "packages/core/lib/a.ts",
            ["`packages/core/lib`", "write the real path `packages/core/src/a.ts`"],
        ),
        # a file link inside the repo
        (
            "packages/core/src/alias.ts",
            "a.ts",
            "packages/core/src/alias.ts",
            ["`packages/core/src/alias.ts`", "write the real path `packages/core/src/a.ts`"],
        ),
        # a folder link that leads out of the repo
        ("packages/core/out", "OUTSIDE", "packages/core/out/x.ts", ["leads outside the repo root"]),
    ],
)
def test_an_existing_file_behind_a_symlink_is_refused_naming_the_link(
    repo: Path, link: str, points_at: str, path: str, says: list[str]
) -> None:
    """A write to a file that exists and reads fine is still refused when its path goes through a link, with the
    refusal that names the link (and the real path, or that it leads out), for write_file and edit_file alike."""
    outside = repo.parent / "outside"
    write_tree(outside, {"x.ts": "export const x = 1;\n"})
    (repo / link).symlink_to(outside if points_at == "OUTSIDE" else points_at)
    service = StoryfenceService(repo, load_builtin())
    service.begin_chunk(STORY, "n", "o")
    before = (repo / path).read_bytes()
    for attempt in (
        lambda: service.write_file(STORY, path, "export const findOrder = 2;\n"),
        lambda: service.edit_file(STORY, path, [Edit(old_text="= 1", new_text="= 2")]),
    ):
        with pytest.raises(Refused) as refused:
            attempt()
        assert refused.value.decision.rule == "confinement"
        for text in says:
            assert text in str(refused.value)
    assert (repo / path).read_bytes() == before
    assert (outside / "x.ts").read_text(encoding="utf-8") == "export const x = 1;\n"


def test_a_story_found_before_is_looked_for_again_when_its_folders_change(repo: Path, tmp_path: Path) -> None:
    """The story a call names is remembered with how the folders its search looked at looked; a story folder
    removed, swapped for a symlink, or made in an earlier story folder is seen at the next call."""
    service = StoryfenceService(repo, load_builtin())
    assert service.story(STORY).paths.folder == STORY
    moved = tmp_path / "moved"
    (repo / STORY).rename(moved)
    with pytest.raises(InputError, match=f"unknown story {STORY}"):
        service.story(STORY)
    (repo / STORY).symlink_to(moved)  # a story folder behind a link is never used
    with pytest.raises(InputError, match=f"unknown story {STORY}"):
        service.story(STORY)
    (repo / STORY).unlink()
    (repo / "stories").mkdir()
    moved.rename(repo / "stories" / STORY)
    assert service.story(STORY).paths.folder == f"stories/{STORY}"
    (repo / "docs" / "stories").mkdir(parents=True)  # a folder searched before `stories/`
    write_tree(repo / "docs" / "stories" / STORY, story_inputs(STORY))
    assert service.story(STORY).paths.folder == f"docs/stories/{STORY}"


@pytest.mark.parametrize("damage", ["not utf-8", "missing"])
def test_a_scope_md_that_cannot_be_read_refuses_every_write(
    service: StoryfenceService, repo: Path, damage: str
) -> None:
    service.begin_chunk(STORY, "n", "o")
    if damage == "missing":
        (repo / SCOPE_MD).unlink()
    else:
        (repo / SCOPE_MD).write_bytes(b"## In scope\n- `packages/core/**`\n\xff\xfe\n")
    assert service.check_path("packages/core/src/new.ts", STORY).rule == "story-scope-unreadable"
    with pytest.raises(Refused) as refused:
        service.write_file(STORY, "packages/core/src/new.ts", "export {};\n")
    assert refused.value.decision.rule == "story-scope-unreadable"
    assert not (repo / "packages/core/src/new.ts").exists()


# --- repeatable answers (issue 11, hole 7) --------------------------------------------------------------


def _engines(repo: Path) -> list[StoryfenceService]:
    return [StoryfenceService(repo, load_builtin(), use_ripgrep=flag) for flag in (True, False)]


@pytest.mark.parametrize("collect", ["all threads", "over the collect cap"])
def test_a_truncated_search_returns_the_same_capped_matches_every_time_and_on_either_engine(
    repo: Path, collect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ripgrep runs on all its threads and its matches are put in path order here; past the collect cap it runs
    again in path order (--sort path): either way the first matches are the same."""
    if collect == "over the collect cap":
        from storyfence.adapters import search

        monkeypatch.setattr(search, "COLLECT_MAX", 0)
    for d in range(30):
        for f in range(10):
            target = repo / "packages/core/src/gen" / f"d{d:02}" / f"f{f:02}.ts"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("".join(f"export const needle{i} = {i};\n" for i in range(5)), encoding="utf-8")
    everything = sorted(
        (f"packages/core/src/gen/d{d:02}/f{f:02}.ts", line)
        for d in range(30)
        for f in range(10)
        for line in range(1, 6)
    )
    cap = load_builtin().limits.max_search_matches
    assert len(everything) > 5 * cap
    for service in _engines(repo):
        for _ in range(3):
            result = service.search_code("needle")
            assert result.truncated is True
            assert [(m.path, m.line) for m in result.matches] == everything[:cap], result.engine


def test_both_search_engines_cut_a_truncated_search_at_the_same_matches(repo: Path) -> None:
    # each directory's entries by name, files and folders together (ripgrep's --sort path): `a/b.ts`, then
    # `a-b.ts`, then `a.ts`, so the cap keeps the first two files whole and nothing of the third
    cap = load_builtin().limits.max_search_matches
    for rel in ("packages/backend/a/b.ts", "packages/backend/a.ts", "packages/backend/a-b.ts"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text("const marker = 1;\n" * (cap // 2), encoding="utf-8")
    for service in _engines(repo):
        result = service.search_code("marker", path="packages/backend")
        assert result.truncated is True
        assert sorted({m.path for m in result.matches}) == ["packages/backend/a-b.ts", "packages/backend/a/b.ts"]


@pytest.mark.anyio
async def test_a_call_waiting_for_the_story_lock_does_not_stop_another_session(repo: Path) -> None:
    service = StoryfenceService(repo, load_builtin())
    service.begin_chunk(STORY, "n", "o")  # an open chunk with no file: its typecheck needs no command
    server = build_server(Binding(repo, lambda _root: service, ready=service))
    # another server's transaction holds the story's lock (flock: a second open file conflicts, same process too)
    held = os.open(repo / STORY / "_implementation" / ".storyfence" / "lock", os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)
    typecheck: list[CallToolResult] = []
    try:
        async with Client(server) as waiting, Client(server) as other:
            with anyio.fail_after(20):  # the lock's own deadline is 30 s: a blocked loop fails here first
                async with anyio.create_task_group() as tg:

                    async def run_typecheck() -> None:
                        typecheck.append(await waiting.call_tool("run_typecheck", {"story": STORY}))

                    tg.start_soon(run_typecheck)
                    await anyio.wait_all_tasks_blocked()  # the typecheck now waits for the lock
                    status = await other.call_tool("story_status", {"story": STORY})
                    assert status.is_error is False
                    assert typecheck == []  # still waiting, while the other session got its answer
                    fcntl.flock(held, fcntl.LOCK_UN)
    finally:
        os.close(held)
    assert typecheck[0].is_error is False
    assert typecheck[0].structured_content is not None
    assert typecheck[0].structured_content["outcome"] == "not_needed"
