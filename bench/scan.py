"""Measurement 6: the chunk-boundary scan for changes made outside storyfence, against `git status` on the
same 40,000-file tree (committed, with a story open and a few files changed by hand)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.stats import Comparison, Stopwatch, interleave
from bench.trees import BigRepo
from storyfence.adapters.policy_file import load_builtin
from storyfence.app.service import StoryfenceService

STORY = "STORY-900"
CHANGED_BY_HAND = 20


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=bench@example.com", "-c", "user.name=bench", "-C", str(root), *args],
        check=True,
        capture_output=True,
    )


def prepare(repo: BigRepo) -> tuple[StoryfenceService, list[Path]]:
    """Commit the tree, open a story's first chunk, then change files by hand (the agent's own tools)."""
    root = repo.root
    story = root / STORY / "_implementation"
    story.mkdir(parents=True)
    (root / STORY / f"{STORY}.md").write_text("# Story\n")
    (story / "IMPLEMENTATION-PLAN.md").write_text("# Plan\n")
    (story / "SCOPE.md").write_text("# Scope\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "base")
    service = StoryfenceService(root, load_builtin())
    service.begin_chunk(STORY, "bench", "scan")
    changed = sorted(p for p in (root / "packages").rglob("*.ts"))[:CHANGED_BY_HAND]
    for path in changed:
        path.write_text(path.read_text() + "\nexport const byHand = 1;\n")
    return service, changed


async def measure_scan(reps: int, repo: BigRepo) -> list[Comparison]:
    service, changed = prepare(repo)
    story = service.story(STORY)
    observer = service.stories.observer
    comparison = Comparison(
        key="6",
        title="outside-change scan at a chunk boundary vs git status",
        candidate=f"the boundary scan (git diff + untracked + hashing) with {len(changed)} files changed by hand",
        reference="git status --porcelain (subprocess) on the same tree",
        goal=2.0,
    )

    def scan_once() -> int:
        with story.store.transaction() as tx:
            return len(observer.scan(story, tx, service.repo.bounds(story)))

    found = scan_once()
    if found != len(changed):
        raise RuntimeError(f"the scan found {found} outside changes, expected {len(changed)}")

    async def cand(_: int) -> float:
        with Stopwatch() as sw:
            scan_once()
        return sw.ms

    async def ref(_: int) -> float:
        with Stopwatch() as sw:
            subprocess.run(["git", "-C", str(repo.root), "status", "--porcelain"], capture_output=True, check=True)
        return sw.ms

    for i in range(2):
        await cand(i)
        await ref(i)
    await interleave(reps, cand, ref, comparison)
    comparison.notes.append(f"{repo.tracked_files:,} tracked files; every scan found all {found} changes")
    return [comparison]
