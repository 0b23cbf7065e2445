"""The server parts of a package, learned from its modules: the framework's route-handler conventions,
folders whose modules are server code and none client code, and (inside a backend package) the client
modules to carve out. Pure: module facts in, patterns and evidence out."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pathspec

from storyfence.core.evidence import (
    CLIENT_MODULES,
    CLIENT_SUBPATHS,
    CODE_EXTENSIONS,
    JSX_EXTENSIONS,
    SERVER_BUILTINS,
    SERVER_MODULES,
)

if TYPE_CHECKING:
    from storyfence.core.layout import FileFacts, PackageInfo

Kind = Literal["server", "client", "neutral"]


def matches(name: str, globs: Iterable[str]) -> str | None:
    """The glob in `globs` that module or package `name` matches (exact, `prefix*`, or a subpath), or None."""
    for glob in globs:
        if glob.endswith("*"):
            if name.startswith(glob[:-1]):
                return glob
        elif name == glob or name.startswith(glob + "/"):
            return glob
    return None


@dataclass(frozen=True)
class ServerPart:
    """A part of an app that is backend: a framework convention or a folder of server modules."""

    patterns: tuple[str, ...]  # repo-relative gitignore patterns
    kind: Literal["convention", "folder", "files"]
    evidence: str
    overrides_components: bool = False  # `route.tsx` handlers: TSX that no frontend renders


_CONVENTIONS: dict[str, tuple[tuple[tuple[str, ...], str, bool], ...]] = {
    # (patterns relative to the package, evidence, route handlers may be .tsx)
    "next": (
        (
            ("app/**/route.*", "src/app/**/route.*"),
            "Next.js App Router route handlers (`route.ts`, route groups)",
            True,
        ),
        (
            ("app/**/api/**", "src/app/**/api/**", "!**/page.*", "!**/layout.*", "!**/loading.*", "!**/error.*"),
            "modules beside the route handlers under `app/**/api/` (no page renders them)",
            True,
        ),
        (("pages/api/**", "src/pages/api/**"), "Next.js Pages Router API routes (`pages/api/**`)", False),
    ),
    "remix": (
        (
            ("app/routes/api.*", "app/routes/api+/**", "app/routes/api/**"),
            "Remix resource routes (`routes/api*`)",
            True,
        ),
        (
            ("app/**/*.server.ts", "app/**/*.server.js", "app/**/.server/**"),
            "Remix server-only modules (`*.server.ts`)",
            False,
        ),
    ),
    "react-router": (
        (
            ("app/routes/api.*", "app/routes/api+/**", "app/routes/api/**"),
            "React Router resource routes (`routes/api*`)",
            True,
        ),
        (("app/**/*.server.ts", "app/**/*.server.js", "app/**/.server/**"), "React Router server-only modules", False),
    ),
    "tanstack-start": (
        (
            ("src/routes/api/**", "app/routes/api/**", "src/routes/api.*", "app/routes/api.*"),
            "TanStack Start API routes",
            True,
        ),
        (("src/**/*.server.ts", "app/**/*.server.ts", "src/server/**"), "TanStack Start server modules", False),
    ),
    "sveltekit": (
        (("src/routes/**/+server.ts", "src/routes/**/+server.js"), "SvelteKit endpoints (`+server.ts`)", False),
        (
            ("src/routes/**/+page.server.ts", "src/routes/**/+layout.server.ts", "src/hooks.server.ts"),
            "SvelteKit server load functions and hooks",
            False,
        ),
        (("src/lib/server/**",), "SvelteKit server-only modules (`$lib/server`)", False),
    ),
    "nuxt": ((("server/**",), "Nuxt server routes and middleware (`server/`)", False),),
}


def _under_package(folder: str, pattern: str) -> str:
    return f"!{folder}/{pattern[1:]}" if pattern.startswith("!") else f"{folder}/{pattern}"


_NOT_SERVER_FOLDERS = ("components", "pages", "public", "styles", "app", "hooks", "ui", "node_modules", "assets")


def server_parts(
    pkg: PackageInfo, framework: str, files: Sequence[FileFacts], backend_names: set[str]
) -> tuple[ServerPart, ...]:
    """The framework's server conventions inside the app, then its folders of server modules."""
    parts = [
        # a negation keeps its `!` in front: `apps/web/!**/page.*` would name a folder called `!`
        ServerPart(tuple(_under_package(pkg.dir, p) for p in rel), "convention", why, overrides_components=tsx)
        for rel, why, tsx in _CONVENTIONS.get(framework, ())
    ]
    covered = [p for part in parts for p in part.patterns if not p.startswith("!")]
    parts.extend(_server_folders(pkg, files, backend_names, covered))
    return tuple(parts)


