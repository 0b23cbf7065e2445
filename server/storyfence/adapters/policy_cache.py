"""The compiled policy of one repo, cached between runs of a short-lived process (the Claude Code hook).

An entry is used only when every input it was made from is unchanged: the Python version and storyfence's code,
the packaged policies and the repo's policy file (by identity: inode, size, mtime), the layout learned from
the repo (compared by value: it is read again each run) and the package manifests the policy's examples were
checked against (by value). Anything else (a missing, unreadable, foreign or corrupt cache file, any input
that differs) means the policy is loaded again from its files, and the cache rewritten atomically.

The cache lives in the user's cache directory (`$STORYFENCE_CACHE_DIR`, else `$XDG_CACHE_HOME/storyfence`,
else `~/.cache/storyfence`), one file per repo root, in a folder only the user can write; a file another
user could have written is never read. An entry is JSON, validated into the Policy model on the way in:
reading it can never run code, whoever wrote it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from storyfence.adapters.policy_file import (
    REPO_POLICY,
    learned_overlay,
    load_policy,
    package_facts,
    packaged_policy_dir,
    verify_examples_hold,
)
from storyfence.adapters.private_cache import RACY_NS, cache_folder, read_entry, write_entry
from storyfence.core.policy import PackageFacts, Policy

FORMAT = 1


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    return Path(cache_folder(environ))


def cache_file(root: Path, explicit: Path | None, folder: Path | None = None) -> Path:
    """The cache file for this root and policy argument."""
    name = f"{root.resolve()}\0{explicit.resolve() if explicit is not None else ''}"
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return (folder or cache_dir()) / f"policy-{digest}.json"


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _code() -> tuple[tuple[str, tuple[int, int, int] | None], ...]:
    """The identity of every module of storyfence's core and adapters (the policy's classes and everything that
    loads or learns it): an upgrade, or an edit in a checkout, never meets an entry written by other code."""
    package = Path(__file__).resolve().parent.parent
    found: list[tuple[str, tuple[int, int, int] | None]] = []
    for layer in ("core", "adapters"):
        with contextlib.suppress(OSError), os.scandir(package / layer) as entries:
            found.extend((e.path, _identity(Path(e.path))) for e in entries if e.name.endswith(".py"))
    return tuple(sorted(found))


def _inputs(root: Path, explicit: Path | None) -> tuple[tuple[Any, ...], dict[str, Any] | None]:
    """What the policy is made from, as a comparable value; and the learned overlay when the repo has no
    policy file (it is read here, once, and handed to the loader)."""
    packaged = packaged_policy_dir()
    shipped = tuple(sorted((p.name, _identity(p)) for p in packaged.glob("*.toml")))
    path = explicit if explicit is not None else root / REPO_POLICY
    identity = _identity(path)
    overlay = learned_overlay(root) if explicit is None and identity is None else None
    key = (FORMAT, sys.version_info[:3], _code(), str(root), str(path), identity, shipped, overlay)
    # _racy reads: key[2] the code's identities, key[5] the policy file's, key[6] the packaged policies'
    return key, overlay


def _racy(key: tuple[Any, ...]) -> bool:
    """True when an input changed so recently that a second change could keep its identity (a file's mtime
    has the clock's coarse granularity): such an entry is not written, as git treats a racily clean index."""
    now = time.time_ns()
    stamps = [key[5], *(i for _, i in key[6]), *(i for _, i in key[2])]
    return any(i is not None and now - i[2] < RACY_NS for i in stamps)


def _read(file: Path) -> dict[str, Any] | None:
    entry = read_entry(str(file))
    return cast("dict[str, Any]", entry) if isinstance(entry, dict) else None


def _write(file: Path, entry: dict[str, Any]) -> None:
    write_entry(str(file), entry)


def _json_key(key: tuple[Any, ...]) -> str:
    """The key as the JSON text an entry stores (tuples become lists, so compare the text)."""
    return json.dumps(key, default=str)


def _cached(entry: dict[str, Any]) -> tuple[Policy, list[Path], tuple[PackageFacts, ...] | None] | None:
    """The entry's policy, sources and facts, validated into their models; None when any part does not."""
    try:
        policy = Policy.model_validate(entry.get("policy"))
        sources = [Path(str(p)) for p in cast("list[object]", entry.get("sources"))]
        raw = entry.get("facts")
        facts = None if raw is None else tuple(PackageFacts.model_validate(f) for f in cast("list[object]", raw))
    except Exception:  # a damaged entry is recomputed, whatever the error
        return None
    return policy, sources, facts


def load_policy_cached(
    root: Path, explicit: Path | None, *, folder: Path | None = None
) -> tuple[Policy, list[Path], tuple[PackageFacts, ...] | None]:
    """`load_policy(root, explicit)`, from the cache when none of its inputs changed; and the workspace
    packages when they were read to check the policy's examples (None: not read)."""
    real = root.resolve()
    key, overlay = _inputs(real, explicit)
    file = cache_file(real, explicit, folder)
    entry = _read(file)
    wanted = _json_key(key)
    if entry is not None and entry.get("key") == wanted:
        cached = _cached(entry)
        if cached is not None:
            policy, paths, facts = cached
            if facts is None and not (policy.examples.allowed or policy.examples.refused):
                return policy, paths, None
            if facts is not None:
                now = package_facts(real)
                if facts == now:
                    return policy, paths, now
    policy, sources = load_policy(real, explicit, verify_examples=False, overlay=overlay)
    checked: tuple[PackageFacts, ...] | None = verify_examples_hold(policy, real)
    if not _racy(key):
        facts_json = None if checked is None else [f.model_dump(mode="json") for f in checked]
        entry = {"policy": policy.model_dump(mode="json"), "sources": [str(p) for p in sources], "facts": facts_json}
        _write(file, {"key": wanted, **entry})
    return policy, sources, checked
