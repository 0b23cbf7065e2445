"""The typed tools: parameters, result models, annotations and the description the model reads (each tool's
docstring). Imported when the first tool is built (mcp/tool_list.py), not to answer the handshake or a
cached tools/list: the result models and the use cases behind them load with it."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from storyfence.app.results import (
    EditResult,
    FileContent,
    FileList,
    LogResult,
    PathDecision,
    RestoreResult,
    SearchResult,
    SignalResult,
    StatusView,
    StoryView,
    TypecheckResult,
    WriteResult,
)
from storyfence.app.service import StoryfenceService
from storyfence.app.writes import Edit
from storyfence.core.models import PortsAdapters, Reuse
from storyfence.mcp.client_log import ClientLog

R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., object])

Story = Annotated[str, Field(description="the story id, e.g. STORY-042")]
RepoPath = Annotated[str, Field(description="a path relative to the repo root, POSIX slashes")]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)
APPEND = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)


class Add(Protocol):
    def __call__(self, fn: Callable[..., Any], description: str, annotations: ToolAnnotations) -> None: ...


class Run(Protocol):
    """Run a blocking service call off the event loop, or (`here`) a bounded one on it; domain errors become tool
    errors."""

    def __call__(
        self,
        ctx: Context,
        call: Callable[[StoryfenceService], R],
        error: type[ToolError] | type[ResourceError] = ToolError,
    ) -> Awaitable[R]: ...


class Write(Protocol):
    """Run a write; `call` gets the service and whether it may wait for the story's lock."""

    def __call__(self, ctx: Context, call: Callable[[StoryfenceService, bool], R]) -> Awaitable[R]: ...


class CallService(Protocol):
    """Await a service call on the event loop (domain errors become tool errors)."""

    def __call__(
        self,
        ctx: Context,
        call: Callable[[StoryfenceService], Awaitable[R]],
        error: type[ToolError] | type[ResourceError] = ToolError,
    ) -> Awaitable[R]: ...


