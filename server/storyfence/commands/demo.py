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


def find_examples() -> Path | None:
    """The example monorepo of a source checkout (this package lives in server/storyfence)."""
    for candidate in (Path(__file__).resolve().parents[2] / "examples", Path.cwd() / "examples"):
        if (candidate / "pnpm-workspace.yaml").is_file():
            return candidate
    return None


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


async def run_demo(root: Path, out: Transcript) -> int:
    env = {"PATH": os.environ.get("PATH", ""), "TURBO_TELEMETRY_DISABLED": "1"}
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
                    raise SystemExit(f"demo step {tool} failed unexpectedly")
                return {}
            if expect_refusal:
                raise SystemExit(f"demo step {tool} should have been refused")
            data: Any = result.structured_content
            return cast("dict[str, Any]", data) if isinstance(data, dict) else {}

        out.step(f"The agent reads {s.STORY}: its inputs are authoritative and read-only")
        story = await call("read_story", story=s.STORY)
        out.ok(story["scope"]["note"])

        out.step("Chunk 1: the cancelOrder use case in packages/core")
        await call("begin_chunk", story=s.STORY, name="cancelOrder use case", objective="AC1-AC3: cancel rules")
        await call(
            "write_file", True, story=s.STORY, path="apps/web/components/CancelButton.tsx", content=s.CANCEL_BUTTON_TSX
        )
        await call("write_file", True, story=s.STORY, path=".env", content="API_PORT=4000\n")
        written = await call(
            "write_file", story=s.STORY, path="packages/core/src/orders/cancel-order.ts", content=s.CANCEL_ORDER_BROKEN
        )
        out.ok(f"{written['change']['path']} {written['change']['kind']} (rule {written['rule']})")
        await call("edit_file", story=s.STORY, path="packages/core/src/index.ts", edits=[s.INDEX_EXPORT])
        await call("begin_chunk", True, story=s.STORY, name="endpoint", objective="too early")
        out.ok("the next chunk cannot start yet; the refusal names the missing steps")
        check = await call("run_typecheck", story=s.STORY)
        for run in check["runs"]:
            out.ok(f"ran `{' '.join(run['argv'])}` for real: {run['outcome']} (exit {run['exit_code']})")
            for d in run["diagnostics"][:3]:
                print(f"      {d['file']}:{d['line']}:{d['column']} {d['code']} {d['message'].splitlines()[0]}")
        out.ok(check["message"])
        await call(
            "edit_file", story=s.STORY, path="packages/core/src/orders/cancel-order.ts", edits=[s.CANCEL_ORDER_FIX]
        )
        check = await call("run_typecheck", story=s.STORY)
        out.ok(check["message"])
        logged = await call("append_chunk_log", story=s.STORY, **s.CHUNK_1_LOG)
        out.ok(f"chunk 1 logged by the server; closed: {logged['chunk_closed']}")

        out.step("Chunk 2: the endpoint and its request file")
        await call(
            "begin_chunk", story=s.STORY, name="cancel endpoint", objective="AC1-AC4: POST /api/orders/:id/cancel"
        )
        await call("write_file", story=s.STORY, path="apps/api/api/orders/[id]/cancel.ts", content=s.CANCEL_ENDPOINT)
        await call("write_file", True, story=s.STORY, path="apps/api/orders-cancel.http", content=s.CANCEL_HTTP)
        await call("write_file", story=s.STORY, path="__http__/orders-cancel.http", content=s.CANCEL_HTTP)
        await call("append_chunk_log", story=s.STORY, **s.CHUNK_2_LOG)
        check = await call("run_typecheck", story=s.STORY)
        out.ok(check["message"])
        out.ok(f"unchecked (no package check script): {', '.join(check['unchecked']) or 'none'}")

        out.step("Completion")
        done = await call("complete_story", story=s.STORY)
        out.ok(done["signal"])
    log = root / StoryPaths(s.STORY, ".").log
    out.step(f"{log.relative_to(root)} (written by the server)")
    print(log.read_text(encoding="utf-8"))
    return 0


def main(examples: Path | None = None, keep: bool = False) -> int:
    source = examples or find_examples()
    if source is None:
        print(
            "storyfence demo: the example monorepo (examples/) was not found; run it from a checkout", file=sys.stderr
        )
        return 2
    if not (source / "node_modules").is_dir():
        print(f"storyfence demo: {source}/node_modules is missing: run `make setup` first", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="storyfence-demo-"))
    root = workdir / "repo"
    shutil.copytree(source, root, symlinks=True, ignore=shutil.ignore_patterns(".turbo"))
    out = Transcript(colour=sys.stdout.isatty() and "NO_COLOR" not in os.environ)
    print(f"storyfence demo: a copy of {source} in {root}")
    try:
        return anyio.run(run_demo, root, out)
    finally:
        if keep:
            print(f"\n(kept {root})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
