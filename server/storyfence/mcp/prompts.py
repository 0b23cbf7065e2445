"""The words the server gives the model before it calls a tool: the server instructions and the
`implement-backend` prompt. Where a write may go comes from the active policy (core.advice), never from a
fixed list; with no repo bound yet, they point at check_path and the policy resource instead."""

from __future__ import annotations

import textwrap

from storyfence.core.advice import advice_lines, write_advice
from storyfence.core.policy import Policy

_UNBOUND = ["- the storyfence://policy resource holds its rules; check_path gives the decision on one path."]

INSTRUCTIONS = """\
storyfence guards backend work on a story in this monorepo. The rules are enforced by the server:
- Only what the policy{name} allows may be written, and only what the story's SCOPE.md allows:
{scope}
  A refused write names the rule and what to do instead; call check_path before writing if unsure.
- Work in chunks: begin_chunk -> write_file/edit_file/delete_file -> append_chunk_log and
  run_typecheck (either order). The next chunk cannot begin until the last one is logged and passed.
- A failed typecheck is logged for you; fix it. After the allowed fix attempts the story is BLOCKED.
- BACKEND-LOG.md and BLOCKERS.md are written by the server; you cannot write them.
- Files changed with other tools are seen at each chunk boundary and judged like writes; one the rules
  refuse keeps the chunk open until undone (restore_file).
- Finish with complete_story ("BACKEND COMPLETE") or report_blocker ("BLOCKED: <reason>").
Reuse first: search_code and read_file before writing new code.
"""

IMPLEMENT_BACKEND = """\
Implement ONLY the backend portions of {story}, in small auditable chunks, with storyfence's tools.
The server enforces the rules; a refusal names the rule and what to do instead: follow it.

1. Call read_story("{story}"). The story, IMPLEMENTATION-PLAN.md and SCOPE.md are authoritative and
   read-only. Implement what they ask, nothing more (no scope expansion, no unrelated refactors).
2. Reuse first: search_code and read_file for existing packages, ports and adapters before writing new code.
3. For each chunk (one coherent set of edits):
   a. begin_chunk("{story}", name, objective) with the requirement / acceptance criterion it maps to.
   b. write_file / edit_file / delete_file, only where the policy{name} and the story's SCOPE.md allow:
{scope}
   c. append_chunk_log("{story}", summary, reuse, ports_adapters, notes_risks). The server fills Files
      changed and Commands run itself.
   d. run_typecheck("{story}"). On failure, read the diagnostics, fix them, and run it again. After the
      allowed fix attempts the server blocks the story: then stop.
   The next chunk cannot begin until the last one is logged and its typecheck passed.
4. When all backend work is done, call complete_story("{story}") and end with "BACKEND COMPLETE".
   If you cannot go on, call report_blocker("{story}", reason, details) and end with "BLOCKED: <reason>".
"""


def _scope(policy: Policy | None, indent: str) -> tuple[str, str]:
    """The policy's name as the text shows it, and where a write may go, indented under the item."""
    if policy is None:
        return "", textwrap.indent("\n".join(_UNBOUND), indent)
    return f" `{policy.name}`", textwrap.indent("\n".join(advice_lines(write_advice(policy))), indent)


def instructions(policy: Policy | None) -> str:
    """The server instructions, naming where `policy` lets a write go (None: no repo is bound yet)."""
    name, scope = _scope(policy, "  ")
    return INSTRUCTIONS.format(name=name, scope=scope)


def implement_backend(story: str, policy: Policy | None) -> str:
    """The `implement-backend` prompt for `story`, naming where `policy` lets a write go."""
    name, scope = _scope(policy, "      ")
    return IMPLEMENT_BACKEND.format(story=story, name=name, scope=scope)
