"""Small, bounded git queries (argv only, a timeout, no shell); None when the root is not a git repo."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Literal, cast

from storyfence.core.events import DirtyFile

GIT_TIMEOUT_SECONDS = 30.0
BASELINE_CAP = 5000
"""At most this many uncommitted files are recorded as the story's baseline (beyond it, audit reports them)."""


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", errors="replace")


def exists_at(root: Path, commit: str, rel: str) -> bool:
    """Whether `commit` has a file at `rel` (relative to `root`)."""
    if commit.startswith("-"):
        return False
    return _git(root, "cat-file", "-e", f"{commit}:./{rel}") is not None


def show_file(root: Path, commit: str, rel: str, *, cap: int) -> bytes | None:
    """The content of `rel` (relative to `root`) at `commit`; None when it did not exist there, is over `cap`
    bytes, or git fails."""
    if commit.startswith("-"):
        return None
    spec = f"{commit}:./{rel}"
    size = _git(root, "cat-file", "-s", spec)
    if size is None or not size.strip().isdigit() or int(size) > cap:
        return None
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "cat-file", "blob", spec],
            capture_output=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout[: cap + 1] if proc.returncode == 0 else None


def head_commit(root: Path) -> str | None:
    """The commit HEAD points at, or None (not a repo, or no commit yet)."""
    out = _git(root, "rev-parse", "--verify", "--quiet", "HEAD")
    return out.strip() if out else None


EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
"""The hash of git's empty tree: "changes since nothing" in a repo with no commit yet."""


def is_work_tree(root: Path) -> bool:
    """Whether `root` is inside a git working tree."""
    out = _git(root, "rev-parse", "--is-inside-work-tree")
    return out is not None and out.strip() == "true"


def commit_exists(root: Path, commit: str) -> bool:
    """Whether `commit` names a commit in this repo (it may be gone after a rebase and gc)."""
    if not commit or commit.startswith("-"):
        return False
    return _git(root, "cat-file", "-e", f"{commit}^{{commit}}") is not None


def changed_since(root: Path, base: str | None) -> dict[str, str] | None:
    """Files that differ between `base` (a commit; HEAD if None, the empty tree if there is no HEAD) and
    the working tree, committed or not, plus untracked files that are not ignored.

    Paths are relative to `root` (which may be a subfolder of the repo) and limited to it; the value is
    "created", "modified" or "deleted". None if git fails.
    """
    since = base if base is not None else head_commit(root) or EMPTY_TREE
    if since.startswith("-"):
        return None
    diff = _git(root, "diff", "--no-ext-diff", "--no-renames", "--relative", "--name-status", "-z", since, "--")
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z", "--", ".")
    if diff is None or untracked is None:
        return None
    changes: dict[str, str] = {}
    fields = diff.split("\0")  # status, path, status, path, ..., "" (after the last NUL)
    for status, path in zip(fields[0::2], fields[1::2], strict=False):
        if not status or not path:
            continue
        changes[path] = {"A": "created", "D": "deleted"}.get(status[0], "modified")
    for path in untracked.split("\0"):
        if path:
            changes[path] = "created"
    return changes


def file_sha256(path: Path) -> str | None:
    """The content hash of a regular file (not a link), None when there is none."""
    try:
        if path.is_symlink() or not path.is_file():
            return None
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def dirty_files(root: Path, skip: tuple[str, ...] = ()) -> tuple[DirtyFile, ...] | None:
    """What differs from HEAD right now (modified, deleted, untracked and not ignored), each with its content
    hash; paths under a `skip` prefix are left out. None outside git or when git fails."""
    if not is_work_tree(root):
        return None
    changed = changed_since(root, None)
    if changed is None:
        return None
    found: list[DirtyFile] = []
    for path, kind in sorted(changed.items()):
        if any(path.startswith(prefix) for prefix in skip):
            continue
        if len(found) >= BASELINE_CAP:
            break
        sha = None if kind == "deleted" else file_sha256(root / path)
        found.append(DirtyFile(path=path, kind=cast("Literal['created', 'modified', 'deleted']", kind), sha256=sha))
    return tuple(found)


def commit_of(root: Path, ref: str) -> str | None:
    """The commit `ref` (a branch, a tag, a sha, `origin/main`, `HEAD~1`) names, or None."""
    if not ref or ref.startswith("-"):
        return None
    out = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    return out.strip() if out else None


def merge_base(root: Path, ref: str) -> str | None:
    """Where HEAD's branch left `ref` (what a pull request is compared with), or None (no common history, a
    shallow clone that does not reach it)."""
    commit = commit_of(root, ref)
    if commit is None:
        return None
    out = _git(root, "merge-base", commit, "HEAD")
    return out.strip() if out else None


def show_prefix(root: Path) -> str:
    """Where `root` is inside its repo, as a POSIX prefix ending in "/" ("" at the top): paths relative to
    `root` become relative to the repo with it (what code scanning and workflow annotations expect)."""
    out = _git(root, "rev-parse", "--show-prefix")
    return out.strip() if out else ""
