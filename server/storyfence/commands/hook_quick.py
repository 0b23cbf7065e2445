"""The hook's quick decision: from its cache (adapters.hook_cache), with core.quick, importing neither pydantic,
pathspec nor the MCP SDK. It must decide exactly as `commands.hook.judge` does; wherever it cannot be sure (no
entry, any input changed, a story or scope not cached, a path that confinement refuses, anything unusual) it
says so and the hook decides the long way, which writes the entry again.
"""

from __future__ import annotations

import os
import re

from storyfence.adapters import hook_cache
from storyfence.adapters.confine import Outside, Unusable, locate
from storyfence.core.quick import Bounds, Scope, Unplain

TYPE_CHECKING = False  # typing is not imported: the hook pays for every module it loads
if TYPE_CHECKING:
    from storyfence.commands.hook import ToolCall

_JOURNAL = ("_implementation", ".storyfence", "journal.jsonl")
_SCOPE = ("_implementation", "SCOPE.md")


class Unsure(Exception):
    """The quick path cannot decide this call: the hook takes the long way."""


def _map(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise Unsure("expected an object")
    return value  # pyright: ignore[reportUnknownVariableType]


class _Stories:
    """The policy's story settings, read from the compiled form."""

    def __init__(self, data: object) -> None:
        d = _map(data)
        id_pattern, id_glob, folders = d.get("id_pattern"), d.get("id_glob"), d.get("folders")
        if not isinstance(id_pattern, str) or not isinstance(id_glob, str) or not isinstance(folders, list):
            raise Unsure("no story settings")
        items: list[object] = folders  # pyright: ignore[reportUnknownVariableType]
        self.id_pattern = id_pattern
        self.id_glob = id_glob
        self.folders = [f for f in items if isinstance(f, str)]
        if len(self.folders) != len(items):
            raise Unsure("story folders are not strings")


def quick_judge(
    call: ToolCall,
    root: str | os.PathLike[str],
    *,
    policy_path: str | os.PathLike[str] | None,
    story: str | None,
) -> str | None:
    """What `commands.hook.judge` answers for this call, or Unsure."""
    from storyfence.commands.hook_call import proposed_texts, repo_relative

    given = os.fspath(root)
    if not os.path.isdir(given):
        raise Unsure("the root is not a directory")
    real = os.path.realpath(given)
    try:
        os.scandir(real).close()  # the root can be listed: else the long way says why not
    except OSError:
        raise Unsure("the root cannot be listed") from None
    entry = hook_cache.load(real, None if policy_path is None else os.fspath(policy_path))
    if entry is None:
        raise Unsure("no cache entry")
    try:
        bounds = Bounds(entry.bounds)
        data = _map(entry.bounds)
        settings = _Stories(data.get("stories"))
        cap = data.get("cap")
        if not isinstance(cap, int):
            raise Unsure("no cap")
        rel = repo_relative(call.path, given, real, call.cwd)
        target = _confined(real, rel)
        stories = [story] if story else _open_stories(entry, real, settings)
        for story_id in stories or [None]:
            scope = None
            if story_id is not None:
                folder = _story_folder(real, story_id, settings)
                if folder is None:
                    raise Unsure("the story cannot be found")
                scope = _scope(entry, real, folder)
            verdict = bounds.decide(target, scope)
            if not verdict.allowed:
                where = f" (story {story_id})" if story_id else ""
                return f"storyfence refused this {call.tool_name}{where}: {verdict.message}"
        # the long way judges the content at the path as named (not as confined), and so does this
        texts = proposed_texts(call, os.path.join(real, rel), cap)
        if texts is not None:
            content = bounds.content(rel, *texts)
            if content is not None:
                return f"storyfence refused this {call.tool_name}: {content.message}"
        if story:
            folder = _story_folder(real, story, settings)
            if folder is None:
                raise Unsure("the story cannot be found")
            state = entry.story(folder, os.path.join(real, folder, *_JOURNAL))
            if state is None or state[0] is None:
                raise Unsure("the story's state is not cached")
            if state[1] is not None:
                return f"storyfence refused this {call.tool_name} (story {story}): {state[1]}"
        return None
    except (Unplain, KeyError) as exc:
        raise Unsure(f"the cache entry is not the compiled form ({exc})") from None


def _confined(real: str, rel: str) -> str:
    """The repo-relative path a write names, when confinement lets it through as the workspace's `target` does."""
    try:
        located, _, symlink = locate(real, rel)
    except (Outside, Unusable):
        raise Unsure("confinement refuses the path: the long way words it") from None
    if symlink is not None or located == ".":
        raise Unsure("a path through a symlink, or the root: the long way words it")
    return located


def _story_folder(real: str, story_id: str, settings: _Stories) -> str | None:
    """Where `app.repo.Repo.story` finds the story (a folder relative to the root), or None when it does not."""
    sid = story_id.strip()
    if not re.fullmatch(settings.id_pattern, sid):
        return None
    for folder in settings.folders:
        rel = sid if folder in (".", "") else f"{folder.strip('/')}/{sid}"
        try:
            located, _, symlink = locate(real, rel)
        except Outside:
            continue
        except Unusable:
            return None
        path = real if located == "." else os.path.join(real, located)
        if symlink is None and os.path.isdir(path) and not os.path.islink(path):
            return located
    return None


def _scope(entry: hook_cache.Entry, real: str, folder: str) -> Scope:
    rel = "/".join((folder, *_SCOPE))
    form = entry.scope(rel, os.path.join(real, rel))
    if form is None:
        raise Unsure("the story's SCOPE.md is not cached")
    return Scope(form)


def _open_stories(entry: hook_cache.Entry, real: str, settings: _Stories) -> list[str]:
    """`commands.hook.open_stories`, from the cached states of the journals it finds."""
    found: list[str] = []
    for folder in settings.folders:
        base = real if folder in (".", "") else os.path.join(real, folder.strip("/"))
        if not os.path.isdir(base):
            continue
        for story_id in _journal_folders(base, settings.id_glob):
            if story_id in found:
                continue
            located = _story_folder(real, story_id, settings)
            if located is None:
                continue  # the long way skips a story it cannot find
            state = entry.story(located, os.path.join(real, located, *_JOURNAL))
            if state is None:
                raise Unsure("a story's state is not cached")
            if state[0] == "open":
                found.append(story_id)
    return found


def _journal_folders(base: str, id_glob: str) -> list[str]:
    """The names of the story folders `sorted(Path(base).glob(journal_glob(id_glob)))` finds a journal in (what
    the long way reads), for an id glob of `*` and `?` wildcards; any other glob is left to the long way."""
    if not id_glob or id_glob in (".", "..") or any(c in id_glob for c in "/[]\\") or "**" in id_glob:
        raise Unsure("an id glob the quick path does not read")
    try:
        if "*" in id_glob or "?" in id_glob:
            wildcard = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in id_glob)
            matches = re.compile(wildcard, re.DOTALL).fullmatch
            with os.scandir(base) as entries:
                names = [e.name for e in entries if matches(e.name) and e.is_dir()]
        else:
            names = [id_glob] if os.path.isdir(os.path.join(base, id_glob)) else []
    except OSError:
        raise Unsure("a stories folder cannot be listed") from None
    return [name for name in sorted(names) if os.path.exists(os.path.join(base, name, *_JOURNAL))]
