"""pnpm workspace discovery: which workspace package owns a file, whether it has a check script, and which
workspace packages depend on which (the graph the typecheck gate follows to a change's dependents)."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pathspec

from storyfence.adapters import read_log
from storyfence.core.dependents import dependents
from storyfence.core.story_paths import IMPLEMENTATION


@dataclass(frozen=True)
class Package:
    name: str
    dir: str  # POSIX, relative to the root ("." for the workspace root)
    scripts: tuple[str, ...]
    dependencies: tuple[str, ...]  # every kind: dependencies, devDependencies, peerDependencies
    runtime: tuple[str, ...] = ()  # `dependencies` only
    dev: tuple[str, ...] = ()
    peer: tuple[str, ...] = ()
    # what else it may link, for the dependency graph: optionalDependencies, and the real names behind
    # `workspace:<name>@<range>` aliases ("core": "workspace:@acme/core@*")
    links: tuple[str, ...] = ()


def _read_manifest(path: Path) -> dict[str, Any] | None:
    read_log.note(path)
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None  # pyright: ignore[reportUnknownVariableType]


def _mapping(value: object) -> dict[str, Any]:
    return cast("dict[str, Any]", value) if isinstance(value, dict) else {}


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(item) for item in cast("list[object]", value)) if isinstance(value, list) else ()


def _aliased(value: Any) -> tuple[str, ...]:
    """The names `workspace:` specs point at (`workspace:@acme/core@*` -> @acme/core; `workspace:*` -> "*",
    which names no package)."""
    found: list[str] = []
    for spec in _mapping(value).values():
        if isinstance(spec, str) and spec.startswith("workspace:"):
            target = spec.removeprefix("workspace:")
            at = target.find("@", 1)
            found.append(target[:at] if at > 0 else target)
    return tuple(found)


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, dict):
        return tuple(str(k) for k in value)  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
    return ()


NEVER_PACKAGES = frozenset(
    (
        ".git",
        "node_modules",
        ".next",
        ".turbo",
        ".vercel",
        ".cache",
        ".output",
        ".svelte-kit",
        ".nuxt",
        ".venv",
        "venv",
        "__pycache__",
        ".pnpm-store",
        ".yarn",
        "dist",
        "build",
        "coverage",
        # a story's _implementation folder is the server's (its log, its journal), never a package or a project:
        # listing it would find the packages and learn the layout again after every chunk boundary
        IMPLEMENTATION,
    )
)


class WorkspacePackages:
    """The workspace packages of a pnpm (or npm/yarn workspaces) monorepo."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.globs = self._globs()
        self.packages = self._discover()
        self.by_name = {p.name: p for p in self.packages}
        self.by_dir = {p.dir: p for p in self.packages}

    def _globs(self) -> tuple[str, ...]:
        import yaml  # imported on first use: not needed to start serving

        ws = self.root / "pnpm-workspace.yaml"
        read_log.note(ws)
        try:
            data = _mapping(yaml.safe_load(ws.read_text(encoding="utf-8")))
            if isinstance(data.get("packages"), list):
                return _strings(data["packages"])
        except (OSError, yaml.YAMLError):
            pass
        manifest = _read_manifest(self.root / "package.json") or {}
        workspaces = manifest.get("workspaces")
        if isinstance(workspaces, dict):
            workspaces = _mapping(cast(object, workspaces)).get("packages")
        return _strings(workspaces)

    def _discover(self) -> tuple[Package, ...]:
        include = [g.rstrip("/") for g in self.globs if not g.startswith("!")]
        exclude = [g[1:].rstrip("/") for g in self.globs if g.startswith("!")]
        spec = pathspec.PathSpec.from_lines("gitignore", [f"/{g}" if not g.startswith("/") else g for g in include])
        excluded = pathspec.PathSpec.from_lines("gitignore", [f"/{g}" for g in exclude])
        found: list[Package] = []
        max_depth = max((g.count("/") + 1 for g in include), default=0)
        if any("**" in g for g in include):
            max_depth = 6
        for dirpath, dirnames, filenames in read_log.walk(self.root):
            rel = posixpath.relpath(Path(dirpath).as_posix(), self.root.as_posix())
            depth = 0 if rel == "." else rel.count("/") + 1
            # dot folders can be workspace packages too (`apps/web/.react-email`); build output and caches never
            dirnames[:] = [d for d in dirnames if d not in NEVER_PACKAGES]
            if depth >= max_depth:
                dirnames[:] = []
            if rel == "." or "package.json" not in filenames:
                continue
            if spec.match_file(rel + "/") or spec.match_file(rel):
                if excluded.match_file(rel) or excluded.match_file(rel + "/"):
                    continue
                pkg = self._package(rel)
                if pkg is not None:
                    found.append(pkg)
        root_pkg = self._package(".")
        if root_pkg is not None:
            found.append(root_pkg)
        return tuple(sorted(found, key=lambda p: p.dir))

    def _package(self, rel: str) -> Package | None:
        manifest = _read_manifest(self.root / rel / "package.json")
        if manifest is None:
            return None
        name = manifest.get("name")
        if not isinstance(name, str) or not name:
            return None
        runtime = _names(manifest.get("dependencies"))
        dev = _names(manifest.get("devDependencies"))
        peer = _names(manifest.get("peerDependencies"))
        kinds = ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies")
        return Package(
            name=name,
            dir=rel,
            scripts=_names(manifest.get("scripts")),
            dependencies=(*runtime, *dev, *peer),
            runtime=runtime,
            dev=dev,
            peer=peer,
            links=(
                *_names(manifest.get("optionalDependencies")),
                *(name for kind in kinds for name in _aliased(manifest.get(kind))),
            ),
        )

    def graph(self) -> dict[str, tuple[str, ...]]:
        """Each package directory and the directories of the workspace packages it depends on: by a plain name
        (a `workspace:*` spec or a version that pnpm links), or by the name a `workspace:` alias points at."""
        edges: dict[str, tuple[str, ...]] = {}
        for pkg in self.packages:
            linked = (self.by_name.get(name) for name in (*pkg.dependencies, *pkg.links))
            edges[pkg.dir] = tuple(sorted({d.dir for d in linked if d is not None and d.dir != pkg.dir}))
        return edges

    def dependents(self, dirs: Collection[str]) -> tuple[str, ...]:
        """The directories of every workspace package that depends on one of `dirs`, directly or through
        others, except `dirs` themselves and the repo root (whose check is usually the whole repo's)."""
        return tuple(d for d in dependents(self.graph(), dirs) if d != ".")

    def owner(self, path: str) -> Package | None:
        """The workspace package whose directory is nearest above `path` (None: only the root owns it)."""
        current = posixpath.dirname(path)
        while current not in ("", "."):
            pkg = self.by_dir.get(current)
            if pkg is not None:
                return pkg
            current = posixpath.dirname(current)
        return None
