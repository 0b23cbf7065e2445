"""The MCP client configs and the Claude Code hook that `storyfence init` writes, merged into what is there.

JSON client configs are merged, not replaced: the `storyfence` entry is added next to the servers that are
already there (an existing, different `storyfence` entry is replaced only with `--force`), and the
Claude Code hook is added to `.claude/settings.json` beside the hooks and permissions already in it.
A file that is not plain JSON is never touched: the user gets the snippet to add by hand. Every file is
written atomically.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from storyfence.commands.hook import WRITE_TOOLS

SERVER_NAME = "storyfence"
HOOK_MATCHER = "|".join(WRITE_TOOLS)
"""The tools the hook runs for: the file-writing tools it judges (Write|Edit|MultiEdit|NotebookEdit)."""
HOOK_TIMEOUT = 60
"""Seconds Claude Code gives the hook; the hook refuses on its own well before (a timed-out hook does not block)."""
CLAUDE_SETTINGS = ".claude/settings.json"
CLAUDE_LOCAL_SETTINGS = ".claude/settings.local.json"
LEGACY_HOOK_COMMAND = "storyfence hook claude-code"
"""What `init` wrote before the hook failed closed: replaced when found, because it let writes through."""


def hook_command(executable: str = "storyfence") -> str:
    """The shell command Claude Code runs before each file write: storyfence's hook, failing closed.

    Claude Code blocks a PreToolUse call only on exit code 2 (or a deny decision on exit 0). Whatever else
    happens (storyfence missing from the PATH: 127; a crash: 1; killed by a signal) becomes exit 2 with a
    message on stderr, which Claude Code shows to the model. An allow stays exit 0 with no output.
    """
    return (
        f'{shlex.quote(executable)} hook claude-code || {{ s=$?; [ "$s" = 2 ] || echo "storyfence: the hook '
        "could not run (exit $s; 127: storyfence is not on the PATH Claude Code gives hooks), so this write "
        'is refused. Install storyfence on that PATH, or run: storyfence init --claude-code --absolute" >&2; '
        "exit 2; }"
    )


HOOK_COMMAND = hook_command()


@dataclass(frozen=True)
class ClientConfig:
    """Where a client reads its project MCP config, the key that holds the servers, and our entry."""

    path: str
    key: str
    entry: dict[str, Any]


CLIENTS: dict[str, ClientConfig | None] = {
    # Claude Code starts project servers in the project folder, so `.` is the repo root
    "claude-code": ClientConfig(".mcp.json", "mcpServers", {"command": "storyfence", "args": ["serve", "--root", "."]}),
    "cursor": ClientConfig(
        ".cursor/mcp.json", "mcpServers", {"command": "storyfence", "args": ["serve", "--root", "${workspaceFolder}"]}
    ),
    "vscode": ClientConfig(
        ".vscode/mcp.json",
        "servers",
        {"type": "stdio", "command": "storyfence", "args": ["serve", "--root", "${workspaceFolder}"]},
    ),
    "claude-desktop": None,  # a per-user app config: printed, never written
}

# --- writing files -------------------------------------------------------------------------------------------


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text`: a temp file in the same folder, fsync, rename (the mode is kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_text(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


class _Unreadable(Exception):
    """An existing config that is not a JSON object of the expected shape (left as it is)."""


def _read_object(path: Path) -> dict[str, Any]:
    try:
        data: object = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _Unreadable(f"not plain JSON ({exc}); comments are not supported here") from None
    if not isinstance(data, dict):
        raise _Unreadable("not a JSON object")
    return cast("dict[str, Any]", data)


# --- the client configs --------------------------------------------------------------------------------------


def with_command(config: ClientConfig, command: str) -> ClientConfig:
    """The same config naming storyfence as `command` (its PATH name or an absolute path)."""
    return ClientConfig(config.path, config.key, {**config.entry, "command": command})


def merge_server(root: Path, config: ClientConfig, force: bool) -> tuple[bool, str]:
    """Add our server entry to a client's config file. Returns (ok, what happened)."""
    path = root / config.path
    if not path.exists():
        write_atomic(path, _json_text({config.key: {SERVER_NAME: config.entry}}))
        return True, f"created {config.path}"
    snippet = json.dumps({config.key: {SERVER_NAME: config.entry}}, indent=2)
    try:
        data = _read_object(path)
        servers: object = data.setdefault(config.key, {})
        if not isinstance(servers, dict):
            raise _Unreadable(f"`{config.key}` is not a JSON object")
    except _Unreadable as exc:
        return False, f"left {config.path} alone: it is {exc}. Add this by hand:\n{snippet}"
    servers = cast("dict[str, Any]", servers)
    current = servers.get(SERVER_NAME)
    if current == config.entry:
        return True, f"unchanged {config.path} (storyfence is already configured)"
    if current is not None and not force:
        return True, f"skipped {config.path} (it has a different `{SERVER_NAME}` entry; use --force to replace it)"
    others = len([name for name in servers if name != SERVER_NAME])
    servers[SERVER_NAME] = config.entry
    write_atomic(path, _json_text(data))
    verb = "replaced the storyfence entry in" if current is not None else "added storyfence to"
    return True, f"updated {config.path}: {verb} it, kept {others} other server(s)"