def classify_file(f: FileFacts, backend_names: set[str], *, jsx_is_client: bool = True) -> tuple[Kind, str]:
    """Whether a module is server code, client code or neither, and the evidence.

    Server-only markers win (`import "server-only"` beside `import { cache } from "react"` is server); then
    anything client (a `client-only` folder or `.client.ts` name, a directive, JSX, a client import, browser
    globals); then server imports. Tests are neither: a test's `node:fs` says nothing about its folder.
    Where React renders on the server (`jsx_is_client=False`: emails, PDFs), JSX and `react` are no client
    evidence."""
    segments = f.path.split("/")
    if f.use_server:
        return "server", '"use server"'
    if "server-only" in f.imports:
        return "server", "imports `server-only`"
    if "server-only" in segments[:-1]:
        return "server", "lives in a `server-only` folder"
    if "client-only" in segments[:-1] or ".client." in segments[-1]:
        return "client", "a client-only module by its name"
    if f.use_client:
        return "client", '"use client"'
    if jsx_is_client and (f.jsx or f.path.endswith(JSX_EXTENSIONS)):
        return "client", "renders JSX"
    client = [m for m in f.imports if _client_import(m, backend_names, jsx_is_client)]
    if client:
        return "client", f"imports `{client[0]}`"
    if f.browser:
        return "client", "uses browser globals (`window`, `localStorage`)"
    for module in f.imports:
        if matches(module, SERVER_MODULES) or matches(module, SERVER_BUILTINS):
            return "server", f"imports `{module}`"
        base = _package_of(module)
        if base in backend_names:
            return "server", f"{BACKEND_IMPORT} `{base}`"
    return "neutral", ""


BACKEND_IMPORT = "imports the backend package"
LOCAL_IMPORT = "imports the server module"
WEAK = (BACKEND_IMPORT, LOCAL_IMPORT)
"""Weak evidence, enough for a folder, not for a lone module: a mixed backend package also exports
constants a client module may import, and a helper may import a server module for one type guard."""


def classify_files(
    files: Sequence[FileFacts], backend_names: set[str], *, jsx_is_client: bool = True
) -> dict[str, tuple[Kind, str]]:
    """Every code module's kind, then what its own imports make of the neutral ones, until nothing
    changes: a module that imports a client module is client code, one that imports a server module is
    server code."""
    kinds = {
        f.path: classify_file(f, backend_names, jsx_is_client=jsx_is_client)
        for f in files
        if f.path.endswith(CODE_EXTENSIONS)
    }
    local = {f.path: f.local for f in files}
    for _ in range(12):  # import chains are short; a cycle cannot loop forever
        changed = False
        for path, (kind, _why) in list(kinds.items()):
            if kind != "neutral":
                continue
            found = {kinds[m][0]: m for m in reversed(local.get(path, ())) if m in kinds and kinds[m][0] != "neutral"}
            if "client" in found:
                kinds[path] = ("client", f"imports the client module `{found['client']}`")
            elif "server" in found:
                kinds[path] = ("server", f"{LOCAL_IMPORT} `{found['server']}`")
            else:
                continue
            changed = True
        if not changed:
            break
    return kinds


def _client_import(module: str, backend_names: set[str], jsx_is_client: bool) -> bool:
    if matches(module, CLIENT_MODULES):
        return jsx_is_client or matches(module, ("react", "react-dom")) is None
    # `better-auth/react`, `next-auth/client`: a library's client entry point; `@prisma/client` is a server
    # module by name, and a workspace package's `/client` (a jobs client) is its own business
    if not module.endswith(CLIENT_SUBPATHS) or module in SERVER_MODULES or _package_of(module) in backend_names:
        return False
    return not any(g.endswith("*") and module.startswith(g[:-1]) for g in SERVER_MODULES)


