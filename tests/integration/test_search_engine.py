"""Fast search is the default: ripgrep is a dependency wherever PyPI has a wheel for it, and search still works
(the pure-Python walk) where it is absent."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from storyfence.adapters import search
from storyfence.adapters.policy_file import load_builtin
from storyfence.adapters.search import Searcher, engine_note
from storyfence.app.service import StoryfenceService
from tests.support.repos import write_tree

WHEELS = {
    "linux": {"x86_64", "aarch64", "i686", "armv7l"},
    "darwin": {"x86_64", "arm64"},
    "win32": {"AMD64", "x86"},
}
"""Where ripgrep 14.1.0 has a wheel on PyPI for glibc and musl alike (pip download --only-binary :all:)."""


def resolved_requirements() -> list[Requirement]:
    """The installed storyfence's dependencies whose markers hold here, without extras."""
    found = [Requirement(text) for text in requires("storyfence") or []]
    return [r for r in found if r.marker is None or r.marker.evaluate({"extra": ""})]


def test_the_plain_install_gets_ripgrep_where_a_wheel_exists() -> None:
    names = [r.name for r in resolved_requirements()]
    has_wheel = platform.machine() in WHEELS.get(sys.platform, set())
    assert ("ripgrep" in names) == has_wheel
    assert all(str(r.specifier) == "==14.1.0" for r in resolved_requirements() if r.name == "ripgrep")


def test_the_fast_extra_is_kept_as_an_alias() -> None:
    fast = [Requirement(text) for text in requires("storyfence") or [] if "extra == " in text and "fast" in text]
    assert [r.name for r in fast] == ["ripgrep"]


def test_search_falls_back_to_the_walk_when_ripgrep_is_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search.sysconfig, "get_path", lambda _name: str(tmp_path / "no-scripts"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    assert search.find_ripgrep() is None
    root = tmp_path / "repo"
    write_tree(root, {"packages/core/src/a.ts": "export const findOrder = 1;\n", "dist/x.js": "findOrder\n"})
    (root / ".gitignore").write_text("dist/\n")
    service = StoryfenceService(root, load_builtin())
    assert service.searcher.rg is None
    result = service.search_code("findOrder")
    assert result.engine == "python"
    assert [(m.path, m.line) for m in result.matches] == [("packages/core/src/a.ts", 1)]
    assert "pure-Python walk" in engine_note(service.searcher.rg)


def test_the_engine_in_use_is_named() -> None:
    assert Searcher(Path("."), ripgrep="/usr/bin/rg").engine == "ripgrep"
    assert engine_note("/usr/bin/rg") == "search: ripgrep (/usr/bin/rg)"
    assert Searcher(Path("."), use_ripgrep=False).engine == "python"
