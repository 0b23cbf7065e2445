"""The read-only tools: read_file, list_files, search_code, check_path, and the policy and story documents.

Reads are confined like writes and pass the read rules (secrets are never shown, not even as search hits).
"""

from __future__ import annotations

import os
import posixpath
import re

import pathspec

from storyfence.adapters.search import Searcher
from storyfence.app.repo import Repo
from storyfence.app.results import FileContent, FileList, PathDecision, SearchMatch, SearchResult
from storyfence.app.writes import sha256
from storyfence.core.decisions import decide_read
from storyfence.core.errors import InputError, Refused
from storyfence.core.inputs import decode_text
from storyfence.core.story_paths import DOCUMENTS


class Reads:
    def __init__(self, repo: Repo, *, use_ripgrep: bool = True, searcher: Searcher | None = None) -> None:
        self.repo = repo
        self.searcher = searcher if searcher is not None else Searcher(repo.root, use_ripgrep=use_ripgrep)

    def read_file(self, path: str, offset: int = 1, limit: int | None = None) -> FileContent:
        repo = self.repo
        loc = repo.ws.locate(path)
        for rel in {loc.rel, loc.real}:
            decision = decide_read(repo.policy, rel)
            if not decision.allowed:
                raise Refused(decision.message(), decision)
        data = repo.files.read_bytes(loc.real, cap=repo.cap)
        text = decode_text(loc.rel, data)
        if offset < 1:
            raise InputError("offset is a 1-based line number (>= 1)")
        cap = repo.policy.limits.max_read_lines
        count = min(limit or cap, cap)
        if count < 1:
            raise InputError("limit must be >= 1")
        lines = text.splitlines(keepends=True)
        chosen = lines[offset - 1 : offset - 1 + count]
        end = offset - 1 + len(chosen)
        return FileContent(
            path=loc.rel,
            content="".join(chosen),
            start_line=offset,
            end_line=end,
            total_lines=len(lines),
            truncated=end < len(lines),
            sha256=sha256(data),
        )

    def list_files(self, path: str = ".", pattern: str | None = None, offset: int = 0) -> FileList:
        loc = self.repo.ws.locate(path)
        if not self.repo.ws.exists(loc.real):
            raise InputError(f"{loc.rel} does not exist")
        files = self.searcher.files(loc.real)
        if loc.real != loc.rel:
            prefix = len(loc.real) + 1 if loc.real != "." else 0
            files = [posixpath.normpath(f"{loc.rel}/{f[prefix:]}") for f in files]
        if pattern:
            spec = pathspec.PathSpec.from_lines("gitignore", [pattern])
            files = [f for f in files if spec.match_file(f)]
        if offset < 0:
            raise InputError("offset must be >= 0")
        page = self.repo.policy.limits.max_list_entries
        chosen = files[offset : offset + page]
        nxt = offset + page if offset + page < len(files) else None
        return FileList(path=loc.rel, files=chosen, total=len(files), next_offset=nxt)

    def path_segments(self, typed: str) -> list[str]:
        """The next path segment under the folder `typed` ends in (folders end with `/`), from the files
        list_files would list there: confined, gitignore-aware. A folder that is not there has none."""
        folder, _, _ = typed.rpartition("/")
        loc = self.repo.ws.locate(folder or ".")
        if not self.repo.ws.is_dir(loc.real):
            return []
        base = f"{loc.rel}/" if loc.rel != "." else ""
        start = f"{loc.real}/" if loc.real != "." else ""
        segments = {
            base + head + sep
            for head, sep, _ in (f[len(start) :].partition("/") for f in self.searcher.files(loc.real))
        }
        return sorted(segments)

    def story_ids(self) -> list[str]:
        """The ids of the stories found in the policy's story folders (real folders, not links), sorted."""
        stories = self.repo.policy.stories
        pattern = re.compile(stories.id_pattern)
        found: set[str] = set()
        for folder in stories.folders:
            try:
                loc = self.repo.ws.locate("." if folder in (".", "") else folder.strip("/"))
            except Refused:
                continue  # a story folder the policy names but the repo does not confine
            if loc.symlink is not None or not self.repo.ws.is_dir(loc.rel):
                continue
            for entry in os.scandir(self.repo.ws.absolute(loc.rel)):
                if pattern.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                    found.add(entry.name)
        return sorted(found)

    def search_code(
        self,
        pattern: str,
        path: str = ".",
        glob: str | None = None,
        regex: bool = False,
        case_sensitive: bool = True,
    ) -> SearchResult:
        if not pattern:
            raise InputError("pattern must not be empty")
        loc = self.repo.ws.locate(path)
        if not self.repo.ws.exists(loc.real):
            raise InputError(f"{loc.rel} does not exist")
        limit = self.repo.policy.limits.max_search_matches
        try:
            found, truncated = self.searcher.search(
                pattern, start=loc.real, glob=glob, regex=regex, case_sensitive=case_sensitive, limit=limit * 2
            )
        except ValueError as exc:
            raise InputError(str(exc)) from None
        matches: list[SearchMatch] = []
        for m in found:
            if not decide_read(self.repo.policy, m.path).allowed:
                continue  # never leak secrets through search
            matches.append(SearchMatch(path=m.path, line=m.line, text=m.text))
            if len(matches) >= limit:
                truncated = True
                break
        matches.sort(key=lambda m: (m.path, m.line))  # ripgrep searches in parallel: give a stable order
        return SearchResult(pattern=pattern, matches=matches, truncated=truncated, engine=self.searcher.engine)

    def check_path(self, path: str, story: str | None = None, content: str | None = None) -> PathDecision:
        """The decision a write of `path` (with `content`, if given, for the content rules) would get."""
        decision = self.repo.decide_path(path, self.repo.story(story) if story else None, content)
        return PathDecision(**decision.model_dump(exclude={"kind"}), message=decision.message())

    def policy_document(self) -> str:
        """The active policy, as JSON: every rule with its patterns, reason and instead."""
        return self.repo.policy.model_dump_json(indent=2)

    def story_document(self, story: str, document: str) -> str:
        """The text of one of a story's files (the three inputs, the log, the blockers)."""
        if document not in DOCUMENTS:
            raise InputError(f"unknown story document {document!r}: one of {', '.join(DOCUMENTS)}")
        rel = self.repo.story(story).paths.document(document)
        if not self.repo.ws.exists(rel):
            raise InputError(f"{rel} does not exist yet")
        return self.repo.read_text(rel)
