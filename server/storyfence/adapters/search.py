"""Gitignore-aware file listing and content search: ripgrep when it is installed (the default, from the
`ripgrep` wheel), a pure-Python walk otherwise. Neither follows a symlink out of the root.

Both search in one order, so a capped answer is repeatable: depth first, each directory's entries (files and
folders together) by name, lines in file order. That is ripgrep's `--sort path`; the walk sorts the same way.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import subprocess
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pathspec

from storyfence.core.story_paths import TMP_PREFIX

SKIP_DIRS = frozenset({".git", "node_modules"})
MAX_LINE_CHARS = 300
COLLECT_MAX = 5_000
"""Matches collected from an unsorted (all threads) ripgrep run before it is stopped and run again in path order."""


@dataclass(frozen=True)
class Match:
    path: str
    line: int
    text: str


def find_ripgrep() -> str | None:
    scripts = sysconfig.get_path("scripts")
    candidate = os.path.join(scripts, "rg") if scripts else ""
    if candidate and os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("rg")


def engine_note(rg: str | None) -> str:
    """Which search engine is in use, in words, for the server's start line."""
    if rg is not None:
        return f"search: ripgrep ({rg})"
    return "search: the pure-Python walk (no ripgrep found; `pip install ripgrep` makes search_code fast)"


def _rg_base(rg: str) -> list[str]:
    # node_modules is skipped even when no .gitignore lists it: the python walk does the same
    excluded = [arg for name in (*sorted(SKIP_DIRS), f"{TMP_PREFIX}*") for arg in ("--glob", f"!{name}")]
    return [rg, "--hidden", "--no-config", *excluded, "--color", "never"]


