"""What one Claude Code call asks for, read from its tool input: the path relative to the project root, and the
file's text before and after the write (Write, Edit, MultiEdit, NotebookEdit), so the content rules judge the
change itself. Shared by the hook's long way (commands/hook.py) and its quick path (commands/hook_quick.py);
it imports only what that needs (no typing: the hook pays for every module it loads)."""

from __future__ import annotations

import json
import os
import posixpath

TYPE_CHECKING = False
if TYPE_CHECKING:
    from storyfence.commands.hook import ToolCall


def as_object(value: object) -> dict[str, object] | None:
    """`value` as a JSON object, or None (no typing.cast: the hook does not import typing)."""
    return value if isinstance(value, dict) else None  # pyright: ignore[reportUnknownVariableType]


def as_array(value: object) -> list[object] | None:
    return value if isinstance(value, list) else None  # pyright: ignore[reportUnknownVariableType]


def repo_relative(path: str, root: str | os.PathLike[str], real_root: str | os.PathLike[str], cwd: str | None) -> str:
    """`path` relative to the root when it is inside it (via the root as given or its real path: Claude
    Code may name /tmp/x where the root resolves to /private/tmp/x); else the normalised absolute path,
    which the server's confinement refuses with its own message."""
    absolute = path if os.path.isabs(path) else os.path.join(cwd or str(root), path)
    absolute = posixpath.normpath(absolute)
    for base in (posixpath.normpath(os.path.abspath(root)), str(real_root)):
        if absolute == base:
            return "."
        if absolute.startswith(base.rstrip("/") + "/"):
            return posixpath.relpath(absolute, base)
    return absolute


def _current_text(path: str, cap: int) -> str | None:
    """The file's text, or None when it does not exist, is too large or is not UTF-8 text."""
    try:
        if os.path.islink(path) or not os.path.isfile(path) or os.stat(path).st_size > cap:
            return None
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _apply_edits(text: str, edits: list[object]) -> str | None:
    """Claude Code's Edit semantics: each old_string replaced once (it must occur), or everywhere with
    replace_all; None when an edit would not apply (the tool itself then fails, nothing is written)."""
    for edit in edits:
        item = as_object(edit)
        if item is None:
            return None
        old, new = item.get("old_string"), item.get("new_string")
        if not isinstance(old, str) or not isinstance(new, str) or not old or old not in text:
            return None
        text = text.replace(old, new) if item.get("replace_all") is True else text.replace(old, new, 1)
    return text


def _notebook_cell(text: str | None, cell_id: object) -> str:
    """The source of the notebook cell `cell_id` ("" when it cannot be found: a new cell)."""
    if text is None or not isinstance(cell_id, str):
        return ""
    try:
        notebook: object = json.loads(text)
    except json.JSONDecodeError:
        return ""
    cells = as_array((as_object(notebook) or {}).get("cells")) or []
    for cell in cells:
        item = as_object(cell)
        if item is not None and item.get("id") == cell_id:
            source = item.get("source", "")
            parts = as_array(source)
            if parts is not None:
                return "".join(str(part) for part in parts)
            return source if isinstance(source, str) else ""
    return ""


def proposed_texts(call: ToolCall, target: str | os.PathLike[str], cap: int) -> tuple[str | None, str | None] | None:
    """(old text, new text) of the write for the content rules; None when it cannot be computed (the tool
    call will fail on its own, or the file is not text). Old None means a new file."""
    args = call.tool_input
    target = os.fspath(target)
    current = _current_text(target, cap)
    exists = os.path.lexists(target)
    if exists and current is None:
        return None  # binary, too large or unreadable: the content rules judge text
    if call.tool_name == "Write":
        content = args.get("content")
        return (current, content) if isinstance(content, str) else None
    if call.tool_name == "Edit":
        if args.get("old_string") == "" and not exists:
            new = args.get("new_string")
            return (None, new) if isinstance(new, str) else None  # Edit with an empty old_string creates the file
        return None if current is None else _pair(current, _apply_edits(current, [args]))
    if call.tool_name == "MultiEdit":
        edits = as_array(args.get("edits"))
        if current is None or edits is None:
            return None
        return _pair(current, _apply_edits(current, edits))
    # NotebookEdit: the rules judge the cell's source, before and after
    if args.get("edit_mode") == "delete":
        return None
    new_source = args.get("new_source")
    if not isinstance(new_source, str):
        return None
    old_source = "" if args.get("edit_mode") == "insert" else _notebook_cell(current, args.get("cell_id"))
    return old_source, new_source


def _pair(old: str, new: str | None) -> tuple[str, str] | None:
    return None if new is None else (old, new)
