"""The gate checks what a change can break, over stdio with real pnpm, turbo and tsc on a copy of examples/
in git: packages/backend was already failing when the story began (a broken file committed first). A core
change that leaves backend as it was passes, its old failure reported but not blamed, not a fix attempt; a
core type change that breaks backend fails run_typecheck with backend's own diagnostic. The base commit
is checked once, in a temporary worktree, and the user's working tree is never touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyfence.commands import demo_script as s
from storyfence.commands.audit import run_audit
from storyfence.core import log_reader
from tests.support.client import call
from tests.support.git import commit_all, git
from tests.support.server import connect

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

ORDER = "packages/core/src/orders/order.ts"
CONFIG = "packages/backend/src/config.ts"
SEED = "packages/backend/src/seed.ts"
OLD_ERROR = "export const retries: number = 'three';\n"  # TS2322, in backend before the story
LOG = Path(s.STORY) / "_implementation" / "BACKEND-LOG.md"


def chunk_log(summary: str) -> dict[str, object]:
    return {
        "summary": summary,
        "reuse": {"reused": "Order", "new": "none", "why_new": "n/a"},
        "ports_adapters": {"core": "the Order type", "adapters": "none"},
        "notes_risks": "none",
    }


async def test_a_dependent_broken_before_the_story_is_not_blamed_and_one_the_chunk_breaks_fails(
    example_repo: Path,
) -> None:
    root = example_repo
    with (root / CONFIG).open("a", encoding="utf-8") as config:
        config.write(OLD_ERROR)
    (root / ".gitignore").write_text("node_modules/\n.turbo/\n", encoding="utf-8")
    base = commit_all(root, "backend already fails its typecheck", init=True)
    order = (root / ORDER).read_text(encoding="utf-8")

    async with connect(root) as client:
        await call(client, "begin_chunk", story=s.STORY, name="order note", objective="AC1")
        note = order.replace(
            "  readonly status: OrderStatus;\n", "  readonly status: OrderStatus;\n  readonly note?: string;\n"
        )
        await call(client, "write_file", story=s.STORY, path=ORDER, content=note)
        before = git(root, "status", "--porcelain")
        kept = await call(client, "run_typecheck", story=s.STORY)
        assert git(root, "status", "--porcelain") == before  # the base commit was checked elsewhere
        assert len(git(root, "worktree", "list").splitlines()) == 1

        # backend and api (which compiles backend's files) fail, as they did at the base commit: not blamed
        assert kept["outcome"] == "passed", kept["message"]
        assert kept["dependents"] == ["@example/api", "@example/backend"]
        [run] = kept["runs"]
        assert run["argv"][-3:] == ["--filter", "...@example/core", "--continue"]
        assert (run["outcome"], run["diagnostics"]) == ("passed", [])
        assert run["exit_code"] not in (0, None)
        assert [(d["file"], d["code"]) for d in run["preexisting"]] == [(CONFIG, "TS2322")]
        assert [(b["package"], b["failed"], b["commit"]) for b in kept["baselines"]] == [
            ("@example/api", True, base),
            ("@example/backend", True, base),
        ]
        assert kept["failed_fix_attempts"] == 0
        assert "already there before the story" in kept["message"]
        assert (await call(client, "append_chunk_log", story=s.STORY, **chunk_log("a note")))["chunk_closed"]

        # a type change in core that breaks backend fails with backend's own diagnostic
        await call(client, "begin_chunk", story=s.STORY, name="rename customerId", objective="AC2")
        await call(
            client, "edit_file", story=s.STORY, path=ORDER, edits=[{"old_text": "customerId", "new_text": "customer"}]
        )
        broken = await call(client, "run_typecheck", story=s.STORY)

    assert broken["outcome"] == "failed", broken["message"]
    [run] = broken["runs"]
    assert {(d["file"], d["code"]) for d in run["diagnostics"]} == {(SEED, "TS2561")}
    assert all("'customerId' does not exist in type 'Order'" in d["message"] for d in run["diagnostics"])
    assert [(d["file"], d["code"]) for d in run["preexisting"]] == [(CONFIG, "TS2322")]
    assert broken["baselines"] == []  # recorded in the first chunk: the base commit is checked once per story
    assert broken["failed_fix_attempts"] == 0

    text = (root / LOG).read_text(encoding="utf-8")
    assert log_reader.parse_failures(text) == [(2, 1)]  # chunk 1 never failed; chunk 2 fails on its first run
    assert f"- Base commit: `{base[:12]}`" in text
    assert f"`{CONFIG}:6:14` TS2322" in text  # what backend printed at the base commit
    assert f"`{SEED}:7:5` TS2561" in text  # the new error, in chunk 2's failure block
    assert "→ passed (exit 2, " in text
    assert "every type error was already there before the story: 1 in @example/backend" in text
    findings = run_audit(root, s.STORY, policy_path=None).findings
    assert [f for f in findings if f.kind == "log-mismatch"] == []
