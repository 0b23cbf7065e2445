"""`completion/complete`: the `story` argument of the prompt and the resource templates completes to the repo's
story ids, `document` to a story's document names, and a template's `path` to the repo's folders and files,
one segment at a time.

A completion is a hint an editor asks for while someone types: a reference or argument this server does not
complete gets an empty list (as the SDK's own default does), never an error, and a repo that cannot be bound
yet (no --root, no client roots) completes to nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp_types import CompleteRequestParams, CompleteResult, Completion, PromptReference

from storyfence.core.errors import StoryfenceError

if TYPE_CHECKING:  # the service and its models load with the first call, not to start serving
    from storyfence.app.service import StoryfenceService

MAX_VALUES = 100  # the spec's cap on one answer
STORY_ARGUMENT = "story"
PATH_ARGUMENT = "path"
DOCUMENT_ARGUMENT = "document"

ServiceFor = Callable[[ServerRequestContext[Any]], Awaitable["StoryfenceService"]]


def answer(candidates: list[str], typed: str) -> Completion:
    """The candidates that start with what was typed (case-insensitively), at most MAX_VALUES of them."""
    prefix = typed.casefold()
    found = [c for c in candidates if c.casefold().startswith(prefix)]
    return Completion(values=found[:MAX_VALUES], total=len(found), has_more=len(found) > MAX_VALUES)


def register(
    server: MCPServer,
    service_for: ServiceFor,
    *,
    templates: dict[str, tuple[str, ...]],
    prompts: dict[str, tuple[str, ...]],
) -> None:
    """Serve `completion/complete` on `server` (and so declare the completions capability). `templates` and
    `prompts` name the arguments each reference takes, by URI template and by prompt name."""

    async def complete(ctx: ServerRequestContext[Any], params: CompleteRequestParams) -> CompleteResult:
        ref = params.ref
        known = prompts.get(ref.name) if isinstance(ref, PromptReference) else templates.get(ref.uri)
        argument = params.argument
        if known is None or argument.name not in known:
            return CompleteResult(completion=Completion(values=[]))
        if argument.name == DOCUMENT_ARGUMENT:
            from storyfence.core.story_paths import DOCUMENTS

            return CompleteResult(completion=answer(list(DOCUMENTS), argument.value))
        try:
            service = await service_for(ctx)
            if argument.name == STORY_ARGUMENT:
                candidates = await anyio.to_thread.run_sync(service.story_ids)
            elif argument.name == PATH_ARGUMENT:
                candidates = await anyio.to_thread.run_sync(service.path_segments, argument.value)
            else:
                candidates = []
        except StoryfenceError:
            candidates = []  # no repo bound yet, or a folder that cannot be listed: nothing to suggest
        return CompleteResult(completion=answer(candidates, argument.value))

    lowlevel = server._lowlevel_server  # pyright: ignore[reportPrivateUsage]
    lowlevel.add_request_handler("completion/complete", CompleteRequestParams, complete)
