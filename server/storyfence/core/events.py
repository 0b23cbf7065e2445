"""The facts a story's journal records, one per server action. The story state is derived from them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from storyfence.core.models import (
    CommandRun,
    FileChange,
    PackageBaseline,
    PortsAdapters,
    Reuse,
    TypecheckOutcome,
    UncheckedFile,
    Value,
)


class DirtyFile(Value):
    """A file that already differed from git HEAD when the story began (modified, untracked or deleted)."""

    path: str
    kind: Literal["created", "modified", "deleted"]
    sha256: str | None  # its content then; None when it was deleted (or not a regular file)


class ChunkOpened(Value):
    type: Literal["chunk_opened"] = "chunk_opened"
    number: int
    name: str
    objective: str
    base_commit: str | None = None  # git HEAD when the chunk opened (audit compares from the first one)
    # the first chunk only: what was already uncommitted when the story began (audit does not blame the
    # story for it); None in later chunks, in journals written before it existed, and outside git
    baseline: tuple[DirtyFile, ...] | None = None
    log_append: str = ""  # the chunk's heading and Objective (journals before it have none)


class FileChanged(Value):
    type: Literal["file_changed"] = "file_changed"
    chunk: int
    change: FileChange
    staged: str | None = None  # the temp file renamed onto the path right after this record (write-ahead)
    unlinks: str | None = None  # a delete's target as it was (device:inode:size:mtime), unlinked right after


class TypecheckRan(Value):
    """One run_typecheck call: every command it ran, and the packages/files nothing could check."""

    type: Literal["typecheck_ran"] = "typecheck_ran"
    chunk: int
    runs: tuple[CommandRun, ...]
    unchecked: tuple[str, ...] = ()  # the paths of unchecked_files (journals before those only have this)
    unchecked_files: tuple[UncheckedFile, ...] = ()
    # "unchecked": the commands passed (or none ran) but a changed file no check covers keeps the chunk open
    outcome: TypecheckOutcome
    log_append: str = ""  # text appended to BACKEND-LOG.md with this record (a failure block)


class ChunkLogged(Value):
    type: Literal["chunk_logged"] = "chunk_logged"
    chunk: int
    summary: str
    reuse: Reuse
    ports_adapters: PortsAdapters
    notes_risks: str
    log_append: str  # the rendered section, exactly as appended


class ChunkClosed(Value):
    type: Literal["chunk_closed"] = "chunk_closed"
    chunk: int
    log_append: str = ""  # an addendum when files changed after the section was written


class StoryBlocked(Value):
    type: Literal["story_blocked"] = "story_blocked"
    chunk: int | None
    reason: str
    details: str
    by: Literal["model", "fast-fail"]
    blockers: str  # the BLOCKERS.md content written with this record
    log_append: str = ""


class StoryCompleted(Value):
    type: Literal["story_completed"] = "story_completed"
    chunks: int
    log_append: str


class FileObserved(Value):
    """A change on disk the server did not make, seen at a chunk boundary, and judged like a write.

    Allowed: the change joins the open chunk (its typecheck and its log, marked as made outside storyfence).
    Refused: it is a stray that keeps every chunk from closing until it is undone.
    """

    type: Literal["file_observed"] = "file_observed"
    chunk: int | None
    change: FileChange  # outside=True; sha256 None when the file is gone
    allowed: bool
    rule: str
    reason: str = ""
    instead: str = ""


class StrayCleared(Value):
    """A refused outside change is undone: by restore_file (staged or unlinked like a write), or found undone."""

    type: Literal["stray_cleared"] = "stray_cleared"
    path: str
    by: Literal["restore_file", "undone"]
    staged: str | None = None  # restore_file: the base content, renamed onto the path right after this record
    unlinks: str | None = None  # restore_file: the file the base did not have, unlinked right after


class WriteRefused(Value):
    """A write a rule refused: evidence of what the agent tried."""

    type: Literal["write_refused"] = "write_refused"
    chunk: int | None
    tool: str
    path: str
    rule: str


class BaselineChecked(Value):
    """Packages a chunk did not change failed its typecheck: each one's own check at the story's base commit,
    recorded once per package per story. An error counts against the chunk only if its baseline lacks it."""

    type: Literal["baseline_checked"] = "baseline_checked"
    chunk: int
    commit: str | None  # the story's base commit
    baselines: tuple[PackageBaseline, ...]
    setup: tuple[CommandRun, ...] = ()  # what prepared the base commit's tree (the offline install)
    log_append: str = ""


Event = Annotated[
    ChunkOpened
    | FileChanged
    | TypecheckRan
    | ChunkLogged
    | ChunkClosed
    | StoryBlocked
    | StoryCompleted
    | FileObserved
    | StrayCleared
    | WriteRefused
    | BaselineChecked,
    Field(discriminator="type"),
]
