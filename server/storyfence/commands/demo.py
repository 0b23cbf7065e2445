"""`storyfence demo`: copy the bundled example monorepo to a temporary directory and run the scripted
STORY-042 session through the real server over stdio with the official MCP client, printing a transcript."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import CallToolResult, TextContent

from storyfence.commands import demo_script as s
from storyfence.core.story_paths import StoryPaths

STEP_TIMEOUT = 300.0


CHECKOUT = Path(__file__).resolve().parents[3]  # a source checkout, when this package lives in server/storyfence
TOOLS_BIN = CHECKOUT / "tools" / "node" / "node_modules" / ".bin"  # what `make setup` installs pnpm into


class DemoFailed(Exception):
    """The demo cannot start, or a step did not go as scripted: said in one line, with what to do."""


def find_examples() -> Path | None:
    """The example monorepo of a source checkout, else ./examples."""
    for candidate in (CHECKOUT / "examples", Path.cwd() / "examples"):
        if (candidate / "pnpm-workspace.yaml").is_file():
            return candidate
    return None


def prerequisites(source: Path | None, env_path: str, tools_bin: Path | None = TOOLS_BIN) -> tuple[Path, str]:
    """The example monorepo and the PATH the demo's server runs with, or DemoFailed naming what to run. The
    typecheck needs node and pnpm: the PATH's, else the pnpm `make setup` put in the checkout's tools/node."""
    if source is None or not (source / "pnpm-workspace.yaml").is_file():
        raise DemoFailed(
            "the example monorepo (examples/) was not found: it comes with a source checkout, not with the "
            "package. In a checkout run `make demo`, or `storyfence demo --examples CHECKOUT/examples`"
        )
    if not (source / "node_modules").is_dir():
        raise DemoFailed(f"{source}/node_modules is missing: run `make setup` in the checkout first")
    if shutil.which("node", path=env_path) is None:
        raise DemoFailed("node is not on PATH: install Node 20 or newer (with npm), then run `make setup`")
    if shutil.which("pnpm", path=env_path) is not None:
        return source, env_path
    if tools_bin is not None and shutil.which("pnpm", path=str(tools_bin)) is not None:
        return source, os.pathsep.join([str(tools_bin), env_path])
    raise DemoFailed(
        "pnpm is not on PATH (the demo runs the example's real typecheck with it): run `make setup` in the "
        "checkout (it installs pnpm into tools/node, which the demo then uses) or `npm install -g pnpm@12`, "
        "then `storyfence demo` again; `make demo` does all of it"
    )


def summary(tool: str, result: dict[str, Any]) -> str:
    """One line saying what a step that went through did."""
    if tool in ("write_file", "delete_file"):
        change = result["change"]
        return f"{change['path']} {change['kind']} (rule {result['rule']})"
    if tool == "edit_file":
        return f"{result['path']} edited in chunk {result['chunk']}"
    if tool == "begin_chunk":
        return f"chunk {len(result['chunks'])} open: {result['chunks'][-1]['name']}"
    if tool == "read_story":
        return result["scope"]["note"]
    if tool == "append_chunk_log":
        return f"chunk {result['chunk']} logged by the server; closed: {result['chunk_closed']}"
    if tool == "complete_story":
        return result["signal"]
    return str(result.get("message", ""))


class Transcript:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def _c(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def step(self, text: str) -> None:
        print(f"\n{self._c('1', '▶ ' + text)}")

    def call(self, tool: str, args: dict[str, Any]) -> None:
        shown = {k: (v if not isinstance(v, str) or len(v) < 70 else v[:67] + "...") for k, v in args.items()}
        print(self._c("36", f"  → {tool}({json.dumps(shown, ensure_ascii=False)})"))

    def ok(self, text: str) -> None:
        print(self._c("32", f"  ✓ {text}"))

    def refused(self, text: str) -> None:
        print(self._c("31", f"  ✗ refused: {text}"))


def _text(result: CallToolResult) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


async def run_demo(root: Path, out: Transcript, path: str) -> int:
    env = {"PATH": path, "TURBO_TELEMETRY_DISABLED": "1"}
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "storyfence", "serve", "--root", str(root), "--log-level", "WARNING"],
        env=env,
    )
    async with Client(params, mode="legacy", read_timeout_seconds=STEP_TIMEOUT) as client:

        async def call(tool: str, expect_refusal: bool = False, /, **args: Any) -> dict[str, Any]:
            out.call(tool, args)
            result = await client.call_tool(tool, args)
            if result.is_error:
                out.refused(_text(result))
                if not expect_refusal:
                    raise DemoFailed(f"the step {tool} was refused; the demo expected it to go through")
                return {}
            if expect_refusal:
                raise DemoFailed(f"the step {tool} went through; the demo expected it to be refused")
            data: Any = result.structured_content
            found = cast("dict[str, Any]", data) if isinstance(data, dict) else {}
            shown = summary(tool, found)
            if shown:
                out.ok(shown)
            if found.get("outcome") == "tooling_error":  # the rest of the script needs a typecheck that runs
                notes = "; ".join(run["note"] for run in found["runs"] if run["note"])
                raise DemoFailed(f"the example's typecheck could not run ({notes}): run `make setup` in the checkout")
            return found

        out.step(f"The agent reads {s.STORY}: its inputs are authoritative and read-only")
        await call("read_story", story=s.STORY)

        out.step("Chunk 1: the cancelOrder use case in packages/core")
        await call("begin_chunk", story=s.STORY, name="cancelOrder use case", objective="AC1-AC3: cancel rules")
        await call(
            "write_file", True, story=s.STORY, path="apps/web/components/CancelButton.tsx", content=s.CANCEL_BUTTON_TSX
        )
        await call("write_file", True, story=s.STORY, path=".env", content="API_PORT=4000\n")
        await call(
            "write_file", story=s.STORY, path="packages/core/src/orders/cancel-order.ts", content=s.CANCEL_ORDER_BROKEN
        )
        await call("edit_file", story=s.STORY, path="packages/core/src/index.ts", edits=[s.INDEX_EXPORT])
        await call("begin_chunk", True, story=s.STORY, name="endpoint", objective="too early")
        out.ok("the next chunk cannot start yet; the refusal names the missing steps")
        check = await call("run_typecheck", story=s.STORY)
        for run in check["runs"]:
            out.ok(f"ran `{' '.join(run['argv'])}` for real: {run['outcome']} (exit {run['exit_code']})")
            for d in run["diagnostics"][:3]:
                print(f"      {d['file']}:{d['line']}:{d['column']} {d['code']} {d['message'].splitlines()[0]}")
        await call(
            "edit_file", story=s.STORY, path="packages/core/src/orders/cancel-order.ts", edits=[s.CANCEL_ORDER_FIX]
        )
        await call("run_typecheck", story=s.STORY)
        await call("append_chunk_log", story=s.STORY, **s.CHUNK_1_LOG)

        out.step("Chunk 2: the endpoint and its request file")
        await call(
            "begin_chunk", story=s.STORY, name="cancel endpoint", objective="AC1-AC4: POST /api/orders/:id/cancel"
        )
        await call("write_file", story=s.STORY, path="apps/api/api/orders/[id]/cancel.ts", content=s.CANCEL_ENDPOINT)
        await call("write_file", True, story=s.STORY, path="apps/api/orders-cancel.http", content=s.CANCEL_HTTP)
        await call("write_file", story=s.STORY, path="__http__/orders-cancel.http", content=s.CANCEL_HTTP)
        await call("append_chunk_log", story=s.STORY, **s.CHUNK_2_LOG)
        check = await call("run_typecheck", story=s.STORY)
        out.ok(f"unchecked (no package check script): {', '.join(check['unchecked']) or 'none'}")

        out.step("Completion")
        await call("complete_story", story=s.STORY)
    log = root / StoryPaths(s.STORY, s.STORY).log  # the example keeps its story at the repo root
    out.step(f"{log.relative_to(root)} (written by the server)")
    print(log.read_text(encoding="utf-8"))
    return 0


def unwrap(exc: BaseException) -> DemoFailed | None:
    """The DemoFailed inside an exception group the client's task groups wrapped it in, if that is what it is."""
    if isinstance(exc, DemoFailed):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = unwrap(inner)
        if found is not None:
            return found
    return None


def main(examples: Path | None = None, keep: bool = False) -> int:
    try:
        source, path = prerequisites(examples or find_examples(), os.environ.get("PATH", ""))
    except DemoFailed as exc:
        print(f"storyfence demo: {exc}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="storyfence-demo-"))
    root = workdir / "repo"
    shutil.copytree(source, root, symlinks=True, ignore=shutil.ignore_patterns(".turbo"))
    out = Transcript(colour=sys.stdout.isatty() and "NO_COLOR" not in os.environ)
    print(f"storyfence demo: a copy of {source} in {root}")
    try:
        return anyio.run(run_demo, root, out, path)
    except Exception as exc:
        failed = unwrap(exc)
        if failed is None:
            raise
        print(f"\nstoryfence demo: {failed}", file=sys.stderr)
        return 1
    finally:
        if keep:
            print(f"\n(kept {root})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
