"""What each package and folder of a repo is for (backend, frontend, an app with server parts), learned
from evidence: facts go in, roles with their evidence come out. No I/O: the facts (core/repo_facts.py)
are read by adapters/layout_facts.py.

Evidence, not folder names: a package is backend when it depends on a server framework, an RPC server,
an ORM or database client, a job queue or `server-only` (or on a backend workspace package); frontend
only by runtime dependencies on UI frameworks; an app built on a full-stack framework (Next, Remix,
React Router, TanStack Start, SvelteKit, Nuxt) is mixed, and its server parts are named: the framework's
route-handler conventions, and folders whose modules import server-only code and render no JSX.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from storyfence.core.evidence import (
    APP_FRAMEWORKS,
    FRAMEWORK_CONFIGS,
    PYTHON_BACKENDS,
    SERVER_MODULES,
    SERVER_RENDERED_UI,
    UI_LIBRARIES,
)
from storyfence.core.modules import WEAK, Backends, classify_file, imports_evidence, matches, package_of
from storyfence.core.repo_facts import FileFacts, PackageInfo, RepoFacts
from storyfence.core.server_parts import ServerPart, client_carve_out, server_parts

Role = Literal["backend", "frontend", "app", "shared", "python-backend", "go-backend"]


# --- roles -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageRole:
    package: PackageInfo
    role: Role
    evidence: tuple[str, ...]
    framework: str = ""
    server_parts: tuple[ServerPart, ...] = ()
    renders_server_ui: bool = False  # React for emails / PDFs: its TSX is no frontend's
    carve_out: tuple[str, ...] = ()  # client modules or folders inside a backend package (repo-relative)


@dataclass(frozen=True)
class Layout:
    roles: tuple[PackageRole, ...] = field(default=())

    def role_of(self, directory: str) -> PackageRole | None:
        return next((r for r in self.roles if r.package.dir == directory), None)


def _deps_matching(deps: Iterable[str], globs: Iterable[str]) -> list[str]:
    globs = tuple(globs)
    return [d for d in deps if not d.startswith("@types/") and matches(d, globs) is not None]


def framework_of(pkg: PackageInfo) -> tuple[str, str]:
    """(framework, evidence) when the package is a UI app, else ("", "")."""
    for dep in (*pkg.runtime, *pkg.dev):
        framework = APP_FRAMEWORKS.get(dep)
        if framework is not None and framework != "vite":
            return framework, f"depends on `{dep}`"
    for config in pkg.configs:
        stem = config.split(".", 2)
        key = config if config.endswith(".json") else ".".join(stem[:2]) if len(stem) > 2 else stem[0]
        framework = FRAMEWORK_CONFIGS.get(key)
        if framework is not None and (framework != "tanstack-start" or _has_any(pkg, ("vinxi",))):
            return framework, f"has `{config}`"
    deps = (*pkg.runtime, *pkg.dev)
    if "vite" in deps and _deps_matching(pkg.runtime, UI_LIBRARIES) and not _deps_matching(deps, SERVER_RENDERED_UI):
        return "vite", "depends on `vite` and a UI library"
    return "", ""


def _has_any(pkg: PackageInfo, globs: Sequence[str]) -> bool:
    return bool(_deps_matching((*pkg.runtime, *pkg.dev), globs))


def _quote(names: Iterable[str], limit: int = 4) -> str:
    items = list(dict.fromkeys(names))
    shown = ", ".join(f"`{n}`" for n in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def learn(facts: RepoFacts) -> Layout:
    """The role of every package, and the server parts of every app, from the facts."""
    by_name = {p.name: p for p in facts.packages}
    files = _files_by_package(facts)
    backend: dict[str, list[str]] = {}
    for pkg in facts.packages:
        server = _deps_matching((*pkg.runtime, *pkg.dev, *pkg.peer), SERVER_MODULES)
        if pkg.language != "js" or server:
            backend[pkg.name] = [f"depends on {_quote(server)}"] if server else []
    # who imports each workspace package, by name (a package with no telling dependency of its own is known
    # by its users: one that only server code imports is backend)
    owners = {f.path: owner for owner, group in files.items() for f in group}
    importers: dict[str, list[FileFacts]] = {}
    for f in facts.files:
        for module in dict.fromkeys(package_of(m) for m in f.imports):
            if module in by_name and not f.path.startswith(by_name[module].dir + "/"):
                importers.setdefault(module, []).append(f)
    # then what depends on a backend package, or whose modules import server code, until nothing changes
    changed = True
    while changed:
        changed = False
        for pkg in facts.packages:
            if pkg.name in backend or pkg.language != "js" or framework_of(pkg)[0]:
                continue
            if _deps_matching(pkg.runtime, UI_LIBRARIES) and not _deps_matching(pkg.runtime, SERVER_RENDERED_UI):
                continue
            ui_any = _deps_matching((*pkg.peer, *pkg.dev), UI_LIBRARIES) and not _renders_ui_on_server(pkg)
            via = [d for d in pkg.runtime if d in backend and d in by_name]
            why = f"depends on the backend workspace package(s) {_quote(via)}" if via else ""
            why = why or imports_evidence(files.get(pkg.dir, ()), Backends(frozenset(backend)))
            # an app is no backend package here: only its modules with server evidence of their own count
            backend_dirs = {p.dir for p in facts.packages if p.name in backend and not framework_of(p)[0]}
            if not why and not ui_any:
                why = _only_server_importers(importers.get(pkg.name, ()), backend, backend_dirs, owners)
            if why:
                backend[pkg.name] = [why]
                changed = True
    plain = Backends(frozenset(backend))
    mixed = frozenset(
        pkg.name
        for pkg in facts.packages
        if pkg.name in backend
        and pkg.language == "js"
        and client_carve_out(pkg.dir, files.get(pkg.dir, ()), plain, jsx_is_client=not _renders_ui(pkg))
    )
    rendering = frozenset(p.name for p in facts.packages if p.name in backend and p.language == "js" and _renders_ui(p))
    names = Backends(plain.names, mixed, rendering)
    roles = [_role(pkg, backend.get(pkg.name), names, files.get(pkg.dir, ())) for pkg in facts.packages]
    return Layout(roles=tuple(sorted(roles, key=lambda r: r.package.dir)))


def _only_server_importers(
    users: Sequence[FileFacts], backend: Mapping[str, list[str]], backend_dirs: set[str], owners: Mapping[str, str]
) -> str:
    """Why a package is backend by who imports it ("" when it is not): at least one module imports it, and
    every module that does is in a backend package or is server code by its own evidence."""
    if not users:
        return ""
    known = Backends(frozenset(backend))
    where: dict[str, None] = {}
    for f in users:
        owner = owners.get(f.path, "")
        kind, why = classify_file(f, known)
        if owner not in backend_dirs and not (kind == "server" and not why.startswith(WEAK)):
            return ""
        where[owner or f.path] = None
    return f"imported only by server code ({len(users)} module(s) in {_quote(where)})"


def _renders_ui_on_server(pkg: PackageInfo) -> bool:
    return bool(_deps_matching((*pkg.runtime, *pkg.peer, *pkg.dev), SERVER_RENDERED_UI))


def _renders_ui(pkg: PackageInfo) -> bool:
    """React (or another UI library) in a backend package: rendered on the server (emails, PDFs)."""
    deps = (*pkg.runtime, *pkg.peer, *pkg.dev)
    return bool(_deps_matching(deps, UI_LIBRARIES) or _deps_matching(deps, SERVER_RENDERED_UI))


def _role(pkg: PackageInfo, backend: list[str] | None, names: Backends, files: Sequence[FileFacts]) -> PackageRole:
    if pkg.language == "python":
        deps = _deps_matching(pkg.runtime, PYTHON_BACKENDS)
        if deps or "manage.py" in pkg.configs:
            why = f"a Python project that depends on {_quote(deps)}" if deps else "a Django project (`manage.py`)"
            return PackageRole(pkg, "python-backend", (why,))
        return PackageRole(pkg, "shared", ("a Python project with no web framework or ORM dependency",))
    if pkg.language == "go":
        return PackageRole(pkg, "go-backend", ("a Go module (`go.mod`)",))
    framework, why = framework_of(pkg)
    ui_runtime = _deps_matching(pkg.runtime, UI_LIBRARIES)
    if framework:
        evidence = (f"{framework} app: {why}",)
        if backend and backend[0]:
            evidence += (f"its server parts use what it {backend[0]}",)
        parts = server_parts(pkg, framework, files, names)
        return PackageRole(pkg, "app", evidence, framework=framework, server_parts=parts)
    server_ui = _deps_matching((*pkg.runtime, *pkg.dev), SERVER_RENDERED_UI)
    if backend is not None:
        evidence = [e for e in backend if e]
        ui_any = _renders_ui(pkg)
        if ui_any:
            shown = server_ui or _deps_matching((*pkg.runtime, *pkg.peer, *pkg.dev), UI_LIBRARIES)
            evidence.append(f"renders React on the server ({_quote(shown)}), no UI framework app")
        carve = client_carve_out(pkg.dir, files, names, jsx_is_client=not ui_any)
        return PackageRole(pkg, "backend", tuple(evidence), renders_server_ui=ui_any, carve_out=carve)
    if server_ui:
        return PackageRole(pkg, "backend", (f"renders on the server with {_quote(server_ui)}",), renders_server_ui=True)
    if ui_runtime:
        return PackageRole(pkg, "frontend", (f"runtime dependency on {_quote(ui_runtime)}",))
    ui_other = _deps_matching((*pkg.peer, *pkg.dev), UI_LIBRARIES)
    if ui_other:
        return PackageRole(pkg, "frontend", (f"a UI library: peer or dev dependency on {_quote(ui_other)}",))
    return PackageRole(
        pkg, "shared", ("no server, ORM or UI dependency or import: a shared library (left to the policy)",)
    )


def _files_by_package(facts: RepoFacts) -> dict[str, list[FileFacts]]:
    dirs = sorted((p.dir for p in facts.packages), key=len, reverse=True)
    out: dict[str, list[FileFacts]] = {}
    for f in facts.files:
        owner = next((d for d in dirs if f.path.startswith(d + "/")), None)
        if owner is not None:
            out.setdefault(owner, []).append(f)
    return out
