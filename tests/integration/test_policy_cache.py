"""The hook's policy cache: used only while every input is unchanged, recomputed on any doubt."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from storyfence.adapters import policy_cache
from storyfence.adapters.policy_cache import cache_file, load_policy_cached
from storyfence.adapters.policy_file import load_policy
from tests.support.hook import REPO_FILES
from tests.support.repos import write_tree

RULE = '[[rules]]\nid = "no-other"\nkind = "deny"\npatterns = ["packages/core/src/other.ts"]\nreason = "no."\n'
PAST = 1_600_000_000


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "repo", REPO_FILES)


def age(path: Path, seconds: int = PAST) -> None:
    """Give the file an old mtime: an input changed just now is never cached against."""
    os.utime(path, (seconds, seconds))


class Loads:
    """Counts the loads from the policy files (a cache miss)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        monkeypatch.setattr(policy_cache, "load_policy", self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        return load_policy(*args, **kwargs)


def ids(root: Path, folder: Path) -> list[str]:
    policy, _, _ = load_policy_cached(root, None, folder=folder)
    return [r.id for r in policy.rules]


def test_an_unchanged_policy_file_is_read_once(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / ".storyfence.toml").write_text(RULE)
    age(repo / ".storyfence.toml")
    loads = Loads(monkeypatch)
    first, second = ids(repo, tmp_path / "c"), ids(repo, tmp_path / "c")
    assert first == second
    assert "no-other" in first
    assert loads.count == 1
    assert first == [r.id for r in load_policy(repo.resolve())[0].rules]


def test_a_changed_policy_file_is_read_again(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = repo / ".storyfence.toml"
    policy.write_text(RULE)
    age(policy)
    assert "no-other" in ids(repo, tmp_path / "c")
    policy.write_text(RULE.replace("no-other", "no-thing"))
    age(policy, PAST + 1)
    loads = Loads(monkeypatch)
    assert "no-thing" in ids(repo, tmp_path / "c")
    assert loads.count == 1


def test_a_policy_file_changed_just_now_is_not_cached_against(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / ".storyfence.toml").write_text(RULE)  # mtime now: a second write could keep size and mtime
    loads = Loads(monkeypatch)
    ids(repo, tmp_path / "c")
    ids(repo, tmp_path / "c")
    assert loads.count == 2
    assert not cache_file(repo.resolve(), None, tmp_path / "c").exists()


def test_a_new_policy_file_or_a_changed_layout_is_seen(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = ids(repo, tmp_path / "c")  # no policy file: the learned layout (compared by value)
    write_tree(repo, {"apps/admin/package.json": '{"name": "admin", "dependencies": {"react": "18"}}'})
    ids(repo, tmp_path / "c")
    (repo / ".storyfence.toml").write_text(RULE)
    age(repo / ".storyfence.toml")
    after = ids(repo, tmp_path / "c")
    assert "no-other" in after
    assert "no-other" not in before


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign", "pickle", "not-a-policy"])
def test_a_damaged_or_foreign_cache_is_recomputed(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    (repo / ".storyfence.toml").write_text(RULE)
    age(repo / ".storyfence.toml")
    folder = tmp_path / "c"
    expected = ids(repo, folder)
    file = cache_file(repo.resolve(), None, folder)
    data = file.read_bytes()
    if damage == "garbage":
        file.write_bytes(b"not json")
    elif damage == "truncated":
        file.write_bytes(data[: len(data) // 2])
    elif damage == "pickle":  # a pickle that would run code when loaded: the cache is never unpickled
        marker = tmp_path / "ran"
        file.write_bytes(pickle.dumps(_Runs(str(marker))))
    elif damage == "not-a-policy":  # valid JSON with the right key, but a policy that does not validate
        entry = json.loads(data)
        entry["policy"] = {"rules": "everything is allowed"}
        file.write_text(json.dumps(entry))
    else:
        file.chmod(0o666)  # anyone could have written it: never read
    loads = Loads(monkeypatch)
    assert ids(repo, folder) == expected
    assert loads.count == 1
    assert not (tmp_path / "ran").exists()


class _Runs:
    """Unpickling this would create the file at `path`."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def test_the_cache_is_written_atomically_in_a_private_folder(repo: Path, tmp_path: Path) -> None:
    (repo / ".storyfence.toml").write_text(RULE)
    age(repo / ".storyfence.toml")
    folder = tmp_path / "c"
    ids(repo, folder)
    assert [p.name for p in folder.iterdir()] == [cache_file(repo.resolve(), None, folder).name]
    assert folder.stat().st_mode & 0o077 == 0
    assert cache_file(repo.resolve(), None, folder).stat().st_mode & 0o077 == 0
