"""The Claude Code hook's cache: one JSON entry per repo root and policy argument, holding the compiled form of
what a decision reads (core.quick_form) and, for each story the hook looked at, its journal's workflow state
and its SCOPE.md lists.

An entry is trusted only as a whole and only while every input it was made from is unchanged, compared by
identity (inode, size, mtime_ns, ctime_ns, device) when the hook runs: storyfence's own modules and packaged
policies (and their folders, so an added module counts), the repo's policy file, and every file read and folder
listed to find the workspace packages and learn the layout (adapters.reads). A story's state and scope count
only while its journal and its SCOPE.md keep theirs. Nothing modified within RACY_NS is cached against.
Anything else (no entry, a damaged or foreign one, another Python, another root) is a miss: the hook decides
the long way and writes the entry again. The file lives beside the policy cache, read and written by
adapters.private_cache.
"""

from __future__ import annotations

import contextlib
import os
import sys

from storyfence.adapters.private_cache import (
    entry_path,
    identity,
    inputs_hold,
    lidentity,
    racy,
    read_entry,
    write_entry,
)

FORMAT = 1
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LAYERS = ("core", "adapters", "app", "commands", "mcp")  # every layer: the start cache keeps mcp's words


def entry_file(real_root: str, explicit: str | None, folder: str | None = None) -> str:
    """The cache file of this root and policy argument (a name clash only ever costs a miss: the entry names
    both)."""
    return entry_path("hook", real_root, explicit, folder)


def _policies_folder() -> str | None:
    for candidate in (
        os.path.join(_PACKAGE, "policies"),
        os.path.join(os.path.dirname(os.path.dirname(_PACKAGE)), "policies"),
    ):
        if os.path.isfile(os.path.join(candidate, "backend.toml")):
            return candidate
    return None


def code_and_policy_inputs(real_root: str, explicit: str | None) -> dict[str, list[int] | None]:
    """Every input of an entry besides the repo's layout: storyfence's code (each module, each layer folder),
    the packaged policies (and their folder), and the policy file (absent too is an identity: None)."""
    paths = [os.path.join(_PACKAGE, "cli.py"), _PACKAGE]
    for layer in _LAYERS:
        folder = os.path.join(_PACKAGE, layer)
        paths.append(folder)
        with contextlib.suppress(OSError):
            paths.extend(e.path for e in os.scandir(folder) if e.name.endswith(".py"))
    policies = _policies_folder()
    if policies is not None:
        paths.append(policies)
        with contextlib.suppress(OSError):
            paths.extend(e.path for e in os.scandir(policies) if e.name.endswith(".toml"))
    paths.append(explicit if explicit is not None else os.path.join(real_root, ".storyfence.toml"))
    return {p: identity(p) for p in paths}


def _key(real_root: str, explicit: str | None) -> list[object]:
    real_explicit = os.path.realpath(explicit) if explicit is not None else None
    return [FORMAT, list(sys.version_info[:3]), sys.executable, real_root, explicit, real_explicit]


def save(
    real_root: str,
    explicit: str | None,
    inputs: dict[str, list[int] | None],
    bounds: dict[str, object],
    stories: dict[str, dict[str, object]],
    scopes: dict[str, dict[str, object]],
    *,
    folder: str | None = None,
) -> bool:
    """Write the entry unless an input changed too recently to be cached against; True when written. A story
    or scope whose own file is that young is left out (the hook decides that story the long way)."""
    import time

    now = time.time_ns()
    if racy(list(inputs.values()), now):
        return False
    kept_stories = {k: v for k, v in stories.items() if not racy([_ident(v.get("journal"))], now)}
    kept_scopes = {k: v for k, v in scopes.items() if not racy([_ident(v.get("identity"))], now)}
    entry = {
        "key": _key(real_root, explicit),
        "inputs": [[path, ident] for path, ident in inputs.items()],
        "bounds": bounds,
        "stories": kept_stories,
        "scopes": kept_scopes,
    }
    write_entry(entry_file(real_root, explicit, folder), entry)
    return True


def _map(value: object) -> dict[str, object] | None:
    return value if isinstance(value, dict) else None  # pyright: ignore[reportUnknownVariableType]


def _list(value: object) -> list[object] | None:
    return value if isinstance(value, list) else None  # pyright: ignore[reportUnknownVariableType]


def _ident(value: object) -> list[int] | None:
    items = _list(value)
    if items is not None and len(items) == 5 and all(type(v) is int for v in items):
        return [v for v in items if isinstance(v, int)]
    return None


class Entry:
    """A cache entry whose inputs all still hold: the compiled bounds, and story states and scopes by path."""

    def __init__(self, bounds: object, stories: dict[str, object], scopes: dict[str, object]) -> None:
        self.bounds = bounds
        self._stories = stories
        self._scopes = scopes

    def story(self, folder: str, journal: str) -> tuple[str | None, str | None] | None:
        """(status, write refusal) of the story at `folder` while its journal (absolute path) is unchanged;
        status None: its journal could not be read. None: not cached, or changed."""
        item = _map(self._stories.get(folder))
        if item is None or "journal" not in item or item["journal"] != identity(journal):
            return None
        status, refusal = item.get("status"), item.get("refusal")
        if status is not None and not isinstance(status, str):
            return None
        if refusal is not None and not isinstance(refusal, str):
            return None
        return status, refusal

    def scope(self, rel: str, path: str) -> object | None:
        """The compiled SCOPE.md lists at `rel` while the file (absolute `path`, not followed) is unchanged."""
        item = _map(self._scopes.get(rel))
        if item is None:
            return None
        known = _ident(item.get("identity"))
        if known is None or known != lidentity(path):
            return None
        return item.get("form")


def load(real_root: str, explicit: str | None, *, folder: str | None = None) -> Entry | None:
    """The entry of this root and policy argument when every input it was made from is unchanged, else None."""
    raw = _map(read_entry(entry_file(real_root, explicit, folder)))
    if raw is None or raw.get("key") != _key(real_root, explicit):
        return None
    stories, scopes = _map(raw.get("stories")), _map(raw.get("scopes"))
    if stories is None or scopes is None or not inputs_hold(raw.get("inputs")):
        return None
    return Entry(raw.get("bounds"), stories, scopes)