class Searcher:
    """Lists and searches files under a root; `start` is a confined, repo-relative directory or file."""

    def __init__(self, root: Path, *, ripgrep: str | None = None, use_ripgrep: bool = True) -> None:
        self.root = root
        self.rg = (ripgrep or find_ripgrep()) if use_ripgrep else None

    @property
    def engine(self) -> Literal["ripgrep", "python"]:
        return "ripgrep" if self.rg is not None else "python"

    # --- listing -----------------------------------------------------------------------------------------

    def files(self, start: str = ".") -> list[str]:
        """Every non-ignored file under `start`, repo-relative, sorted."""
        if self.rg is not None:
            argv = [*_rg_base(self.rg), "--files", "--", start]
            proc = subprocess.run(argv, cwd=self.root, capture_output=True, check=False, timeout=120)
            if proc.returncode in (0, 1):
                out = proc.stdout.decode("utf-8", errors="surrogateescape").splitlines()
                return sorted(posixpath.normpath(p) for p in out if p)
        return sorted(self._walk(start))

    def _walk(self, start: str) -> Iterator[str]:
        """Every non-ignored file under `start`, depth first, each directory's entries by name (as ripgrep's
        `--sort path` visits them: `a/b.ts` before `a-b.ts` before `a.ts`)."""
        ignores = _Ignores(self.root)
        base = self.root / start if start != "." else self.root
        if base.is_file():
            yield start
            return
        # the .gitignore files above `start` apply to it too
        ancestors = [] if start == "." else start.split("/")[:-1]
        ignores.load(".")
        for depth in range(1, len(ancestors) + 1):
            ignores.load("/".join(ancestors[:depth]))
        stack = [iter(self._entries(start, ignores))]
        while stack:
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
                continue
            rel, is_dir = entry
            if is_dir:
                stack.append(iter(self._entries(rel, ignores)))
            else:
                yield rel

    def _entries(self, rel_dir: str, ignores: _Ignores) -> list[tuple[str, bool]]:
        """The kept entries of one directory, by name: (repo-relative path, is a directory)."""
        if rel_dir != ".":
            ignores.load(rel_dir)
        try:
            with os.scandir(self.root / rel_dir if rel_dir != "." else self.root) as it:
                found = sorted(it, key=lambda e: e.name)
        except OSError:
            return []  # unreadable: skipped, as os.walk would
        kept: list[tuple[str, bool]] = []
        for e in found:
            rel = e.name if rel_dir == "." else f"{rel_dir}/{e.name}"
            if e.is_symlink():
                continue  # never followed, file or folder
            if e.is_dir(follow_symlinks=False):
                if e.name not in SKIP_DIRS and not ignores.ignored(rel, True):
                    kept.append((rel, True))
            elif not e.name.startswith(TMP_PREFIX) and not ignores.ignored(rel, False):
                kept.append((rel, False))
        return kept

    # --- content search ---------------------------------------------------------------------------------

    def search(
        self,
        pattern: str,
        *,
        start: str = ".",
        glob: str | None = None,
        regex: bool = False,
        case_sensitive: bool = True,
        limit: int = 200,
    ) -> tuple[list[Match], bool]:
        """Up to `limit` matching lines; the flag says the search stopped at the cap."""
        if self.rg is not None:
            return self._rg_search(pattern, start, glob, regex, case_sensitive, limit)
        return self._py_search(pattern, start, glob, regex, case_sensitive, limit)

    def _rg_search(
        self, pattern: str, start: str, glob: str | None, regex: bool, case_sensitive: bool, limit: int
    ) -> tuple[list[Match], bool]:
        """ripgrep on all its threads, the matches put in path order here: the same first `limit` matches every
        time, at ripgrep's full speed. Only when there are more than COLLECT_MAX does ripgrep run again in path
        order on one thread (`--sort path`), so a search over the cap stays stable too."""
        found = self._rg_run(pattern, start, glob, regex, case_sensitive, max(COLLECT_MAX, limit), sort=False)
        if found is not None:
            matches = sorted(found, key=lambda m: (m.path.split("/"), m.line))
            return matches[:limit], len(matches) >= limit  # as the walk says it: the cap was reached
        ordered = self._rg_run(pattern, start, glob, regex, case_sensitive, limit, sort=True)
        assert ordered is not None
        return ordered[:limit], True

    def _rg_run(
        self, pattern: str, start: str, glob: str | None, regex: bool, case_sensitive: bool, cap: int, *, sort: bool
    ) -> list[Match] | None:
        """The matches ripgrep prints; None when more than `cap` came (unsorted) and the search was stopped. Sorted
        by path (`sort`), the first `cap` + 1 are returned and ripgrep is stopped there."""
        assert self.rg is not None
        argv = [*_rg_base(self.rg), "--no-heading", "--line-number", "--with-filename", "--null"]
        if sort:
            argv += ["--sort", "path"]  # one thread, files in name order
        argv += ["--max-columns", str(MAX_LINE_CHARS), "--max-columns-preview", "--max-filesize", "8M"]
        if not regex:
            argv.append("--fixed-strings")
        if not case_sensitive:
            argv.append("--ignore-case")
        if glob:
            argv += ["--glob", glob]
        argv += ["--regexp", pattern, "--", start]
        matches: list[Match] = []
        over = False
        proc = subprocess.Popen(argv, cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                name, sep, rest = raw.partition(b"\0")
                if not sep:
                    continue
                line_no, _, text = rest.partition(b":")
                try:
                    number = int(line_no)
                except ValueError:
                    continue
                matches.append(
                    Match(
                        path=posixpath.normpath(name.decode("utf-8", errors="replace")),
                        line=number,
                        text=text.decode("utf-8", errors="replace").rstrip("\r\n")[:MAX_LINE_CHARS],
                    )
                )
                if len(matches) > cap:
                    over = True
                    break
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if proc.returncode == 2 and not matches and regex:
            raise ValueError("the search pattern is not a valid regular expression")
        if over and not sort:
            return None
        return matches

    def _py_search(
        self, pattern: str, start: str, glob: str | None, regex: bool, case_sensitive: bool, limit: int
    ) -> tuple[list[Match], bool]:
        flags = 0 if case_sensitive else re.IGNORECASE
        try:
            compiled = re.compile(pattern if regex else re.escape(pattern), flags)
        except re.error as exc:
            raise ValueError(f"the search pattern is not a valid regular expression: {exc}") from None
        spec = pathspec.PathSpec.from_lines("gitignore", [glob]) if glob else None
        matches: list[Match] = []
        for rel in self._walk(start):
            if spec is not None and not spec.match_file(rel):
                continue
            try:
                with open(self.root / rel, "rb") as fh:
                    data = fh.read(8 * 1024 * 1024 + 1)
            except OSError:
                continue
            if len(data) > 8 * 1024 * 1024 or b"\0" in data[:8192]:
                continue
            text = data.decode("utf-8", errors="replace")
            if compiled.search(text) is None:
                continue
            for number, line in enumerate(text.splitlines(), start=1):
                if compiled.search(line):
                    matches.append(Match(path=rel, line=number, text=line[:MAX_LINE_CHARS]))
                    if len(matches) >= limit:
                        return matches, True
        return matches, False


class _Ignores:
    """The .gitignore files met on a walk (the root's and nested ones), as pathspec GitIgnoreSpecs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.specs: list[tuple[str, pathspec.GitIgnoreSpec]] = []

    def load(self, rel_dir: str) -> None:
        path = (self.root / rel_dir / ".gitignore") if rel_dir != "." else self.root / ".gitignore"
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return
        self.specs.append((rel_dir, pathspec.GitIgnoreSpec.from_lines(lines)))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        for base, spec in self.specs:
            if base != "." and not rel.startswith(base + "/"):
                continue
            sub = rel if base == "." else rel[len(base) + 1 :]
            if spec.match_file(sub + "/" if is_dir else sub):
                return True
        return False
