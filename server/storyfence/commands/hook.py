"""`storyfence hook claude-code`: a Claude Code PreToolUse hook that holds Claude Code's own file tools
(Write, Edit, MultiEdit, NotebookEdit) to the same policy, scope and workflow as the server's tools.

Claude Code runs the hook with the tool call as JSON on stdin. A refusal is answered on stdout with
`hookSpecificOutput.permissionDecision = "deny"` and the server's own message (rule id, pattern, policy
file, what to do instead), which Claude Code shows to the model. An allowed write gets no output and
exit 0, so Claude Code's normal permission flow goes on: the hook never approves anything by itself.

It fails closed. Claude Code blocks a PreToolUse call only on a deny decision (exit 0) or on exit code 2
(stderr is shown to the model); any other exit code, a crash included, is a non-blocking error and the
write goes through. So every failure here is exit 2 with the reason on stderr: input that is not a
PreToolUse call, an unexpected exception, and a hook that outlives its own deadline (a hook that Claude
Code times out does not block either, so the hook stops well before Claude Code would). What happens
before this code runs (storyfence not on the PATH, a broken install) is caught by the shell command
`init` writes, which turns any exit code but 0 into 2.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Mapping

from storyfence.commands.hook_call import as_object, proposed_texts, repo_relative
from storyfence.core.errors import StoryfenceError

TYPE_CHECKING = False  # typing is not imported: the hook pays for every module it loads
if TYPE_CHECKING:
    from pathlib import Path

    from storyfence.app.repo import Repo, Story
    from storyfence.core.workflow import StoryState

# Claude Code starts this module's process before every write: it imports only what a decision needs, when it
# needs it (not the MCP server, the service's other use cases, or the policy's TOML when the cache holds it)

WRITE_TOOLS: dict[str, str] = {
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
}
"""Claude Code's file-writing tools and the tool_input field that names the file."""

STORY_ENV = "STORYFENCE_STORY"
PROJECT_DIR_ENV = "CLAUDE_PROJECT_DIR"
DEADLINE_ENV = "STORYFENCE_HOOK_DEADLINE"
DEADLINE_SECONDS = 20.0
"""How long the hook may take before it refuses on its own: well under the `timeout` (60 s) that `init`
writes into the hook entry, because a hook that Claude Code times out is a non-blocking error."""
BLOCK = 2
"""The exit code on which Claude Code blocks a PreToolUse call and shows stderr to the model."""


class HookInputError(Exception):
    """The hook JSON is not a PreToolUse call we can read (the call is refused: exit 2)."""


class ToolCall:
    """The part of a PreToolUse hook input that the hook judges (a plain class: no dataclasses import)."""

    __slots__ = ("cwd", "tool_input", "tool_name")

    def __init__(self, tool_name: str, tool_input: dict[str, object], cwd: str | None) -> None:
        self.tool_name = tool_name
        self.tool_input = tool_input
        self.cwd = cwd

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ToolCall):
            return NotImplemented
        return (self.tool_name, self.tool_input, self.cwd) == (other.tool_name, other.tool_input, other.cwd)

    __hash__ = None  # pyright: ignore[reportAssignmentType]

    @property
    def path(self) -> str:
        return str(self.tool_input[WRITE_TOOLS[self.tool_name]])


def parse_hook_input(text: str) -> ToolCall | None:
    """The tool call in a PreToolUse hook input; None for a tool the hook does not judge.

    Raises HookInputError when the text is not a PreToolUse hook input.
    """
    try:
        raw: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HookInputError(f"the hook input is not JSON ({exc.msg} at line {exc.lineno})") from None
    data = as_object(raw)
    if data is None:
        raise HookInputError("the hook input is not a JSON object")
    event = data.get("hook_event_name", "PreToolUse")
    if event != "PreToolUse":
        raise HookInputError(f"this hook answers PreToolUse events, not {event!r}: install it under PreToolUse")
    tool_name = data.get("tool_name")
    if not isinstance(tool_name, str):
        raise HookInputError("the hook input has no tool_name")
    if tool_name not in WRITE_TOOLS:
        return None
    tool_input = as_object(data.get("tool_input"))
    if tool_input is None:
        raise HookInputError(f"the {tool_name} call has no tool_input object")
    field = WRITE_TOOLS[tool_name]
    path = tool_input.get(field)
    if not isinstance(path, str) or not path:
        raise HookInputError(f"the {tool_name} call has no tool_input.{field}")
    cwd = data.get("cwd")
    return ToolCall(tool_name=tool_name, tool_input=tool_input, cwd=cwd if isinstance(cwd, str) and cwd else None)


def deny(reason: str) -> str:
    """The documented PreToolUse answer that refuses the call; `reason` is shown to the model."""
    return json.dumps(
        {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        }
    )


def root_for_call(root: str | os.PathLike[str] | None, call: ToolCall, environ: Mapping[str, str]) -> str:
    """`--root`, else $CLAUDE_PROJECT_DIR (where Claude Code was started), else the call's cwd.

    The project dir comes before `cwd` because `cwd` follows the session's `cd`s, and a hook that
    judged paths against a subfolder would refuse (or confine to) the wrong tree.
    """
    if root is not None:
        return os.fspath(root)
    project = environ.get(PROJECT_DIR_ENV)
    if project:
        return project
    return call.cwd if call.cwd else os.getcwd()