def is_test(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return "/__tests__/" in path or "/__mocks__/" in path or ".test." in name or ".spec." in name


def _package_of(module: str) -> str:
    parts = module.split("/")
    return "/".join(parts[:2]) if module.startswith("@") else parts[0]


def _server_folders(
    pkg: PackageInfo, files: Sequence[FileFacts], backend_names: set[str], covered: Sequence[str]
) -> list[ServerPart]:
    """Folders of the app whose modules are server code and none client code (the highest such folders);
    outside them, single modules marked server-only (`"use server"`, `server-only`, an ORM import)."""
    conventions = pathspec.PathSpec.from_lines("gitignore", covered)
    kinds = {p: k for p, k in classify_files(files, backend_names).items() if not conventions.match_file(p)}
    # per folder (recursive): counts of server / client / all code files
    stats: dict[str, list[int]] = {}
    evidence: dict[str, list[str]] = {}
    for path, (kind, why) in kinds.items():
        folder = posixpath.dirname(path)
        while folder.startswith(pkg.dir + "/"):
            s = stats.setdefault(folder, [0, 0, 0])
            s[0] += kind == "server"
            s[1] += kind == "client"
            s[2] += 1
            if kind == "server" and len(evidence.setdefault(folder, [])) < 3 and why not in evidence[folder]:
                evidence[folder].append(why)
            folder = posixpath.dirname(folder)

    def qualifies(folder: str) -> bool:
        # mostly server code; a few client modules (a fetcher beside its route) are carved out by name
        server, client, total = stats[folder]
        rel = folder[len(pkg.dir) + 1 :]
        top = rel.split("/", 1)[0]
        if top in _NOT_SERVER_FOLDERS or any(seg in _NOT_SERVER_FOLDERS[:4] for seg in rel.split("/")):
            return False
        return server > 0 and server * 2 >= total - client and client * 10 <= total

    chosen: list[str] = []
    for folder in sorted(stats, key=lambda d: (d.count("/"), d)):
        if any(folder.startswith(c + "/") for c in chosen):
            continue
        if qualifies(folder):
            chosen.append(folder)
    parts: list[ServerPart] = []
    for folder in chosen:
        server, client, total = stats[folder]
        carved = tuple(f"!{p}" for p, (k, _) in sorted(kinds.items()) if k == "client" and p.startswith(folder + "/"))
        note = f"; {client} client module(s) carved out" if client else "; none renders JSX or imports client code"
        why = f"{server} of {total} modules are server code ({', '.join(evidence[folder])}){note}"
        parts.append(ServerPart((f"{folder}/**", *carved), "folder", why))
    # a module outside those folders counts only with strong evidence (not a mere import of a backend package)
    loose = [
        path
        for path, (kind, why) in sorted(kinds.items())
        if kind == "server"
        and not why.startswith(WEAK)
        and not is_test(path)
        and posixpath.basename(path).split(".")[1:2] != ["config"]
        and not any(path.startswith(c + "/") for c in chosen)
        and not any(seg in _NOT_SERVER_FOLDERS[:4] for seg in path.split("/"))
    ]
    if loose:
        parts.append(
            ServerPart(
                tuple(loose),
                "files",
                'server-only modules outside a server folder (`"use server"`, `server-only`, an ORM or server import)',
            )
        )
    return parts


def imports_evidence(files: Sequence[FileFacts], backend_names: set[str]) -> str:
    """Why a package with no telling dependency is backend by what its modules import ("" when it is not):
    some import server code, none is client code, and the server ones are at least a third."""
    kinds = [k for p, k in classify_files(files, backend_names).items() if not is_test(p)]
    server = [why for kind, why in kinds if kind == "server"]
    if not server or any(kind == "client" for kind, _ in kinds) or len(server) * 3 < len(kinds):
        return ""
    return f"{len(server)} of {len(kinds)} modules import server code ({', '.join(dict.fromkeys(server[:3]))})"


def client_carve_out(
    package_dir: str, files: Sequence[FileFacts], backend_names: set[str], *, jsx_is_client: bool
) -> tuple[str, ...]:
    """Inside a backend package, the client modules (a browser client, React hooks) as negated patterns:
    the highest folders whose modules are all client code, and single client modules elsewhere."""
    kinds: dict[str, Kind] = {
        p: k
        for p, (k, _) in classify_files(files, backend_names, jsx_is_client=jsx_is_client).items()
        if not is_test(p)
    }
    clients = sorted(p for p, k in kinds.items() if k == "client")
    if not clients:
        return ()
    stats = _folder_stats(package_dir, kinds)
    folders: list[str] = []
    for folder in sorted(stats, key=lambda d: (d.count("/"), d)):
        if any(folder.startswith(c + "/") for c in folders):
            continue
        if stats[folder][1] == stats[folder][2]:
            folders.append(folder)
    loose = [p for p in clients if not any(p.startswith(c + "/") for c in folders)]
    return (*(f"!{f}/**" for f in folders), *(f"!{p}" for p in loose))


def _folder_stats(package_dir: str, kinds: Mapping[str, Kind]) -> dict[str, list[int]]:
    """Per folder below the package (recursive): [server, client, all] module counts."""
    stats: dict[str, list[int]] = {}
    for path, kind in kinds.items():
        folder = posixpath.dirname(path)
        while folder.startswith(package_dir + "/"):
            counts = stats.setdefault(folder, [0, 0, 0])
            counts[0] += kind == "server"
            counts[1] += kind == "client"
            counts[2] += 1
            folder = posixpath.dirname(folder)
    return stats
