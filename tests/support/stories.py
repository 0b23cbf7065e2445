"""Stories driven to an end through the real service on a git copy of examples/, for the report and the audit:
the demo's STORY-042 to BACKEND COMPLETE (the same steps as `storyfence demo`), and the same story driven to
BLOCKED by wrong fixes. The typecheck runner is the caller's: the real one (pnpm, tsc) or a ScriptedRunner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from storyfence.adapters.policy_file import load_builtin, load_policy
from storyfence.adapters.ports import RunCommand
from storyfence.app.service import StoryfenceService
from storyfence.app.writes import Edit
from storyfence.commands import demo_script as s
from storyfence.core.errors import Refused
from storyfence.core.models import CommandRun, Diagnostic, Outcome, PortsAdapters, Reuse
from tests.support.demo_story import CANCEL_ORDER_WRONG_FIXES
from tests.support.git import commit_all
from tests.support.repos import copy_example, story_inputs, write_tree

STORY = s.STORY
CANCEL_ORDER = "packages/core/src/orders/cancel-order.ts"
HOSTILE_FILE = "packages/core/src/orders/<script>alert(1)</script>.ts"
"""A file name that is markup: a page must show it as text (a folder `<script>alert(1)<` and a file `script>.ts`)."""
PWNED = "data-storyfence-pwned"
"""The attribute the hostile texts' scripts would set on the page's <body> if they ever ran."""
HOSTILE_TEXT = (
    f"</dd></dl><script>document.body.setAttribute('{PWNED}', 'log')</script>"
    f"<img src=x onerror=\"document.body.setAttribute('{PWNED}', 'img')\"> & @everyone | `tick` *bold*"
)
"""Log text from the model that tries to close the page's markup and run a script."""


def git_example(target: Path, *, node_modules: bool = True) -> Path:
    """A copy of examples/ at `target` as a git repo with one commit (node_modules and caches ignored)."""
    copy_example(target, node_modules=node_modules)
    (target / ".gitignore").write_text("node_modules/\n.turbo/\n*.tsbuildinfo\n", encoding="utf-8")
    commit_all(target, "the example monorepo", init=True)
    return target


def example_service(root: Path, run_command: RunCommand | None = None) -> StoryfenceService:
    """The service as `storyfence serve --root ROOT` builds it (the repo's policy, learned layout included)."""
    policy, sources = load_policy(root.resolve(), None)
    return StoryfenceService(root, policy, policy_paths=sources, run_command=run_command)


@dataclass
class ScriptedRunner:
    """A typecheck runner that answers each command with the next planned outcome; a failure carries the
    diagnostic `message` on the demo's cancel-order file."""

    outcomes: list[Outcome]
    message: str = "Type '\"canceled\"' is not assignable to type 'OrderStatus'."
    calls: list[tuple[str, ...]] = field(default_factory=list)

    async def __call__(
        self,
        argv: tuple[str, ...],
        *,
        package: str,
        package_dir: str,
        package_dirs: Mapping[str, str] | None = None,
        cwd: Path,
        timeout: float,
        output_cap: int,
        progress: object = None,
    ) -> CommandRun:
        self.calls.append(argv)
        outcome = self.outcomes.pop(0) if self.outcomes else "passed"
        failed = outcome == "failed"
        diagnostics = (Diagnostic(file=CANCEL_ORDER, line=22, column=38, code="TS2322", message=self.message),)
        return CommandRun(
            argv=argv,
            package=package,
            exit_code={"passed": 0, "failed": 2}.get(outcome),
            outcome=outcome,
            duration_seconds=0.02,
            diagnostics=diagnostics if failed else (),
            output_tail=f"{CANCEL_ORDER}(22,38): error TS2322: {self.message}" if failed else "",
        )


def _refused(service: StoryfenceService, path: str, content: str) -> None:
    try:
        service.write_file(STORY, path, content)
    except Refused:
        return
    raise AssertionError(f"a write of {path} was allowed")


def _log(service: StoryfenceService, fields: dict[str, Any], summary: str | None = None) -> None:
    service.append_chunk_log(
        STORY,
        summary if summary is not None else fields["summary"],
        Reuse(**fields["reuse"]),
        PortsAdapters(**fields["ports_adapters"]),
        fields["notes_risks"],
    )


def typecheck(service: StoryfenceService) -> str:
    return anyio.run(service.run_typecheck, STORY).outcome


def demo_story(service: StoryfenceService, *, hostile: bool = False) -> None:
    """STORY-042 as `storyfence demo` runs it: a React component, .env and a misplaced .http file refused, the
    use case written with a misspelt status, a failing then passing typecheck, the endpoint, BACKEND COMPLETE.
    With hostile=True a file named like markup is written too, and chunk 1's summary is HOSTILE_TEXT."""
    service.begin_chunk(STORY, "cancelOrder use case", "AC1-AC3: cancel rules")
    _refused(service, "apps/web/components/CancelButton.tsx", s.CANCEL_BUTTON_TSX)
    _refused(service, ".env", "API_PORT=4000\n")
    service.write_file(STORY, CANCEL_ORDER, s.CANCEL_ORDER_BROKEN)
    service.edit_file(STORY, "packages/core/src/index.ts", [Edit(**s.INDEX_EXPORT)])
    if hostile:
        service.write_file(STORY, HOSTILE_FILE, "export const hostile = '</script><b>not bold</b>';\n")
    assert typecheck(service) == "failed"
    service.edit_file(STORY, CANCEL_ORDER, [Edit(**s.CANCEL_ORDER_FIX)])
    assert typecheck(service) == "passed"
    _log(service, s.CHUNK_1_LOG, HOSTILE_TEXT if hostile else None)

    service.begin_chunk(STORY, "cancel endpoint", "AC1-AC4: POST /api/orders/:id/cancel")
    service.write_file(STORY, "apps/api/api/orders/[id]/cancel.ts", s.CANCEL_ENDPOINT)
    _refused(service, "apps/api/orders-cancel.http", s.CANCEL_HTTP)
    service.write_file(STORY, "__http__/orders-cancel.http", s.CANCEL_HTTP)
    _log(service, s.CHUNK_2_LOG)
    typecheck(service)
    assert service.complete_story(STORY).signal == "BACKEND COMPLETE"


def blocked_story(service: StoryfenceService) -> None:
    """STORY-042's first chunk with the misspelt status "fixed" wrongly twice: the gate blocks the story."""
    service.begin_chunk(STORY, "cancelOrder use case", "AC1-AC3: cancel rules")
    service.write_file(STORY, CANCEL_ORDER, s.CANCEL_ORDER_BROKEN)
    assert typecheck(service) == "failed"
    for fix in CANCEL_ORDER_WRONG_FIXES:
        service.edit_file(STORY, CANCEL_ORDER, [Edit(**fix)])
        typecheck(service)
    assert service.story_status(STORY).status == "blocked"


ONE_FILE_STORY = "STORY-001"
ONE_FILE = "packages/core/src/a.ts"


def one_file_story(root: Path) -> Path:
    """A repo of one core file and a story's inputs, with the story's first chunk open."""
    write_tree(root, {ONE_FILE: "export const a = 1;\n", **story_inputs(ONE_FILE_STORY)})
    StoryfenceService(root, load_builtin()).begin_chunk(ONE_FILE_STORY, "n", "o")
    return root