def claude_code_hook(
    stdin_text: str,
    *,
    root: str | os.PathLike[str] | None,
    policy_path: str | os.PathLike[str] | None,
    story: str | None,
    environ: Mapping[str, str] | None = None,
) -> tuple[int, str]:
    """Judge one Claude Code PreToolUse call. Returns (exit code, stdout); stderr is written here.

    Exit 0 with no output: not a write tool, or an allowed write (Claude Code's own permission flow
    continues). Exit 0 with a deny decision: the write is refused, with the server's rule and reason.
    Exit 2 with the reason on stderr: the call could not be judged (input that is not a PreToolUse call,
    or anything unexpected), so it is refused. Never any other code: Claude Code would let the write through.
    """
    try:
        return _claude_code_hook(stdin_text, root=root, policy_path=policy_path, story=story, environ=environ)
    except Exception as exc:  # whatever it is, the write must not go through unjudged
        print(
            f"storyfence hook: this write is refused because the hook failed ({type(exc).__name__}: {exc}). "
            "Run `storyfence check PATH` in the project to see the error.",
            file=sys.stderr,
        )
        return BLOCK, ""


def _claude_code_hook(
    stdin_text: str,
    *,
    root: str | os.PathLike[str] | None,
    policy_path: str | os.PathLike[str] | None,
    story: str | None,
    environ: Mapping[str, str] | None,
) -> tuple[int, str]:
    env = os.environ if environ is None else environ
    try:
        call = parse_hook_input(stdin_text)
    except HookInputError as exc:
        print(f"storyfence hook: {exc}; the call is refused", file=sys.stderr)
        return BLOCK, ""
    if call is None:
        return 0, ""
    chosen = root_for_call(root, call, env)
    relative = repo_relative(call.path, chosen, os.path.realpath(chosen), call.cwd)
    if call.path != call.path.strip() or relative != relative.strip():
        # confinement judges a path without its surrounding whitespace; Claude Code writes it with it: the file
        # written would not be the file judged (and the content rules would judge another name), so refuse
        return 0, deny(
            f"storyfence refuses this write to {call.path!r} (rule `confinement`): the path begins or ends with "
            "whitespace, and the rules judge paths without it, so the file written would not be the file judged. "
            "Instead: name the file exactly, without surrounding whitespace."
        )
    story = story or env.get(STORY_ENV) or None
    decided, refusal = quick_judge_or_none(call, chosen, policy_path=policy_path, story=story)
    if decided:
        return (0, "") if refusal is None else (0, deny(refusal))
    try:
        refusal = judge(call, chosen, policy_path=policy_path, story=story)
    except StoryfenceError as exc:
        # the policy or the story cannot be read: refuse (fail closed) and say why, so the user can fix it
        refusal = f"storyfence could not check this write, so it is refused: {exc}"
    if refusal is None:
        return 0, ""
    return 0, deny(refusal)


def quick_judge_or_none(
    call: ToolCall, root: str | os.PathLike[str], *, policy_path: str | os.PathLike[str] | None, story: str | None
) -> tuple[bool, str | None]:
    """(True, the refusal or None) when the quick path decides from its cache; (False, None) when the long way
    must decide (no entry, anything changed, anything it is not sure of, and any error of its own)."""
    from storyfence.commands.hook_quick import quick_judge

    try:
        return True, quick_judge(call, root, policy_path=policy_path, story=story)
    except Exception:  # Unsure, or a fault of the quick path itself: the long way decides
        return False, None


def deadline_seconds(environ: Mapping[str, str]) -> float:
    """The hook's own deadline: $STORYFENCE_HOOK_DEADLINE seconds when it is a positive number, else 20 s."""
    try:
        chosen = float(environ.get(DEADLINE_ENV, ""))
    except ValueError:
        return DEADLINE_SECONDS
    return chosen if 0 < chosen <= DEADLINE_SECONDS * 3 else DEADLINE_SECONDS


def arm_deadline(seconds: float) -> bool:
    """Refuse the call (exit 2) when the hook is still running after `seconds`; False where there is no
    SIGALRM (Windows), where the hook relies on Claude Code's own timeout, which does not block."""
    if not hasattr(signal, "setitimer"):
        return False

    def expire(_signum: int, _frame: object) -> None:
        message = f"storyfence hook: no decision within its {seconds:g} s deadline, so this write is refused\n"
        os.write(2, message.encode())
        os._exit(BLOCK)  # not an exception: the hook may be stuck where an exception would be caught or lost

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    return True


