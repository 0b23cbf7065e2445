"""The learned layout cached by the identity of its inputs (adapters/layout_cache.py): used while nothing it was
learned from changed, learned again after any change to a manifest, a listed folder or a read module, and
never believed when the entry is damaged, foreign or has another shape."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from storyfence.adapters.layout_cache import cache_file, learned_overlay_cached
from storyfence.adapters.layout_facts import read_facts
from storyfence.core.layout import learn
from storyfence.core.learned import learned_policy
from tests.support.repos import write_tree

OLD = 1_600_000_000
PLANTED: dict[str, Any] = {"rules": [], "typecheck": {"unchecked": []}}
"""An overlay learning never gives this repo: seeing it back proves the entry was believed."""

FILES = {
    "pnpm-workspace.yaml": "packages:\n  - apps/*\n  - packages/*\n",
    "package.json": '{"name": "root", "private": true}\n',
    "apps/web/package.json": '{"name": "web", "dependencies": {"next": "15", "react": "19"}}\n',
    "apps/web/app/page.tsx": "export default function Page() { return <main />; }\n",
    "apps/web/lib/db.ts": 'import { prisma } from "@acme/db";\nexport const db = prisma;\n',
    "packages/db/package.json": '{"name": "@acme/db", "dependencies": {"@prisma/client": "6"}}\n',
    "packages/db/src/index.ts": "export const prisma = {};\n",
    "services/py/pyproject.toml": '[project]\nname = "py"\ndependencies = ["fastapi"]\n',
}


def age(root: Path) -> None:
    """Every file and folder of the repo made old, so the entry for it is not racy."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            os.utime(os.path.join(dirpath, name), (OLD, OLD), follow_symlinks=False)
    os.utime(root, (OLD, OLD))


def fresh(root: Path) -> dict[str, Any]:
    facts = read_facts(root)
    return learned_policy(learn(facts), [f.path for f in facts.files]).overlay()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = write_tree(tmp_path / "repo", FILES)
    age(root)
    return root


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def plant(root: Path, folder: Path) -> None:
    """Learn once (the entry is written), then replace the entry's overlay with PLANTED."""
    assert learned_overlay_cached(root, folder=folder) == fresh(root)
    file = cache_file(root.resolve(), folder)
    entry = json.loads(file.read_text(encoding="utf-8"))
    entry["value"]["overlay"] = PLANTED
    file.write_text(json.dumps(entry), encoding="utf-8")


def test_the_entry_is_used_while_nothing_changed(repo: Path, folder: Path) -> None:
    plant(repo, folder)
    assert learned_overlay_cached(repo, folder=folder) == PLANTED


def write(path: str, text: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")

    return change


def remove(path: str) -> Callable[[Path], None]:
    return lambda root: (root / path).unlink()


CHANGES = {
    "a package.json edited": write("apps/web/package.json", '{"name": "web", "dependencies": {"vue": "3"}}\n'),
    "the root package.json edited": write("package.json", '{"name": "root", "workspaces": ["apps/*"]}\n'),
    "pnpm-workspace.yaml edited": write("pnpm-workspace.yaml", "packages:\n  - apps/*\n"),
    "pnpm-workspace.yaml removed": remove("pnpm-workspace.yaml"),
    "a tsconfig.json added": write("packages/db/tsconfig.json", "{}\n"),
    "a framework config added": write("apps/web/next.config.js", "module.exports = {};\n"),
    "a pyproject.toml edited": write("services/py/pyproject.toml", '[project]\nname = "py"\ndependencies = []\n'),
    "a requirements file added": write("services/py/requirements-dev.txt", "django\n"),
    "a go.mod added": write("services/go/go.mod", "module example.com/go\n"),
    "a new workspace package": write("packages/api/package.json", '{"name": "@acme/api"}\n'),
    "a module's imports edited": write("apps/web/lib/db.ts", 'import { x } from "swr";\nexport const db = x;\n'),
    "a module added": write("apps/web/app/api/route.ts", "export async function GET() {}\n"),
    "a module removed": remove("apps/web/lib/db.ts"),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=list(CHANGES))
def test_any_change_to_an_input_is_learned_again(repo: Path, folder: Path, change: Callable[[Path], None]) -> None:
    plant(repo, folder)
    change(repo)
    learned = learned_overlay_cached(repo, folder=folder)
    assert learned != PLANTED
    assert learned == fresh(repo)


def test_a_change_with_the_old_mtime_still_counts_when_the_size_differs(repo: Path, folder: Path) -> None:
    plant(repo, folder)
    (repo / "apps/web/package.json").write_text('{"name": "web", "dependencies": {}}\n', encoding="utf-8")
    age(repo)
    assert learned_overlay_cached(repo, folder=folder) == fresh(repo)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda e: "{ not json", id="not-json"),
        pytest.param(lambda e: json.dumps({**e, "value": []}), id="value-not-an-object"),
        pytest.param(lambda e: json.dumps({**e, "value": {**e["value"], "more": 1}}), id="extra-field"),
        pytest.param(lambda e: json.dumps({**e, "value": {**e["value"], "inputs": [["x", [1, 2]]]}}), id="bad-id"),
        pytest.param(lambda e: json.dumps({**e, "value": {**e["value"], "inputs": []}}), id="no-inputs"),
        pytest.param(lambda e: json.dumps({**e, "value": {**e["value"], "overlay": {"rules": 3}}}), id="bad-rules"),
        pytest.param(lambda e: json.dumps({**e, "value": {**e["value"], "overlay": {"extends": "x"}}}), id="keys"),
        pytest.param(lambda e: json.dumps({**e, "key": {**e["key"], "root": "/elsewhere"}}), id="other-root"),
    ],
)
def test_a_damaged_entry_is_learned_again_and_rewritten(
    repo: Path, folder: Path, damage: Callable[[dict[str, Any]], str]
) -> None:
    plant(repo, folder)
    file = cache_file(repo.resolve(), folder)
    file.write_text(damage(json.loads(file.read_text(encoding="utf-8"))), encoding="utf-8")
    assert learned_overlay_cached(repo, folder=folder) == fresh(repo)
    assert json.loads(file.read_text(encoding="utf-8"))["value"]["overlay"] == fresh(repo)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="file owners and modes")
def test_an_entry_others_could_have_written_is_never_believed(repo: Path, folder: Path) -> None:
    plant(repo, folder)
    os.chmod(cache_file(repo.resolve(), folder), 0o662)
    assert learned_overlay_cached(repo, folder=folder) == fresh(repo)


def test_a_repo_changed_just_now_is_not_cached(tmp_path: Path, folder: Path) -> None:
    root = write_tree(tmp_path / "young", FILES)  # every file is seconds old
    assert learned_overlay_cached(root, folder=folder) == fresh(root)
    assert not cache_file(root.resolve(), folder).exists()
