"""The server parts of a package, learned from its modules: the framework's route-handler conventions,
folders whose modules are server code and none client code, and (inside a backend package) the client
modules to carve out. Pure: module facts in, patterns and evidence out."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pathspec

from storyfence.core.modules import (
    MARKERS,
    RUNTIME_IMPORT,
    SERVER_RENDERED,
    WEAK,
    Backends,
    Kind,
    classify_files,
    is_config,
    is_test,
    named_server,
)
from storyfence.core.repo_facts import FileFacts, PackageInfo


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
        (
            (
                "middleware.*",
                "src/middleware.*",
                "proxy.ts",
                "src/proxy.ts",
                "instrumentation.ts",
                "src/instrumentation.ts",
                "instrumentation-*.ts",
                "src/instrumentation-*.ts",
                "!**/instrumentation-client.*",
            ),
            "Next.js middleware (`proxy.ts` since Next 16) and instrumentation",
            False,
        ),
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
_DATABASE = (
    ("prisma/**", "drizzle/**", "migrations/**", "supabase/migrations/**", "db/migrations/**"),
    "the app's database schema and migrations",
    False,
)
_UI_FOLDERS = frozenset(("components", "pages", "public", "styles", "ui", "hooks", "assets", "store", "stores"))
_NOT_SERVER_FOLDERS = ("components", "pages", "public", "styles", "app", "hooks", "ui", "node_modules", "assets")


def server_parts(
    pkg: PackageInfo, framework: str, files: Sequence[FileFacts], backend_names: Backends
) -> tuple[ServerPart, ...]:
    """The framework's server conventions inside the app, then its folders of server modules."""
    parts = [
        ServerPart(tuple(_under(pkg.dir, p) for p in rel), "convention", why, overrides_components=tsx)
        for rel, why, tsx in (*_CONVENTIONS.get(framework, ()), _DATABASE)
    ]
    covered = [p for part in parts for p in part.patterns if not p.startswith("!")]
    parts.extend(_server_folders(pkg, files, backend_names, covered))
    return tuple(parts)


def literal(path: str) -> str:
    """A repo path as a gitignore pattern that matches just that path (`[id]` is a folder, not a class)."""
    return re.sub(r"([\\\[\]*?])", r"\\\1", path)


def _under(folder: str, pattern: str) -> str:
    """A package-relative gitignore pattern made repo-relative (`!**/page.*` stays a negation)."""
    return f"!{folder}/{pattern[1:]}" if pattern.startswith("!") else f"{folder}/{pattern}"


def _server_folders(
    pkg: PackageInfo, files: Sequence[FileFacts], backend_names: Backends, covered: Sequence[str]
) -> list[ServerPart]:
    """Folders of the app whose modules are server code and none client code (the highest such folders);
    outside them, single modules marked server-only (`"use server"`, `server-only`, an ORM import)."""
    conventions = pathspec.PathSpec.from_lines("gitignore", covered)
    kinds = {p: k for p, k in classify_files(files, backend_names).items() if not conventions.match_file(p)}
    # per folder (recursive): counts of server / client / all code files
    stats: dict[str, list[int]] = {}
    evidence: dict[str, list[str]] = {}
    strong: dict[str, int] = {}
    medium: dict[str, int] = {}
    for path, (kind, why) in kinds.items():
        folder = posixpath.dirname(path)
        while folder.startswith(pkg.dir + "/"):
            s = stats.setdefault(folder, [0, 0, 0])
            # a UI subfolder (`integrations/slack/ui/`) is carved out whole: it counts neither way
            in_ui = any(seg in _UI_FOLDERS for seg in path[len(folder) + 1 :].split("/")[:-1])
            s[0] += kind == "server"
            s[1] += kind == "client" and not in_ui
            s[2] += not in_ui
            if kind == "server" and not why.startswith(WEAK) and not is_test(path):
                strong[folder] = strong.get(folder, 0) + 1
            if kind == "server" and not why.startswith(RUNTIME_IMPORT) and not is_test(path):
                medium[folder] = medium.get(folder, 0) + 1
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
        if server == 0 or client * 10 > total:
            return False
        if strong.get(folder, 0) > 0:
            return server * 3 >= total - client
        # no module of its own names a server library, but two thirds import the app's server modules or
        # its backend packages, and none is client code (OpenAPI specs built from the server's schemas)
        return client == 0 and medium.get(folder, 0) * 3 >= total * 2

    chosen: list[str] = []
    for folder in sorted(stats, key=lambda d: (d.count("/"), d)):
        if any(folder.startswith(c + "/") for c in chosen):
            continue
        if qualifies(folder):
            chosen.append(folder)
    parts: list[ServerPart] = []
    for folder in chosen:
        server, _client, total = stats[folder]
        inside = [p for p in sorted(kinds) if p.startswith(folder + "/")]
        ui_dirs = sorted(
            {
                posixpath.join(folder, *segs[: i + 1])
                for p in inside
                for segs in [p[len(folder) + 1 :].split("/")[:-1]]
                for i, seg in enumerate(segs)
                if seg in _UI_FOLDERS
            }
        )
        # and the subfolders with client code and no server code at all (`lib/swr/`: hooks and their helpers)
        ui_dirs += [d for d in stats if d.startswith(folder + "/") and stats[d][0] == 0 and stats[d][1] > 0]
        ui_dirs = sorted(set(ui_dirs))
        ui_dirs = [d for d in ui_dirs if not any(d.startswith(u + "/") for u in ui_dirs)]
        carved = (
            *(f"!{literal(d)}/**" for d in ui_dirs),
            *(
                f"!{literal(p)}"
                for p in inside
                if kinds[p][0] == "client" and not any(p.startswith(d + "/") for d in ui_dirs)
            ),
        )
        note = f"; {len(carved)} client module(s) or UI folder(s) carved out" if carved else "; no client code"
        why = f"{server} of {total} modules are server code ({', '.join(evidence[folder])}){note}"
        rendered = any(kinds[p][1].startswith(SERVER_RENDERED) for p in inside)
        parts.append(ServerPart((f"{literal(folder)}/**", *carved), "folder", why, overrides_components=rendered))
    # a module outside those folders counts only when it says so itself (`"use server"`, `server-only`): a UI
    # helper imports an ORM's enums as readily as a server module does
    loose = [
        path
        for path, (kind, why) in sorted(kinds.items())
        if kind == "server"
        and (why.startswith(MARKERS) or (named_server(path) and not why.startswith(WEAK)))
        and not is_test(path)
        and not is_config(path)
        and not any(path.startswith(c + "/") for c in chosen)
        and not any(seg in _UI_FOLDERS for seg in path.split("/"))
    ]
    if loose:
        parts.append(
            ServerPart(
                tuple(literal(p) for p in loose),
                "files",
                'server-only modules outside a server folder (`"use server"`, `server-only`)',
            )
        )
    return parts


def client_carve_out(
    package_dir: str, files: Sequence[FileFacts], backend_names: Backends, *, jsx_is_client: bool
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
    return (*(f"!{literal(f)}/**" for f in folders), *(f"!{literal(p)}" for p in loose))


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
