"""Tool results: the structured output every tool returns (pydantic models, advertised as output schemas)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from storyfence.core.models import CommandRun, FileChange, PackageBaseline, TypecheckOutcome, UncheckedFile


class Result(BaseModel):
    pass


class FileContent(Result):
    path: str
    content: str
    start_line: int = Field(description="1-based number of the first line returned")
    end_line: int = Field(description="number of the last line returned (0 for an empty file)")
    total_lines: int
    truncated: bool = Field(description="true when more lines follow: call again with offset=end_line+1")
    sha256: str


class FileList(Result):
    path: str
    files: list[str]
    total: int
    next_offset: int | None = Field(description="pass as offset to get the next page; null on the last page")


class SearchMatch(Result):
    path: str
    line: int
    text: str


class SearchResult(Result):
    pattern: str
    matches: list[SearchMatch]
    truncated: bool = Field(description="true when the match cap was reached: narrow path or glob")
    engine: Literal["ripgrep", "python"]


class PathDecision(Result):
    path: str
    allowed: bool
    rule: str
    pattern: str | None
    reason: str
    instead: str
    policy_file: str
    exceptions: list[str] = Field(
        default_factory=list, description="deny rules this path passes by an explicit exception of its allow rule"
    )
    message: str


class WriteResult(Result):
    story: str
    chunk: int
    change: FileChange
    bytes: int
    rule: str = Field(description="the allow rule that permitted the write")
    next_step: str


class RestoreResult(Result):
    story: str
    path: str
    restored: str = Field(description="what the file is now: as at the base commit, or deleted")
    next_step: str


class EditResult(Result):
    story: str
    path: str
    diff: str
    applied: bool = Field(description="false for a dry run")
    chunk: int | None
    sha256: str
    next_step: str


class ChunkView(Result):
    number: int
    name: str
    objective: str
    files: list[FileChange] = Field(description="the chunk's file changes")
    commands: list[CommandRun] = Field(description="its typecheck commands")
    file_count: int = Field(default=0, description="how many file changes the chunk recorded")
    command_count: int = Field(default=0, description="how many typecheck commands it ran")
    logged: bool
    typecheck: str
    failed_fix_attempts: int
    closed: bool
    unchecked: list[UncheckedFile] = Field(
        default_factory=list[UncheckedFile], description="changed files the latest typecheck did not cover"
    )
    refused: dict[str, int] = Field(
        default_factory=dict[str, int], description="writes refused while this chunk was open, by rule"
    )


class Stray(Result):
    path: str
    kind: str
    rule: str = Field(description="the rule that refuses this change made outside storyfence")
    reason: str
    instead: str


class IgnoredScopeEntry(Result):
    section: Literal["in_scope", "out_of_scope"]
    line: int = Field(description="1-based line of SCOPE.md")
    text: str = Field(description="the backticked path as written")
    reason: str = Field(description="why it does not count as a glob")


class ScopeView(Result):
    in_scope: list[str]
    out_of_scope: list[str]
    narrows: bool
    refuses_every_write: bool = Field(
        description="true when SCOPE.md cannot be read unambiguously: every write is refused until a human fixes it"
    )
    ignored: list[IgnoredScopeEntry] = Field(
        description="paths named in a scope section that are not glob list items, so they narrow nothing"
    )
    note: str


class StatusView(Result):
    story: str
    status: Literal["idle", "open", "blocked", "complete"]
    signal: str = Field(description="'BACKEND COMPLETE', 'BLOCKED: <reason>' or '' while work goes on")
    chunks: list[ChunkView] = Field(
        description="the last chunk (open or closed) with its files and commands; empty before the first"
    )
    recent: list[str] = Field(
        default_factory=list[str],
        description="the few chunks before the last, oldest first, one line each (BACKEND-LOG.md has their sections)",
    )
    earlier_chunks: int = Field(
        default=0, description="closed chunks before the last one; BACKEND-LOG.md holds their sections"
    )
    earlier_files: int = Field(default=0, description="file changes recorded in those earlier chunks")
    strays: list[Stray] = Field(
        default_factory=list[Stray],
        description="changes made outside storyfence that the rules refuse: no chunk closes until each is undone "
        "(restore_file)",
    )
    refused: dict[str, int] = Field(
        default_factory=dict[str, int], description="writes refused while no chunk was open, by rule"
    )
    next_step: str


class StoryView(Result):
    story: str
    folder: str
    story_md: str
    implementation_plan_md: str
    scope_md: str
    scope: ScopeView
    status: StatusView
    log_path: str
    policy: str = Field(description="the active policy: a committed .storyfence.toml, or the learned layout")


class TypecheckResult(Result):
    story: str
    chunk: int
    outcome: TypecheckOutcome = Field(
        description="'unchecked': the commands passed but a changed file no check covers keeps the chunk open"
    )
    runs: list[CommandRun]
    unchecked: list[str] = Field(description="changed files that no typecheck covers (allowed or not)")
    unchecked_files: list[UncheckedFile] = Field(
        description="each unchecked file with why, and whether the policy lets the chunk close with it"
    )
    failed_fix_attempts: int
    max_fix_attempts: int
    chunk_closed: bool
    dependents: list[str] = Field(
        default_factory=list[str],
        description="packages checked because they depend on a changed one; in a package the chunk did not "
        "change, an error its own check printed before the story too is old (a run's `preexisting`): never "
        "blamed on the chunk, never a fix attempt",
    )
    baselines: list[PackageBaseline] = Field(
        default_factory=list[PackageBaseline],
        description="packages checked at the story's base commit during this call, to tell old errors from new",
    )
    signal: str = Field(description="'BLOCKED: <reason>' when this failure blocked the story")
    message: str
    next_step: str


class LogResult(Result):
    story: str
    chunk: int
    section: str
    chunk_closed: bool
    next_step: str


class SignalResult(Result):
    story: str
    signal: str
    path: str | None = Field(default=None, description="the file written (BACKEND-LOG.md or BLOCKERS.md)")
