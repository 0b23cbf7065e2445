"""What every use case shares: the confined workspace, the policy, the stories and the caches it reads.

`Repo` finds a story and its store, and keeps the facts every write decision asks for (the story's
SCOPE.md lists, the workspace packages) cached by file identity, so a write does not re-read them.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from storyfence.adapters import read_log
from storyfence.adapters.policy_file import package_facts
from storyfence.adapters.private_cache import identity, racy
from storyfence.adapters.workspace import Workspace
from storyfence.core.decisions import Decision, ScopeLists, protected_rules
from storyfence.core.errors import InputError, Refused
from storyfence.core.inputs import decode_text, utf8
from storyfence.core.policy import PackageFacts, Policy
from storyfence.core.scope import parse_scope, unreadable_scope
from storyfence.core.story_paths import IMPLEMENTATION, StoryPaths

if TYPE_CHECKING:
    # the store (journal, workflow, log) and the fence load with the first story or decision, not at start
    from storyfence.adapters.store import StoryStore
    from storyfence.core.fence import Bounds

_MANIFESTS = ("package.json", "pnpm-workspace.yaml")


@dataclass(frozen=True)
class Story:
    """A story found in the repo: where its files are, and the store that holds its journal."""

    paths: StoryPaths
    store: StoryStore

    @property
    def id(self) -> str:
        return self.paths.id


class Repo:
    """One repo root under one policy: the context every use case of the application works in."""

    def __init__(self, root: Path, policy: Policy, *, policy_paths: Sequence[Path] = ()) -> None:
        self.ws = Workspace(root)
        self.root = self.ws.root
        self.files = self.ws.files
        self.policy = policy
        extra: list[str] = []
        for p in policy_paths:
            try:
                extra.append("/" + Path(p).resolve().relative_to(self.root).as_posix())
            except ValueError:
                continue
        self.protected = protected_rules(policy.stories, tuple(extra))
        self._story_re = re.compile(policy.stories.id_pattern)
        self._stores: dict[str, StoryStore] = {}
        self._scopes: dict[str, tuple[tuple[int, int, int], ScopeLists]] = {}
        self._packages: tuple[tuple[tuple[int, ...] | None, ...], tuple[PackageFacts, ...]] | None = None
        self._packages_read: tuple[str, ...] = ()
        self._bounds: dict[str | None, Bounds] = {}  # the last Bounds of each story (None: no story)
        # each story found: the folders the search looked at, how they looked, and the story found there
        self._found: dict[str, tuple[tuple[tuple[str, ...], ...], tuple[str, ...], Story]] = {}
        self._root_str = str(self.root)

    @property
    def cap(self) -> int:
        """The most bytes the server reads or writes of one file."""
        return self.policy.limits.max_file_bytes

    def read_text(self, rel: str) -> str:
        return decode_text(rel, self.files.read_bytes(rel, cap=self.cap))

    def story(self, story_id: str) -> Story:
        """The story `story_id`, looked for in the policy's story folders; an InputError names where."""
        sid = story_id.strip()
        if not self._story_re.fullmatch(sid):
            raise InputError(
                f"story {story_id!r} does not look like a story id (pattern {self.policy.stories.id_pattern}), "
                "e.g. STORY-042"
            )
        from storyfence.adapters.store import StoryStore

        known = self._found.get(sid)
        if known is not None and _looks(known[0]) == known[1]:
            return known[2]  # the folders it was found by look the same: the search would find it again
        tried: list[str] = []
        probes: list[tuple[str, ...]] = []  # each folder looked at on the disk: the absolute paths of its parts
        for folder in self.policy.stories.folders:
            rel = sid if folder in (".", "") else f"{folder.strip('/')}/{sid}"
            tried.append(StoryPaths(sid, rel).story)
            try:
                loc = self.ws.locate(rel)
            except Refused:
                lexical = self.ws.lexical(rel)  # None: refused by its text alone, whatever the disk holds
                if lexical is not None:
                    probes.append(self._parts(lexical))
                continue
            probes.append(self._parts(loc.rel))
            if loc.symlink is None and self.ws.is_dir(loc.rel):
                paths = StoryPaths(sid, loc.rel)
                # one store per story for the server's life: it remembers what it verified of the journal
                store = self._stores.get(paths.impl)
                if store is None:
                    store = self._stores[paths.impl] = StoryStore(self.root, paths, self.files)
                found = Story(paths=paths, store=store)
                looks = _looks(tuple(probes))
                if looks[-1] == "folder" and "folder" not in looks[:-1]:  # as the search saw them (not mid-change)
                    self._found[sid] = (tuple(probes), looks, found)
                return found
        raise InputError(f"unknown story {sid}: expected its folder at one of " + ", ".join(tried))

    def _parts(self, rel: str) -> tuple[str, ...]:
        parts = rel.split("/")
        return tuple(os.path.join(self._root_str, *parts[: i + 1]) for i in range(len(parts)))

    def base_content(self, commit: str, rel: str) -> bytes | None:
        """`rel` as the story's base commit had it; None when it did not have it. An InputError when git has it
        but cannot give it (over the size cap, git failing): restoring must never guess."""
        from storyfence.adapters import git

        if not git.exists_at(self.root, commit, rel):
            return None
        data = git.show_file(self.root, commit, rel, cap=self.cap)
        if data is None or len(data) > self.cap:
            raise InputError(
                f"git could not give {rel} as the base commit {commit[:12]} had it (or it is over the cap)"
            )
        return data

    def bounds(self, story: Story | None) -> Bounds:
        """What a write decision reads besides the path: the policy, and this repo's facts (cached)."""
        from storyfence.core.fence import Bounds

        scope = self.scope(story) if story is not None else None
        packages = self.packages()
        key = story.paths.impl if story is not None else None
        last = self._bounds.get(key)
        if last is not None and last.scope is scope and last.packages is packages:
            return last  # the same facts (the cached objects themselves): its decisions still hold
        bounds = self._bounds[key] = Bounds(
            policy=self.policy, protected=self.protected, scope=scope, packages=packages
        )
        return bounds

    def decide_path(self, path: str, story: Story | None, content: str | None = None) -> Decision:
        """The decision a write of `path` (with `content`, if given, for the content rules) would get."""
        bounds = self.bounds(story)
        try:
            target = self.ws.target(path, cap=self.cap)
            decision = bounds.decide(target.rel)
            if decision.allowed and content is not None:
                utf8(content, "content")
                decision = bounds.content_refusal(target.rel, target.text, content) or decision
        except Refused as exc:
            decision = exc.decision
        return decision

    def scope(self, story: Story) -> ScopeLists:
        """The story's SCOPE.md lists, parsed again only when the file changed (every write asks)."""
        rel = story.paths.scope
        try:
            st = os.stat(os.path.join(self._root_str, rel), follow_symlinks=False)
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            key = None
        cached = self._scopes.get(rel)
        if cached is not None and key is not None and cached[0] == key:
            return cached[1]
        try:
            text = self.read_text(rel)
        except InputError as exc:
            return unreadable_scope(rel, str(exc))  # fail closed: an unread scope refuses, it never widens
        scope = parse_scope(text, source=rel)
        if key is not None:
            self._scopes[rel] = (key, scope)
        return scope

    def packages(self) -> tuple[PackageFacts, ...]:
        """The workspace packages (for the frontend-by-manifest rule), found again whenever anything their
        discovery read has changed: pnpm-workspace.yaml, each manifest, and each folder it listed (a package
        folder made since, by the server or around it, changes its parent's entries). Never stale: a package
        the server did not see made must still be judged by its manifest."""
        if self._packages is not None and _unchanged(self._packages_read, self._packages[0]):
            return self._packages[1]
        with read_log.recording() as seen:
            facts = package_facts(self.root)
        # a story's _implementation folder is the server's to write (its log at every chunk boundary), never a
        # workspace package: watching it would find the packages again after every log append
        read = tuple(
            sorted(
                path
                for path in seen | {str(self.root / p.dir / "package.json") for p in facts}
                if IMPLEMENTATION not in Path(os.path.relpath(path, self.root)).parts
            )
        )
        now = _identities(read)
        self._packages_read = read
        # an input changed within the clock's granularity could change again and keep its identity (a racily
        # clean index, in git's words): then these facts are used once and found again at the next decision
        settled = not racy([None if i is None else list(i) for i in now], time.time_ns())
        self._packages = (now, facts) if settled else None
        return facts

    def use_packages(self, facts: tuple[PackageFacts, ...]) -> None:
        """The workspace packages, just read by the caller: kept only until the next decision checks what they
        were read from (they are found again then, with the record of what that read)."""
        del facts
        self._packages = None

    def forget_packages(self, rel: str) -> None:
        if rel.rsplit("/", 1)[-1] in _MANIFESTS:
            self._packages = None


def _looks(probes: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    """How each folder a story search looked at looks now, by an lstat of each part of its path: "link" when a
    part is a symlink (the search skips it), "folder", "missing" or "other". The same looks: the same search."""
    looks: list[str] = []
    for parts in probes:
        look = "folder"
        for path in parts:
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                look = "missing"
                break
            if stat.S_ISLNK(mode):
                look = "link"
                break
            if not stat.S_ISDIR(mode):
                look = "other"
                break
        looks.append(look)
    return tuple(looks)


def _unchanged(paths: tuple[str, ...], then: tuple[tuple[int, ...] | None, ...]) -> bool:
    """Whether each path still has the identity it had (`_identities`); stops at the first that does not."""
    if len(paths) != len(then):
        return False
    lookup = os.stat
    for path, was in zip(paths, then, strict=True):
        try:
            st = lookup(path)
        except (OSError, ValueError):
            if was is not None:
                return False
            continue
        if was is None or was != (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_dev):
            return False
    return True


def _identities(paths: tuple[str, ...]) -> tuple[tuple[int, ...] | None, ...]:
    """Each path's identity now (inode, size, mtime, ctime, device; None when it is gone)."""
    return tuple(None if (i := identity(p)) is None else tuple(i) for p in paths)
