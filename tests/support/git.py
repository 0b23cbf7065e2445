"""git for test repos: a fixed identity and no system config, so commits work on any machine."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(root: Path, *args: str) -> str:
    """Run `git -C ROOT ARGS...` and return its output; a failure raises."""
    proc = subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, **GIT_ENV},
    )
    return proc.stdout


def commit_all(root: Path, message: str = "start", *, init: bool = False) -> str:
    """Commit everything under `root` (after `git init` with init=True); returns the new commit."""
    if init:
        git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()
