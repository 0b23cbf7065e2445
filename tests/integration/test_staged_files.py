"""A clean transaction leaves no staged temp file behind, and the journal records each change in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storyfence.adapters.policy_file import load_builtin
from storyfence.app.service import StoryfenceService
from storyfence.core.events import FileChanged
from storyfence.core.story_paths import TMP_PREFIX
from tests.support.stories import ONE_FILE, ONE_FILE_STORY, one_file_story

STORY = ONE_FILE_STORY
TARGET = ONE_FILE


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return one_file_story(tmp_path / "repo")


def recorded(root: Path) -> list[FileChanged]:
    records, _ = StoryfenceService(root, load_builtin()).story(STORY).store.read_state()
    return [r.event for r in records if isinstance(r.event, FileChanged)]


def leftovers(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob(f"{TMP_PREFIX}*"))


def test_the_staged_list_is_empty_after_a_clean_transaction(repo: Path) -> None:
    service = StoryfenceService(repo, load_builtin())
    service.write_file(STORY, TARGET, "export const a = 5;\n")
    service.delete_file(STORY, TARGET)
    service.write_file(STORY, "packages/core/src/b.ts", "export {};\n")
    assert leftovers(repo) == []
    assert json.loads(json.dumps([e.change.kind for e in recorded(repo)]))[-3:] == ["modified", "deleted", "created"]
