"""The thin MCP layer: tools, annotations and descriptions for the model; domain errors become tool errors here,
and the SDK's answers to an unknown tool or prompt become the protocol errors the spec asks for."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    GetPromptRequestParams,
    GetPromptResult,
    InputRequiredResult,
    TextContent,
    ToolAnnotations,
)
from mcp_types import Tool as MCPTool
from pydantic import Field

from storyfence import __version__
from storyfence.app.code_cache import CodeCache
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
from storyfence.core.errors import StoryfenceError
from storyfence.core.models import PortsAdapters, Reuse
from storyfence.mcp import completions, prompts
from storyfence.mcp.client_log import ClientLog
from storyfence.mcp.roots import Binding
from storyfence.mcp.tool_list import DeferredTools

log = logging.getLogger("storyfence")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., object])

STORY_DOCUMENT = "storyfence://stories/{story}/{document}"
REPO_FILE = "storyfence://files/{+path}"
IMPLEMENT_BACKEND = "implement-backend"

Story = Annotated[str, Field(description="the story id, e.g. STORY-042")]
RepoPath = Annotated[str, Field(description="a path relative to the repo root, POSIX slashes")]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)
APPEND = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)


def _supports_roots(session: ServerSession) -> bool:
    caps = session.client_capabilities
    return caps is not None and caps.roots is not None


class SpecErrorsServer(MCPServer[Any]):
    """MCPServer whose unknown-tool and unknown-prompt answers are JSON-RPC error -32602 (invalid params), as the
    MCP spec has them. The SDK answers an unknown tool with an `isError` result (which a model reads as a failed
    call, not as a tool that does not exist), and an unknown prompt or a missing prompt argument with a bare
    ValueError, which reaches the client as code 0 or -32603 and is logged at ERROR with a traceback.

    Its tools are built on first use and listed from the schema cache (mcp/tool_list.py)."""

    def __init__(self, *, schemas: CodeCache | None, **settings: Any) -> None:
        super().__init__(**settings)
        self.deferred = DeferredTools(self, schemas)

    async def list_tools(self) -> list[MCPTool]:
        cached = self.deferred.cached_listing()
        if cached is not None:
            return cached
        self.deferred.build_all()
        listing = await super().list_tools()
        self.deferred.remember(listing)
        return listing

    def _tool_input_schema(self, name: str) -> dict[str, Any] | None:
        self.deferred.build(name)
        return super()._tool_input_schema(name)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> CallToolResult | InputRequiredResult:
        self.deferred.build(name)
        return await super().call_tool(name, arguments, context)

    async def _handle_call_tool(
        self, ctx: ServerRequestContext[Any], params: CallToolRequestParams
    ) -> CallToolResult | InputRequiredResult:
        self.deferred.build(params.name)
        if self._tool_manager.get_tool(params.name) is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {params.name}", data={"name": params.name})
        result = await super()._handle_call_tool(ctx, params)
        # the SDK puts `Error executing tool <name>: ` before every tool error; a refusal starts with what was
        # refused and why, so the model reads the rule first (a masked bug keeps the SDK's bare text)
        if isinstance(result, CallToolResult) and result.is_error:
            prefix = f"Error executing tool {params.name}: "
            result.content = [
                TextContent(type="text", text=block.text.removeprefix(prefix))
                if isinstance(block, TextContent)
                else block
                for block in result.content
            ]
        return result

    async def _handle_get_prompt(
        self, ctx: ServerRequestContext[Any], params: GetPromptRequestParams
    ) -> GetPromptResult | InputRequiredResult:
        prompt = self._prompt_manager.get_prompt(params.name)
        if prompt is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt: {params.name}", data={"name": params.name})
        given = params.arguments or {}
        missing = sorted(a.name for a in prompt.arguments or [] if a.required and a.name not in given)
        if missing:
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"Missing required arguments for prompt {params.name}: {', '.join(missing)}",
                data={"name": params.name, "missing": missing},
            )
        return await super()._handle_get_prompt(ctx, params)


def build_server(binding: Binding, schemas: CodeCache | None = None) -> MCPServer:
    """A configured MCPServer serving `binding`'s repo; no module-level state. `schemas`: where the tools/list
    answer is cached between runs (None: every tool is built when first listed or called)."""
    bound = binding.current()  # with --root the policy is known now; else the instructions point at check_path
    server = SpecErrorsServer(
        schemas=schemas,
        name="storyfence",
        version=__version__,
        instructions=prompts.instructions(bound.policy if bound else None),
    )
    client_log = ClientLog()
    client_log.register(server)

    async def service_for(ctx: ServerRequestContext[Any]) -> StoryfenceService:
        return await binding.service(ctx.session, _supports_roots(ctx.session))

    completions.register(
        server,
        service_for,
        templates={STORY_DOCUMENT: ("story", "document"), REPO_FILE: ("path",)},
        prompts={IMPLEMENT_BACKEND: ("story",)},
    )

    def tool(annotations: ToolAnnotations) -> Callable[[F], F]:
        """Register a tool whose description is its docstring, dedented for the model that reads it."""

        def register(fn: F) -> F:
            server.deferred.add(fn, inspect.cleandoc(fn.__doc__ or ""), annotations)
            return fn

        return register

    async def call_service(
        ctx: Context,
        call: Callable[[StoryfenceService], Awaitable[R]],
        error: type[ToolError] | type[ResourceError] = ToolError,
    ) -> R:
        """Call the service of the session's repo. Domain errors become tool errors (resource errors for a
        resource) here, once, mirrored into the client's log; SpecErrorsServer then strips the SDK's prefix."""
        try:
            service = await service_for(ctx.request_context)
            return await call(service)
        except StoryfenceError as exc:
            await client_log.tell(ctx, "warning", str(exc))
            raise error(str(exc)) from exc

    async def run(
        ctx: Context,
        call: Callable[[StoryfenceService], R],
        error: type[ToolError] | type[ResourceError] = ToolError,
    ) -> R:
        """Run a blocking service call off the event loop."""
        return await call_service(
            ctx, lambda service: anyio.to_thread.run_sync(functools.partial(call, service)), error
        )

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
        return await run(ctx, lambda s: s.read_file(path, offset, limit))

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
        """The story's status (idle, open, blocked, complete), its chunks and the next step."""
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
        return await run(ctx, lambda s: s.write_file(story, path, content))

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
        return await run(ctx, lambda s: s.edit_file(story, path, edits, dry_run))

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

    # --- resources and the prompt -----------------------------------------------------------------------

    async def read_resource(ctx: Context, call: Callable[[StoryfenceService], str]) -> str:
        return await run(ctx, call, ResourceError)

    @server.resource(
        "storyfence://policy",
        name="policy",
        title="Active storyfence policy",
        description="The policy in force: rules (allow / deny / read_deny) with patterns, reasons and what to do "
        "instead; typecheck command; limits.",
        mime_type="application/json",
    )
    def policy_resource() -> str:
        # static resources get no Context (SDK rule): serve the policy of the root already bound
        service = binding.current()
        if service is None:
            raise ResourceError("no repo is bound yet: call a tool first, or start storyfence with --root")
        return service.policy_document()

    @server.resource(
        STORY_DOCUMENT,
        name="story-document",
        title="A story's file",
        description="document is one of: story, plan, scope (the read-only inputs), log (BACKEND-LOG.md), "
        "blockers (BLOCKERS.md).",
        mime_type="text/markdown",
    )
    async def story_resource(ctx: Context, story: str, document: str) -> str:
        return await read_resource(ctx, lambda s: s.story_document(story, document))

    @server.resource(
        REPO_FILE,
        name="repo-file",
        title="A file of the repo",
        description="A UTF-8 text file of the served repo, read like read_file (confined; secrets refused).",
        mime_type="text/plain",
    )
    async def file_resource(ctx: Context, path: str) -> str:
        return await read_resource(ctx, lambda s: s.read_file(path, 1, None).content)

    @server.prompt(
        name=IMPLEMENT_BACKEND,
        title="Implement the backend of a story",
        description="The backend-coder workflow for one story, using storyfence's guarded tools.",
    )
    async def implement_backend(
        ctx: Context, story: Annotated[str, Field(description="the story id, e.g. STORY-042")]
    ) -> str:
        try:
            service = await service_for(ctx.request_context)
        except StoryfenceError:
            service = None  # no repo (or no valid policy) yet: the prompt points at check_path instead
        return prompts.implement_backend(story, service.policy if service else None)

    return server
