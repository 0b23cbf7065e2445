"""The thin MCP layer: tools, annotations and descriptions for the model; domain errors become tool errors here,
and the SDK's answers to an unknown tool or prompt become the protocol errors the spec asks for."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

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
)
from mcp_types import Tool as MCPTool
from pydantic import Field

from storyfence import __version__
from storyfence.core.errors import StoryfenceError, WouldWait
from storyfence.mcp import completions
from storyfence.mcp.client_log import ClientLog
from storyfence.mcp.roots import Binding
from storyfence.mcp.tool_list import DeferredTools

if TYPE_CHECKING:  # the service, the policy and their models load with the first call, not to start serving
    from storyfence.app.code_cache import CodeCache
    from storyfence.app.service import StoryfenceService

log = logging.getLogger("storyfence")
R = TypeVar("R")

STORY_DOCUMENT = "storyfence://stories/{story}/{document}"
REPO_FILE = "storyfence://files/{+path}"
IMPLEMENT_BACKEND = "implement-backend"


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
        return self.deferred.remember(await super().list_tools())

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


def build_server(
    binding: Binding, schemas: CodeCache | None = None, instructions: str | None = None, *, inline_writes: bool = False
) -> MCPServer:
    """A configured MCPServer serving `binding`'s repo; no module-level state. `schemas`: where the tools/list
    answer is cached between runs (None: every tool is built when first listed or called). `instructions`: the
    server instructions for the repo's policy, already known (None: made from the policy now: with --root the
    policy is loaded for them, else they point at check_path). `inline_writes`: run a write on the event loop when
    its story's lock is free (stdio: one client, whose calls wait on each other's writes anyway); else always in a
    worker thread (HTTP: many clients, whose reads must not wait for another's sync)."""
    if instructions is None:
        from storyfence.mcp import prompts

        bound = binding.current()
        instructions = prompts.instructions(bound.policy if bound else None)
    server = SpecErrorsServer(schemas=schemas, name="storyfence", version=__version__, instructions=instructions)
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

    async def here(
        ctx: Context,
        call: Callable[[StoryfenceService], R],
        error: type[ToolError] | type[ResourceError] = ToolError,
    ) -> R:
        """Run a service call on the event loop: only for work that is bounded and never waits (a read of one
        regular file, opened non-blocking, at most the policy's byte cap). A worker thread's round trip costs
        more than such a call (about 150 against 50 us)."""

        async def at_once(service: StoryfenceService) -> R:
            return call(service)

        return await call_service(ctx, at_once, error)

    async def write(ctx: Context, call: Callable[[StoryfenceService, bool], R]) -> R:
        """A write, on the event loop when `inline_writes` and the story's lock is free at once (it is bounded:
        one file under the size cap, one sync; a worker thread's round trip costs about a tenth of it), else in
        a worker thread, where it may wait for the lock. Nothing is done before the lock is taken, so a write
        that found it held is simply run again."""
        if inline_writes:
            try:
                return await here(ctx, lambda service: call(service, False))
            except WouldWait:
                pass  # another transaction holds the lock (a typecheck, another server): wait off the loop
        return await run(ctx, lambda service: call(service, True))

    def register_tools() -> None:
        from storyfence.mcp.tools import register  # the tools' types load with the first tool built

        register(server.deferred.add, run, here, write, call_service, client_log)

    server.deferred.registers(register_tools)

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
        try:
            service = binding.current()
        except StoryfenceError as exc:  # the served root's policy cannot be loaded: say why
            raise ResourceError(str(exc)) from exc
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
        from storyfence.mcp import prompts

        return prompts.implement_backend(story, service.policy if service else None)

    return server