def judge(
    call: ToolCall,
    root: str | os.PathLike[str],
    *,
    policy_path: str | os.PathLike[str] | None,
    story: str | None,
) -> str | None:
    """The refusal message for this write, or None when the policy, scope and workflow allow it.

    It also writes the quick path's cache entry (adapters.hook_cache) from what it read, so the next call
    decides without loading the policy's models."""
    from pathlib import Path

    from storyfence.adapters import hook_cache
    from storyfence.adapters.policy_cache import load_policy_cached
    from storyfence.adapters.reads import Reads
    from storyfence.app.repo import Repo
    from storyfence.core.quick_form import bounds_form

    root = Path(root)
    policy_path = None if policy_path is None else Path(policy_path)
    if not root.is_dir():
        raise StoryfenceError(f"the project root {root} is not a directory (set --root)")
    real = os.path.realpath(root)
    explicit = None if policy_path is None else str(policy_path)
    inputs = hook_cache.code_and_policy_inputs(real, explicit)  # before the policy is read: never newer than it
    with Reads() as reads:
        policy, sources, packages = load_policy_cached(root, policy_path)
        repo = Repo(root, policy, policy_paths=sources)
        if packages is not None:
            repo.use_packages(packages)
        facts = repo.packages()
    seen = Seen(repo)
    refusal = _judge(call, root, repo, seen, story)
    bounds = bounds_form(policy, repo.protected, facts)
    hook_cache.save(real, explicit, {**inputs, **reads.seen}, bounds, seen.stories, seen.scopes)
    return refusal


class Seen:
    """The stories the long way looked at (their journal's state, their SCOPE.md's lists), for the cache."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.stories: dict[str, dict[str, object]] = {}
        self.scopes: dict[str, dict[str, object]] = {}

    def state(self, story_id: str) -> StoryState:
        """The story's state from its journal (raises what `read_state` raises); noted with its identity."""
        from storyfence.adapters.private_cache import identity
        from storyfence.core.errors import WorkflowError
        from storyfence.core.workflow import ensure

        found = self.repo.story(story_id)
        journal = str(found.store.journal)
        before = identity(journal)
        try:
            state = found.store.state()
        except StoryfenceError:
            if identity(journal) == before:
                self.stories[found.paths.folder] = {"journal": before, "status": None, "refusal": None}
            raise
        refusal: str | None = None
        try:
            ensure(state, "write")
        except WorkflowError as exc:
            refusal = str(exc)
        if identity(journal) == before:
            self.stories[found.paths.folder] = {"journal": before, "status": state.status, "refusal": refusal}
        return state

    def scope(self, found: Story) -> None:
        """Note the story's SCOPE.md lists as the decision reads them, with the file's identity."""
        from storyfence.adapters.private_cache import lidentity
        from storyfence.core.quick_form import scope_form

        rel = found.paths.scope
        path = str(self.repo.ws.absolute(rel))
        before = lidentity(path)
        lists = self.repo.scope(found)
        if before is not None and lidentity(path) == before:
            self.scopes[rel] = {"identity": before, "form": scope_form(lists)}


def _judge(call: ToolCall, root: Path, repo: Repo, seen: Seen, story: str | None) -> str | None:
    from storyfence.core.content import check_content

    rel = repo_relative(call.path, root, repo.root, call.cwd)
    stories = [story] if story else open_stories(repo, seen)
    for story_id in stories or [None]:
        found = repo.story(story_id) if story_id else None
        if found is not None:
            seen.scope(found)
        decision = repo.decide_path(rel, found)
        if not decision.allowed:
            where = f" (story {story_id})" if story_id else ""
            return f"storyfence refused this {call.tool_name}{where}: {decision.message()}"
    texts = proposed_texts(call, repo.root / rel, repo.policy.limits.max_file_bytes)
    if texts is not None:
        content = check_content(repo.policy, rel, *texts)
        if content is not None:
            return f"storyfence refused this {call.tool_name}: {content.message()}"
    if story:
        refusal = workflow_refusal(repo, story, seen)
        if refusal is not None:
            return f"storyfence refused this {call.tool_name} (story {story}): {refusal}"
    return None


def workflow_refusal(repo: Repo, story: str, seen: Seen | None = None) -> str | None:
    """The server's workflow message when the story's state does not allow a write (no open chunk,
    BLOCKED, COMPLETE), else None. A journal that does not verify raises StateError."""
    from storyfence.core.errors import WorkflowError
    from storyfence.core.workflow import ensure

    state = (seen or Seen(repo)).state(story)
    try:
        ensure(state, "write")
    except WorkflowError as exc:
        return str(exc)
    return None


def open_stories(repo: Repo, seen: Seen | None = None) -> list[str]:
    """The stories whose journal shows an open chunk, found under the policy's story folders.

    A journal that cannot be read is skipped here (`storyfence audit` reports it); with no story found
    the hook applies the policy alone.
    """
    from storyfence.core.story_paths import journal_glob

    found: list[str] = []
    stories = repo.policy.stories
    for folder in stories.folders:
        base = repo.root if folder in (".", "") else repo.root / folder.strip("/")
        if not base.is_dir():
            continue
        for journal in sorted(base.glob(journal_glob(stories.id_glob))):
            story_id = journal.parents[2].name
            if story_id in found:
                continue
            try:
                state = (seen or Seen(repo)).state(story_id)
            except StoryfenceError:
                continue
            if state.status == "open":
                found.append(story_id)
    return found
