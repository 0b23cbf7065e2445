"""The hooks of .pre-commit-hooks.yaml under the real `pre-commit` (PyPI), the way a team uses them: a repo whose
.pre-commit-config.yaml names this checkout (a committed snapshot of it, so uncommitted work is tested too) and
`pre-commit run`, which installs storyfence into the hook's own environment (from PyPI, once per module)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from storyfence.app.service import StoryfenceService
from storyfence.core.models import PortsAdapters, Reuse
from tests.support.git import GIT_ENV, commit_all, git
from tests.support.paths import REPO
from tests.support.policies import policy_allowing_unchecked
from tests.support.repos import story_inputs, write_tree

pytestmark = pytest.mark.e2e

STORY = "STORY-011"
COMPONENT = "apps/web/components/CancelButton.tsx"
BACKEND = "packages/core/src/orders/cancel.ts"
INSTALL_TIMEOUT = 600


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This checkout as pre-commit fetches a hooks repo: its files as they are now (committed or not, ignored
    ones left out) committed into a repo of their own. Returns the repo and the commit."""
    snapshot = tmp_path_factory.mktemp("hooks") / "storyfence"
    listed = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for rel in filter(None, listed):
        source = REPO / rel
        if source.is_file() and not source.is_symlink():
            (snapshot / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / rel)
    return snapshot, commit_all(snapshot, "storyfence as it is now", init=True)


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def repo(tmp_path: Path, hooks_repo: tuple[Path, str]) -> Path:
    hooks, rev = hooks_repo
    config = (
        f"repos:\n  - repo: {hooks}\n    rev: {rev}\n    hooks:\n      - id: storyfence-check\n"
        "      - id: storyfence-audit\n"
    )
    root = write_tree(
        tmp_path / "repo",
        {
            ".pre-commit-config.yaml": config,
            BACKEND: "export const cancel = (id: string) => id;\n",
            "apps/web/components/OrderList.tsx": "export const OrderList = () => null;\n",
            **story_inputs(STORY, scope="# Scope\n\n## In scope\n- `packages/core/src/orders/**`\n"),
        },
    )
    commit_all(root, init=True)
    return root


def pre_commit(root: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **GIT_ENV,
        "PRE_COMMIT_HOME": str(home),
        "PRE_COMMIT_COLOR": "never",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )


def test_the_hooks_manifest_is_valid_for_pre_commit(tmp_path: Path, pre_commit_home: Path) -> None:
    done = pre_commit(tmp_path, pre_commit_home, "validate-manifest", str(REPO / ".pre-commit-hooks.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_storyfence_check_refuses_a_staged_react_component_and_passes_a_staged_backend_file(
    repo: Path, pre_commit_home: Path
) -> None:
    (repo / COMPONENT).parent.mkdir(parents=True, exist_ok=True)
    (repo / COMPONENT).write_text("export function CancelButton() { return null; }\n", encoding="utf-8")
    (repo / BACKEND).write_text("export const cancel = (id: string) => id.trim();\n", encoding="utf-8")
    git(repo, "add", COMPONENT, BACKEND)

    refused = pre_commit(repo, pre_commit_home, "run", "storyfence-check")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "storyfence check (staged paths against the policy)" in refused.stdout
    assert "Failed" in refused.stdout
    assert f"DENY  {COMPONENT}" in refused.stdout
    assert "no-react-components" in refused.stdout
    assert f"ALLOW {BACKEND}" in refused.stdout

    git(repo, "rm", "-q", "--cached", COMPONENT)
    passed = pre_commit(repo, pre_commit_home, "run", "storyfence-check")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout


def test_storyfence_audit_passes_a_story_written_through_storyfence_and_fails_a_hand_edited_journal(
    repo: Path, pre_commit_home: Path
) -> None:
    service = StoryfenceService(repo, policy_allowing_unchecked("packages/core/**"))
    service.begin_chunk(STORY, "cancel", "AC1")
    service.write_file(STORY, "packages/core/src/orders/refund.ts", "export const refund = 1;\n")
    service.append_chunk_log(
        STORY,
        "refund",
        Reuse(reused="cancel", new="refund", why_new="none existed"),
        PortsAdapters(core="the use case", adapters="none"),
        "none",
    )
    anyio.run(service.run_typecheck, STORY)
    git(repo, "add", "-A")

    clean = pre_commit(repo, pre_commit_home, "run", "storyfence-audit")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "storyfence audit (stories with changes)" in clean.stdout
    assert "Passed" in clean.stdout
    # the story folder is left to the audit: storyfence-check does not refuse the log or the journal
    assert pre_commit(repo, pre_commit_home, "run", "storyfence-check").returncode == 0

    journal = repo / STORY / "_implementation/.storyfence/journal.jsonl"
    journal.write_text(journal.read_text(encoding="utf-8").replace("refund.ts", "refunds.ts", 1), encoding="utf-8")
    git(repo, "add", "-A")
    broken = pre_commit(repo, pre_commit_home, "run", "storyfence-audit")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "journal-broken" in broken.stdout
    assert "the journal was edited by hand" in broken.stdout
