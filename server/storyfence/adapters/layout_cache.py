"""The learned layout of a repo (as its policy overlay), learned once and cached by the identity of every input
it was learned from: the manifests (package.json files, pnpm-workspace.yaml, pyproject.toml, requirements,
go.mod), each folder whose entries were listed (a new tsconfig.json, framework config, package or module
changes its folder's identity) and each module whose imports were read.

An entry is used only when every one of those inputs, and every source file of storyfence's core and adapters
(the code that learns), has the identity it had when the entry was made; it is not written while an input is
younger than two seconds. It lives in the user's private cache folder (adapters/cache_files.py): JSON, its
shape checked on the way in, and any entry that is damaged, foreign or stale is learned again.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any, cast

from storyfence.adapters import read_log
from storyfence.adapters.cache_files import (
    Identity,
    cache_dir,
    identity,
    racy,
    read_value,
    source_identities,
    write_value,
)

FORMAT = 1


def cache_file(root: Path, folder: Path | None = None) -> Path:
    digest = hashlib.sha256(str(root).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return (folder or cache_dir()) / f"layout-{digest}.json"


def _key(root: Path) -> tuple[dict[str, object], list[tuple[str, Identity | None]]]:
    package = Path(__file__).resolve().parent.parent
    code = source_identities([package / "core", package / "adapters"])
    key: dict[str, object] = {
        "format": FORMAT,
        "root": str(root),
        "python": sys.version,
        "code": [[path, list(i) if i else None] for path, i in code],
    }
    return key, code


def _identity_json(value: object) -> Identity | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError("not an identity")
    parts = cast("list[object]", value)
    if len(parts) != 5 or not all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
        raise ValueError("not an identity")
    return cast("list[int]", parts)


def _stored(value: object) -> tuple[list[tuple[str, Identity | None]], dict[str, Any]] | None:
    """The entry's inputs and overlay when it has exactly the shape this module writes; else None."""
    if not isinstance(value, dict):
        return None
    entry = cast("dict[str, object]", value)
    inputs, overlay = entry.get("inputs"), entry.get("overlay")
    if set(entry) != {"inputs", "overlay"} or not isinstance(inputs, list) or not isinstance(overlay, dict):
        return None
    found: list[tuple[str, Identity | None]] = []
    try:
        for item in cast("list[object]", inputs):
            if not isinstance(item, list) or len(cast("list[object]", item)) != 2:
                return None
            path, ident = cast("list[object]", item)
            if not isinstance(path, str):
                return None
            found.append((path, _identity_json(ident)))
    except ValueError:
        return None
    rules = cast("dict[str, object]", overlay).get("rules")
    if not isinstance(rules, list) or not set(cast("dict[str, object]", overlay)) <= {"rules", "typecheck"}:
        return None
    return found, cast("dict[str, Any]", overlay)


def _learn(root: Path) -> tuple[dict[str, Any], list[tuple[str, Identity | None]]]:
    from storyfence.adapters.layout_facts import read_facts
    from storyfence.core.layout import learn
    from storyfence.core.learned import learned_policy

    with read_log.recording() as seen:
        facts = read_facts(root)
    overlay = learned_policy(learn(facts), [f.path for f in facts.files]).overlay()
    return overlay, sorted((path, identity(path)) for path in seen)


def learned_overlay_cached(root: Path, *, folder: Path | None = None) -> dict[str, Any]:
    """The repo's learned layout as a policy overlay: from the cache when none of its inputs changed."""
    root = root.resolve()  # the inputs are recorded as absolute paths
    key, code = _key(root)
    file = cache_file(root, folder)
    stored = _stored(read_value(file, key))
    if stored is not None:
        inputs, overlay = stored
        if inputs and all(identity(path) == ident for path, ident in inputs):
            for path, _ in inputs:  # read from the cache, learned from these all the same: a caller keyed on
                read_log.note(path)  # what it read (the hook's own cache) must be keyed on them too
            return overlay
    overlay, inputs = _learn(root)
    if not racy([*(i for _, i in inputs), *(i for _, i in code)]):
        write_value(file, key, {"inputs": [[p, list(i) if i else None] for p, i in inputs], "overlay": overlay})
    return overlay
