"""The thin MCP layer: tools, annotations and descriptions for the model; domain errors become tool errors here."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from storyfence import __version__
from storyfence.core.errors import StoryfenceError
from storyfence.core.models import PortsAdapters, Reuse
from storyfence.results import (
    EditResult,
    FileContent,
    FileList,
    LogResult,
    PathDecision,
    SearchResult,
    SignalResult,
    StatusView,
    StoryView,
    TypecheckResult,
    WriteResult,
)
from storyfence.service import Edit, StoryfenceService

log = logging.getLogger("storyfence")
P = ParamSpec("P")
R = TypeVar("R")

INSTRUCTIONS = """\
storyfence guards backend work on a story in this monorepo. The rules are enforced by the server:
- Only backend scope may be written (API endpoints, migrations/schema, packages/backend/**,
  transport-agnostic packages/core/**, __http__/*.http), and only what the story's SCOPE.md allows.
  A refused write names the rule and what to do instead; call check_path before writing if unsure.
- Work in chunks: begin_chunk -> write_file/edit_file/delete_file -> append_chunk_log and
  run_typecheck (either order). The next chunk cannot begin until the last one is logged and passed.
- A failed typecheck is logged for you; fix it. After the allowed fix attempts the story is BLOCKED.
- BACKEND-LOG.md and BLOCKERS.md are written by the server; you cannot write them.
- Finish with complete_story ("BACKEND COMPLETE") or report_blocker ("BLOCKED: <reason>").
Reuse first: search_code and read_file before writing new code.
"""

Story = Annotated[str, Field(description="the story id, e.g. STORY-042")]
RepoPath = Annotated[str, Field(description="a path relative to the repo root, POSIX slashes")]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)
APPEND = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)


def _translate(fn: Callable[P, R]) -> Callable[P, R]:
    """Domain errors become ToolErrors the model can act on; anything else is a bug the SDK masks."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except StoryfenceError as exc:
            raise ToolError(str(exc)) from exc

    return wrapper


def _translate_async(fn: Callable[P, Any]) -> Callable[P, Any]:
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        try:
            return await fn(*args, **kwargs)
        except StoryfenceError as exc:
            raise ToolError(str(exc)) from exc

    return wrapper


def build_server(service: StoryfenceService) -> MCPServer:
    """A configured MCPServer for `service`; no module-level state."""
    server: MCPServer = MCPServer(name="storyfence", version=__version__, instructions=INSTRUCTIONS)

    @server.tool(annotations=READ_ONLY)
    @_translate
    def read_file(
        path: RepoPath,
        offset: Annotated[int, Field(ge=1, description="1-based first line")] = 1,
        limit: Annotated[int | None, Field(ge=1, description="number of lines (capped by the policy)")] = None,
    ) -> FileContent:
        """Read a UTF-8 text file of the repo, by lines. Use it to reuse existing code before writing new code.
        Secrets (env files, private keys) are refused. If `truncated` is true, call again with
        offset=end_line+1."""
        return service.read_file(path, offset, limit)

    @server.tool(annotations=READ_ONLY)
    @_translate
    def list_files(
        path: Annotated[str, Field(description="directory relative to the repo root")] = ".",
        pattern: Annotated[str | None, Field(description="gitignore-style glob filter, e.g. '**/*.ts'")] = None,
        offset: Annotated[int, Field(ge=0, description="from next_offset of the previous page")] = 0,
    ) -> FileList:
        """List files under a directory (gitignored files and node_modules are skipped), one page at a time."""
        return service.list_files(path, pattern, offset)

    @server.tool(annotations=READ_ONLY)
    @_translate
    def search_code(
        pattern: Annotated[str, Field(min_length=1, description="text to find (literal unless regex=true)")],
        path: Annotated[str, Field(description="directory or file to search")] = ".",
        glob: Annotated[str | None, Field(description="only files matching this glob, e.g. '*.ts'")] = None,
        regex: bool = False,
        case_sensitive: bool = True,
    ) -> SearchResult:
        """Search file contents (gitignore-aware, capped). Reuse first: look for an existing function, type,
        port or adapter before writing a new one. Narrow `path` or `glob` when `truncated` is true."""
        return service.search_code(pattern, path, glob, regex, case_sensitive)

    @server.tool(annotations=READ_ONLY)
    @_translate
    def check_path(
        path: RepoPath,
        story: Annotated[str | None, Field(description="apply this story's SCOPE.md too")] = None,
    ) -> PathDecision:
        """The decision a write to `path` would get (allowed or refused), the rule and pattern that decide it,
        and what to do instead. Never writes anything."""
        return service.check_path(path, story)

    @server.tool(annotations=READ_ONLY)
    @_translate
    def read_story(story: Story) -> StoryView:
        """Read the story's three authoritative inputs (STORY, IMPLEMENTATION-PLAN, SCOPE), the parsed scope,
        the status and the chunks so far. Call this first; then begin_chunk."""
        return service.read_story(story)

    @server.tool(annotations=READ_ONLY)
    @_translate
    def story_status(story: Story) -> StatusView:
        """The story's status (idle, open, blocked, complete), its chunks and the next step."""
        return service.story_status(story)

    @server.tool(annotations=APPEND)
    @_translate
    def begin_chunk(
        story: Story,
        name: Annotated[str, Field(description="short chunk name, e.g. 'cancelOrder use case'")],
        objective: Annotated[str, Field(description="which story requirement / acceptance criterion it maps to")],
    ) -> StatusView:
        """Open the next chunk (one coherent set of edits). Refused while the previous chunk is not yet
        logged (append_chunk_log) and type-checked (run_typecheck); the refusal says which step is missing."""
        return service.begin_chunk(story, name, objective)

    @server.tool(annotations=WRITE)
    @_translate
    def write_file(
        story: Story,
        path: RepoPath,
        content: Annotated[str, Field(description="the whole new file content (UTF-8)")],
    ) -> WriteResult:
        """Create or replace a file, atomically, inside backend scope and the story's SCOPE.md, in the open
        chunk. A refusal names the rule and what to write instead; nothing is written then."""
        return service.write_file(story, path, content)

    @server.tool(annotations=DESTRUCTIVE)
    @_translate
    def edit_file(
        story: Story,
        path: RepoPath,
        edits: Annotated[list[Edit], Field(min_length=1, description="exact replacements, applied in order")],
        dry_run: Annotated[bool, Field(description="return the diff without writing")] = False,
    ) -> EditResult:
        """Replace exact text in a file. Each old_text must match exactly once; otherwise nothing is written
        and the error says which edit failed. Returns a unified diff."""
        return service.edit_file(story, path, edits, dry_run)

    @server.tool(annotations=DESTRUCTIVE)
    @_translate
    def delete_file(story: Story, path: RepoPath) -> WriteResult:
        """Delete a file inside backend scope, in the open chunk (recorded in the chunk's Files changed)."""
        return service.delete_file(story, path)

    @server.tool(annotations=APPEND)
    @_translate_async
    async def run_typecheck(story: Story, ctx: Context) -> TypecheckResult:
        """Run the fast-fail typecheck for the open chunk: the server finds the workspace packages the chunk
        changed and runs the policy's command for each (default `pnpm check-types --filter <package>`).
        On failure the errors are logged in BACKEND-LOG.md; fix them and run again. After the allowed fix
        attempts the story is BLOCKED. A tooling failure (pnpm missing, timeout) is not a fix attempt."""
        step = 0

        async def progress(message: str) -> None:
            nonlocal step
            step += 1
            await ctx.report_progress(step, None, message)

        return await service.run_typecheck(story, progress)

    @server.tool(annotations=APPEND)
    @_translate
    def append_chunk_log(
        story: Story,
        summary: Annotated[str, Field(description="what this chunk changed and why")],
        reuse: Reuse,
        ports_adapters: PortsAdapters,
        notes_risks: Annotated[str, Field(description="notes and risks ('none' if none)")],
    ) -> LogResult:
        """Append this chunk's section to BACKEND-LOG.md in the required structure. You give the summary,
        reuse and ports & adapters notes; the server fills Files changed and Commands run from its own
        records. Once per chunk (the log is append-only)."""
        return service.append_chunk_log(story, summary, reuse, ports_adapters, notes_risks)

    @server.tool(annotations=APPEND)
    @_translate
    def report_blocker(
        story: Story,
        reason: Annotated[str, Field(description="one line: why the work cannot go on")],
        details: Annotated[str, Field(description="what was tried, what is needed from a human")],
    ) -> SignalResult:
        """Stop: write BLOCKERS.md and mark the story BLOCKED. Returns 'BLOCKED: <reason>'; end with it."""
        return service.report_blocker(story, reason, details)

    @server.tool(annotations=APPEND)
    @_translate
    def complete_story(story: Story) -> SignalResult:
        """Finish: needs at least one closed chunk and none open. Appends the completion to BACKEND-LOG.md
        and returns 'BACKEND COMPLETE'; end your work with it."""
        return service.complete_story(story)

    return server