def register(add: Add, run: Run, here: Run, write: Write, call_service: CallService, client_log: ClientLog) -> None:
    """Register every tool through `add`, in the order tools/list gives them."""

    def tool(annotations: ToolAnnotations) -> Callable[[F], F]:
        """Register a tool whose description is its docstring, dedented for the model that reads it."""

        def register_one(fn: F) -> F:
            add(fn, inspect.cleandoc(fn.__doc__ or ""), annotations)
            return fn

        return register_one

    @tool(READ_ONLY)
    async def read_file(
        ctx: Context,
        path: RepoPath,
        offset: Annotated[int, Field(ge=1, description="1-based first line")] = 1,
        limit: Annotated[int | None, Field(ge=1, description="number of lines (capped by the policy)")] = None,
    ) -> FileContent:
        """Read a UTF-8 text file of the repo, by lines. Use it to reuse existing code before writing new code.
        Secrets (env files, private keys) are refused. If `truncated` is true, call again with
        offset=end_line+1."""
        return await here(ctx, lambda s: s.read_file(path, offset, limit))  # bounded: no worker thread

    @tool(READ_ONLY)
    async def list_files(
        ctx: Context,
        path: Annotated[str, Field(description="directory relative to the repo root")] = ".",
        pattern: Annotated[str | None, Field(description="gitignore-style glob filter, e.g. '**/*.ts'")] = None,
        offset: Annotated[int, Field(ge=0, description="from next_offset of the previous page")] = 0,
    ) -> FileList:
        """List files under a directory (gitignored files and node_modules are skipped), one page at a time."""
        return await run(ctx, lambda s: s.list_files(path, pattern, offset))

    @tool(READ_ONLY)
    async def search_code(
        ctx: Context,
        pattern: Annotated[str, Field(min_length=1, description="text to find (literal unless regex=true)")],
        path: Annotated[str, Field(description="directory or file to search")] = ".",
        glob: Annotated[str | None, Field(description="only files matching this glob, e.g. '*.ts'")] = None,
        regex: bool = False,
        case_sensitive: bool = True,
    ) -> SearchResult:
        """Search file contents (gitignore-aware, capped). Reuse first: look for an existing function, type,
        port or adapter before writing a new one. Narrow `path` or `glob` when `truncated` is true."""
        return await run(ctx, lambda s: s.search_code(pattern, path, glob, regex, case_sensitive))

    @tool(READ_ONLY)
    async def check_path(
        ctx: Context,
        path: RepoPath,
        story: Annotated[str | None, Field(description="apply this story's SCOPE.md too")] = None,
        content: Annotated[
            str | None, Field(description="the text you would write, to apply the content rules too")
        ] = None,
    ) -> PathDecision:
        """The decision a write to `path` would get (allowed or refused), the rule and pattern that decide it,
        and what to do instead. Never writes anything."""
        return await run(ctx, lambda s: s.check_path(path, story, content))

    @tool(READ_ONLY)
    async def read_story(ctx: Context, story: Story) -> StoryView:
        """Read the story's three authoritative inputs (STORY, IMPLEMENTATION-PLAN, SCOPE), the parsed scope,
        the status and the chunks so far. Call this first; then begin_chunk."""
        return await run(ctx, lambda s: s.read_story(story))

    @tool(READ_ONLY)
    async def story_status(ctx: Context, story: Story) -> StatusView:
        """The story's status (idle, open, blocked, complete), its latest chunks (earlier ones counted) and the next
        step."""
        return await run(ctx, lambda s: s.story_status(story))

    @tool(APPEND)
    async def begin_chunk(
        ctx: Context,
        story: Story,
        name: Annotated[str, Field(description="short chunk name, e.g. 'cancelOrder use case'")],
        objective: Annotated[str, Field(description="which story requirement / acceptance criterion it maps to")],
    ) -> StatusView:
        """Open the next chunk (one coherent set of edits). Refused while the previous chunk is not yet
        logged (append_chunk_log) and type-checked (run_typecheck); the refusal says which step is missing."""
        return await run(ctx, lambda s: s.begin_chunk(story, name, objective))

    @tool(WRITE)
    async def write_file(
        ctx: Context,
        story: Story,
        path: RepoPath,
        content: Annotated[str, Field(description="the whole new file content (UTF-8)")],
    ) -> WriteResult:
        """Create or replace a file, atomically, inside backend scope and the story's SCOPE.md, in the open
        chunk. A refusal names the rule and what to write instead; nothing is written then."""
        return await write(ctx, lambda s, wait: s.write_file(story, path, content, wait=wait))

    @tool(DESTRUCTIVE)
    async def edit_file(
        ctx: Context,
        story: Story,
        path: RepoPath,
        edits: Annotated[list[Edit], Field(min_length=1, description="exact replacements, applied in order")],
        dry_run: Annotated[bool, Field(description="return the diff without writing")] = False,
    ) -> EditResult:
        """Replace exact text in a file. Each old_text must match exactly once; otherwise nothing is written
        and the error says which edit failed. Returns a unified diff."""
        return await write(ctx, lambda s, wait: s.edit_file(story, path, edits, dry_run, wait=wait))

    @tool(DESTRUCTIVE)
    async def delete_file(ctx: Context, story: Story, path: RepoPath) -> WriteResult:
        """Delete a file inside backend scope, in the open chunk (recorded in the chunk's Files changed)."""
        return await run(ctx, lambda s: s.delete_file(story, path))

    @tool(DESTRUCTIVE)
    async def restore_file(ctx: Context, story: Story, path: RepoPath) -> RestoreResult:
        """Undo a change made outside storyfence that the rules refused (a file written with another tool
        that this server saw at a chunk boundary): the file goes back to the story's base commit, or is
        deleted if the base commit did not have it. Confined and recorded like every write."""
        return await run(ctx, lambda s: s.restore_file(story, path))

    @tool(APPEND)
    async def run_typecheck(ctx: Context, story: Story) -> TypecheckResult:
        """Run the fast-fail typecheck for the open chunk: the server finds the workspace packages the chunk
        changed and the packages that depend on them, and runs each one's check (its check script through
        the repo's package manager and turbo, or the repo's tsc for a TypeScript package without one). In a
        package the chunk did not change, an error that was already there before the story is reported in
        the run's `preexisting` and never counted against the chunk. On failure the errors are logged in
        BACKEND-LOG.md; fix them and run again. After the allowed fix attempts the story is BLOCKED. A
        tooling failure (pnpm missing, timeout) is not a fix attempt. A changed file no check covers is
        listed as not type-checked; unless the policy allows it the outcome is `unchecked` and the chunk
        stays open."""
        step = 0

        async def progress(message: str) -> None:
            nonlocal step
            step += 1
            await ctx.report_progress(step, None, message)

        result = await call_service(ctx, lambda s: s.run_typecheck(story, progress))
        await client_log.tell(ctx, "info" if result.outcome in ("passed", "not_needed") else "warning", result.message)
        return result

    @tool(APPEND)
    async def append_chunk_log(
        ctx: Context,
        story: Story,
        summary: Annotated[str, Field(description="what this chunk changed and why")],
        reuse: Reuse,
        ports_adapters: PortsAdapters,
        notes_risks: Annotated[str, Field(description="notes and risks ('none' if none)")],
    ) -> LogResult:
        """Append this chunk's section to BACKEND-LOG.md in the required structure. You give the summary,
        reuse and ports & adapters notes; the server fills Files changed and Commands run from its own
        records. Once per chunk (the log is append-only)."""
        return await run(ctx, lambda s: s.append_chunk_log(story, summary, reuse, ports_adapters, notes_risks))

    @tool(APPEND)
    async def report_blocker(
        ctx: Context,
        story: Story,
        reason: Annotated[str, Field(description="one line: why the work cannot go on")],
        details: Annotated[str, Field(description="what was tried, what is needed from a human")],
    ) -> SignalResult:
        """Stop: write BLOCKERS.md and mark the story BLOCKED. Returns 'BLOCKED: <reason>'; end with it."""
        return await run(ctx, lambda s: s.report_blocker(story, reason, details))

    @tool(APPEND)
    async def complete_story(ctx: Context, story: Story) -> SignalResult:
        """Finish: needs at least one closed chunk and none open. Appends the completion to BACKEND-LOG.md
        and returns 'BACKEND COMPLETE'; end your work with it."""
        return await run(ctx, lambda s: s.complete_story(story))
