"""Every path of a story, named once: its inputs, the files the server writes, and the server's own state.

    <folder>/<ID>.md                               the story (read-only input)
    <folder>/_implementation/IMPLEMENTATION-PLAN.md (read-only input)
    <folder>/_implementation/SCOPE.md              (read-only input)
    <folder>/_implementation/BACKEND-LOG.md        written by the server only
    <folder>/_implementation/BLOCKERS.md           written by the server only
    <folder>/_implementation/.storyfence/          the journal, its lock, the staged-file list, the
                                                   write-ahead segment

All paths are repo-relative POSIX strings; `folder` is where the story was found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import pathspec

IMPLEMENTATION = "_implementation"
PLAN = "IMPLEMENTATION-PLAN.md"
SCOPE = "SCOPE.md"
LOG = "BACKEND-LOG.md"
BLOCKERS = "BLOCKERS.md"
SERVER_DIR = ".storyfence"
"""The server's own files inside a story's _implementation folder (journal, lock, staged list)."""
JOURNAL = "journal.jsonl"
LOCK = "lock"
STAGED = "staged"
WAL = "wal"
"""The write-ahead segment: each small write's record and content, synced once; emptied at each checkpoint."""
WORKING_FILES = (LOCK, STAGED, WAL)
"""The server's working files beside the journal: never evidence, so its .gitignore keeps them out of commits
(the journal is the record a reviewer's audit reads, and is committed)."""

TMP_PREFIX = ".storyfence-tmp-"
"""Every temp file the server stages beside a target starts with this; nothing else is ever cleaned up."""
NAME_MAX = 255  # bytes in one file or folder name (ext4, APFS, NTFS, ...)

DOCUMENTS: dict[str, str] = {"story": "", "plan": PLAN, "scope": SCOPE, "log": LOG, "blockers": BLOCKERS}
"""The story files a client can read as resources, by document name ("story" is the story file itself)."""


def temp_name(rel: str, nonce: str) -> str:
    """The temp file staged beside the file `rel`: unique by `nonce`, within NAME_MAX bytes (the name is cut
    on a character boundary)."""
    prefix = f"{TMP_PREFIX}{nonce}-"
    tail = rel.rsplit("/", 1)[-1].encode("utf-8")[: NAME_MAX - len(prefix)].decode("utf-8", errors="ignore")
    return prefix + tail


def is_temp_name(name: str) -> bool:
    return name.startswith(TMP_PREFIX) and "/" not in name and name not in (".", "..")


def impl_folder(story_folder: str) -> str:
    return f"{story_folder}/{IMPLEMENTATION}"


@dataclass(frozen=True)
class StoryPaths:
    """The repo-relative paths of one story found at `folder`."""

    id: str
    folder: str

    @property
    def impl(self) -> str:
        return impl_folder(self.folder)

    @property
    def story(self) -> str:
        return f"{self.folder}/{self.id}.md"

    @property
    def plan(self) -> str:
        return f"{self.impl}/{PLAN}"

    @property
    def scope(self) -> str:
        return f"{self.impl}/{SCOPE}"

    @property
    def log(self) -> str:
        return f"{self.impl}/{LOG}"

    @property
    def blockers(self) -> str:
        return f"{self.impl}/{BLOCKERS}"

    @property
    def server_dir(self) -> str:
        return f"{self.impl}/{SERVER_DIR}"

    @property
    def journal(self) -> str:
        return f"{self.server_dir}/{JOURNAL}"

    @property
    def lock(self) -> str:
        return f"{self.server_dir}/{LOCK}"

    @property
    def staged(self) -> str:
        return f"{self.server_dir}/{STAGED}"

    @property
    def wal(self) -> str:
        return f"{self.server_dir}/{WAL}"

    @property
    def ignore(self) -> str:
        return f"{self.server_dir}/.gitignore"

    def document(self, name: str) -> str:
        """The path of a story document by its name in DOCUMENTS."""
        return self.story if name == "story" else f"{self.impl}/{DOCUMENTS[name]}"


def protected_globs(id_glob: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The globs of a story's read-only inputs, and of the files only the server writes (any story)."""
    g = id_glob
    inputs = (f"**/{g}/{g}.md", f"**/{g}/{IMPLEMENTATION}/{PLAN}", f"**/{g}/{IMPLEMENTATION}/{SCOPE}")
    owned = (
        f"**/{IMPLEMENTATION}/{LOG}",
        f"**/{IMPLEMENTATION}/{BLOCKERS}",
        f"**/{IMPLEMENTATION}/{SERVER_DIR}",
        f"**/{IMPLEMENTATION}/{SERVER_DIR}/**",
    )
    return inputs, owned


def journal_glob(id_glob: str) -> str:
    """Every story journal under a stories folder, as a glob relative to that folder."""
    return f"{id_glob}/{IMPLEMENTATION}/{SERVER_DIR}/{JOURNAL}"


@cache
def _server_owned() -> pathspec.PathSpec[Any]:
    return pathspec.PathSpec.from_lines("gitignore", protected_globs("*")[1])


def is_server_owned(rel: str) -> bool:
    """Whether `rel` is a file the server writes for any story (a log, blockers, a journal), or a temp file it
    stages: never a change of the story's own, never an outside change."""
    return is_temp_name(rel.rsplit("/", 1)[-1]) or _server_owned().match_file(rel)


def story_of(path: str, folders: tuple[str, ...], id_pattern: str) -> str | None:
    """The id of the story whose folder holds `path` (repo-relative), given the policy's story folders and
    id pattern; None for a path in no story's folder."""
    parts = path.split("/")
    for folder in folders:
        prefix = [p for p in folder.strip("/").split("/") if p not in ("", ".")]
        if len(parts) > len(prefix) + 1 and parts[: len(prefix)] == prefix:
            candidate = parts[len(prefix)]
            if re.fullmatch(id_pattern, candidate):
                return candidate
    return None
