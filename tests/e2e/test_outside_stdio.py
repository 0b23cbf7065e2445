"""Files the agent writes around the server (its own Write or Edit, a shell) over stdio with the official
client, the real pnpm, turbo and tsc on a git copy of the example monorepo: an in-scope file joins the chunk,
is type-checked and logged as made outside storyfence; an out-of-scope one keeps the chunk open until
restore_file undoes it; audit and the log agree on every file."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyfence.commands import demo_script as s
from tests.support.client import call, refused
from tests.support.server import connect, run_cli
from tests.support.stories import git_example

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

LOG = Path(s.STORY) / "_implementation" / "BACKEND-LOG.md"
BY_HAND = "packages/core/src/orders/extra.ts"
UI = "apps/web/components/CancelButton.tsx"


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    return git_example(tmp_path / "repo")


async def test_files_written_around_the_server_are_checked_logged_or_undone(git_repo: Path) -> None:
    root = git_repo
    async with connect(root) as client:
        await call(client, "begin_chunk", story=s.STORY, name="cancelOrder use case", objective="AC1-AC3")
        await call(client, "write_file", story=s.STORY, path="packages/core/src/orders/cancel-order.ts",
                   content="export const cancelled = 'cancelled' as const;\n")  # fmt: skip
        (root / BY_HAND).write_text("export const count: number = 'one';\n", encoding="utf-8")

        failed = await call(client, "run_typecheck", story=s.STORY)
        assert failed["outcome"] == "failed"  # the file nobody wrote through the server was type-checked
        assert [d["file"] for r in failed["runs"] for d in r["diagnostics"]] == [BY_HAND]

        (root / BY_HAND).write_text("export const count: number = 1;\n", encoding="utf-8")  # fixed by hand too
        passed = await call(client, "run_typecheck", story=s.STORY)
        assert passed["outcome"] == "passed"
        logged = await call(client, "append_chunk_log", story=s.STORY, **s.CHUNK_1_LOG)
        assert logged["chunk_closed"] is True
        assert f"`{BY_HAND}` (created, made outside storyfence)" in logged["section"]

        await call(client, "begin_chunk", story=s.STORY, name="cancel endpoint", objective="AC1-AC4")
        await call(client, "write_file", story=s.STORY, path="packages/core/src/orders/more.ts",
                   content="export const more = 1;\n")  # fmt: skip
        (root / UI).write_text("export const CancelButton = () => null;\n", encoding="utf-8")
        checked = await call(client, "run_typecheck", story=s.STORY)
        assert checked["chunk_closed"] is False
        assert UI in checked["message"]
        assert "restore_file" in checked["message"]
        status = await call(client, "story_status", story=s.STORY)
        [stray] = status["strays"]
        assert stray["path"] == UI
        assert stray["rule"]  # the rule that refuses it, as a write of the same file would be refused
        await call(client, "append_chunk_log", story=s.STORY, **s.CHUNK_2_LOG)
        assert "restore_file" in await refused(client, "complete_story", story=s.STORY)

        restored = await call(client, "restore_file", story=s.STORY, path=UI)
        assert restored["restored"].startswith("deleted")
        assert not (root / UI).exists()
        status = await call(client, "story_status", story=s.STORY)
        assert ([c["closed"] for c in status["chunks"]], status["earlier_chunks"]) == ([True], 1)
        done = await call(client, "complete_story", story=s.STORY)
        assert done["signal"] == "BACKEND COMPLETE"

    assert f"`{BY_HAND}` (created, made outside storyfence)" in (root / LOG).read_text(encoding="utf-8")
    audit = run_cli("audit", s.STORY, "--root", str(root))
    assert audit.returncode == 0, audit.stdout + audit.stderr