def _hook_group(command: str) -> dict[str, Any]:
    return {"matcher": HOOK_MATCHER, "hooks": [{"type": "command", "command": command, "timeout": HOOK_TIMEOUT}]}


def _storyfence_hooks(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The PreToolUse hook entries that run `storyfence hook claude-code`, however they name storyfence."""
    found: list[dict[str, Any]] = []
    hooks: object = settings.get("hooks", {})
    groups: object = cast("dict[str, Any]", hooks).get("PreToolUse", []) if isinstance(hooks, dict) else []
    for group in cast("list[Any]", groups) if isinstance(groups, list) else []:
        commands: object = cast("dict[str, Any]", group).get("hooks", []) if isinstance(group, dict) else []
        for command in cast("list[Any]", commands) if isinstance(commands, list) else []:
            text: object = cast("dict[str, Any]", command).get("command") if isinstance(command, dict) else None
            if isinstance(text, str) and " hook claude-code" in text and "storyfence" in text:
                found.append(cast("dict[str, Any]", command))
    return found


def has_hook(settings: dict[str, Any], command: str = HOOK_COMMAND) -> bool:
    """Whether the settings already run this storyfence hook command before a tool."""
    return any(entry.get("command") == command for entry in _storyfence_hooks(settings))


def install_hook(root: Path, command: str = HOOK_COMMAND, settings_file: str = CLAUDE_SETTINGS) -> tuple[bool, str]:
    """Add the PreToolUse hook to Claude Code's settings, keeping every other setting. Idempotent.

    A hook that `init` wrote before it failed closed (`storyfence hook claude-code` alone) is replaced.
    """
    path = root / settings_file
    if not path.exists():
        write_atomic(path, _json_text({"hooks": {"PreToolUse": [_hook_group(command)]}}))
        return True, f"created {settings_file} with the PreToolUse hook (fails closed: exit 2 when it cannot run)"
    snippet = json.dumps({"hooks": {"PreToolUse": [_hook_group(command)]}}, indent=2)
    try:
        settings = _read_object(path)
        if has_hook(settings, command):
            return True, f"unchanged {settings_file} (the storyfence hook is already installed)"
        legacy = [entry for entry in _storyfence_hooks(settings) if entry.get("command") == LEGACY_HOOK_COMMAND]
        hooks: object = settings.setdefault("hooks", {})
        if not isinstance(hooks, dict):
            raise _Unreadable("a file whose `hooks` is not a JSON object")
        groups: object = cast("dict[str, Any]", hooks).setdefault("PreToolUse", [])
        if not isinstance(groups, list):
            raise _Unreadable("a file whose `hooks.PreToolUse` is not a list")
    except _Unreadable as exc:
        return False, f"left {settings_file} alone: it is {exc}. Merge this by hand:\n{snippet}"
    if legacy:
        for entry in legacy:
            entry["command"] = command
            entry.setdefault("timeout", HOOK_TIMEOUT)
        write_atomic(path, _json_text(settings))
        return True, f"updated {settings_file}: the storyfence hook now fails closed (the old one let writes through)"
    cast("list[Any]", groups).append(_hook_group(command))
    write_atomic(path, _json_text(settings))
    return True, f"updated {settings_file}: added the PreToolUse hook (fails closed), kept everything else"


def claude_desktop_snippet(root: Path, executable: Path | None) -> str:
    """The entry for claude_desktop_config.json: absolute paths, because Claude Desktop starts servers
    from its own folder with a minimal PATH. `executable` is the storyfence running `init`, if known."""
    command = str(executable) if executable is not None else (shutil.which("storyfence") or "storyfence")
    entry = {"command": command, "args": ["serve", "--root", str(root.resolve())]}
    return json.dumps({"mcpServers": {SERVER_NAME: entry}}, indent=2)
