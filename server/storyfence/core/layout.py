"""What each package and folder of a repo is for (backend, frontend, an app with server parts), learned
from evidence: facts go in, roles with their evidence come out. No I/O: the facts are read by
adapters/layout_facts.py.

Evidence, not folder names: a package is backend when it depends on a server framework, an RPC server,
an ORM or database client, a job queue or `server-only` (or on a backend workspace package); frontend
only by runtime dependencies on UI frameworks; an app built on a full-stack framework (Next, Remix,
React Router, TanStack Start, SvelteKit, Nuxt) is mixed, and its server parts are named: the framework's
route-handler conventions, and folders whose modules import server-only code and render no JSX.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pathspec

Role = Literal["backend", "frontend", "app", "shared", "python-backend", "go-backend"]

# --- evidence lists ------------------------------------------------------------------------------------------

SERVER_MODULES: tuple[str, ...] = (
    # HTTP servers, RPC and GraphQL servers
    "express",
    "fastify",
    "@fastify/*",
    "hono",
    "@hono/*",
    "koa",
    "@koa/*",
    "@nestjs/*",
    "@trpc/server",
    "@apollo/server",
    "apollo-server*",
    "graphql-yoga",
    "elysia",
    "h3",
    "itty-router",
    "restify",
    "@hapi/*",
    "@orpc/server",
    "ts-rest*",
    # ORMs and database clients
    "@prisma/client",
    "prisma",
    "drizzle-orm",
    "drizzle-kit",
    "kysely",
    "pg",
    "postgres",
    "mysql2",
    "mongoose",
    "mongodb",
    "typeorm",
    "sequelize",
    "knex",
    "better-sqlite3",
    "@libsql/client",
    "@planetscale/database",
    "@neondatabase/serverless",
    "@vercel/postgres",
    "@vercel/kv",
    "ioredis",
    "redis",
    "@upstash/redis",
    "firebase-admin",
    "@electric-sql/pglite",
    "@prisma/*",
    # job queues and schedulers
    "bullmq",
    "bull",
    "@trigger.dev/sdk",
    "inngest",
    "@upstash/qstash",
    "agenda",
    "node-cron",
    # server-only markers, mail, payments and cloud SDKs used from the server
    "server-only",
    "nodemailer",
    "resend",
    "@sendgrid/mail",
    "postmark",
    "stripe",
    "@aws-sdk/*",
    "@google-cloud/*",
    "better-auth",
    "lucia",
    "@auth/core",
    "@auth/prisma-adapter",
    "@auth/drizzle-adapter",
)
"""A module whose import makes a file server code, and whose dependency makes a package backend."""

SERVER_BUILTINS: tuple[str, ...] = (
    "fs",
    "fs/promises",
    "child_process",
    "node:*",
    "net",
    "tls",
    "http",
    "https",
    "http2",
    "worker_threads",
    "next/server",
    "next/headers",
    "@remix-run/node",
    "@react-router/node",
    "@tanstack/react-start/server",
)
"""Imports that only server code makes (a dependency on them says nothing: node builtins need none)."""

APP_FRAMEWORKS: dict[str, str] = {
    "next": "next",
    "@remix-run/react": "remix",
    "@remix-run/node": "remix",
    "@react-router/dev": "react-router",
    "@react-router/node": "react-router",
    "@tanstack/react-start": "tanstack-start",
    "@tanstack/start": "tanstack-start",
    "@sveltejs/kit": "sveltekit",
    "nuxt": "nuxt",
    "astro": "astro",
    "expo": "expo",
    "react-native": "expo",
    "@angular/core": "angular",
    "vite": "vite",
}
"""A dependency (of any kind) that makes a package a UI app, and which framework's conventions it follows."""

FRAMEWORK_CONFIGS: dict[str, str] = {
    "next.config": "next",
    "remix.config": "remix",
    "react-router.config": "react-router",
    "svelte.config": "sveltekit",
    "nuxt.config": "nuxt",
    "astro.config": "astro",
    "app.config": "tanstack-start",
    "angular.json": "angular",
}
"""A config file at a package's root (without its extension) that names its framework."""

UI_LIBRARIES: tuple[str, ...] = (
    "react",
    "react-dom",
    "vue",
    "svelte",
    "solid-js",
    "preact",
    "@angular/*",
    "react-native",
    "@mui/*",
    "@radix-ui/*",
    "@headlessui/*",
    "tailwindcss",
    "lucide-react",
    "framer-motion",
)
"""Dependencies of UI code: a runtime dependency on one makes a package frontend (unless it is backend)."""

SERVER_RENDERED_UI: tuple[str, ...] = ("@react-email/*", "react-email", "@react-pdf/renderer", "@vercel/og", "satori")
"""React that a server renders (emails, PDFs, images): no frontend in it."""

CLIENT_MODULES: tuple[str, ...] = (
    "react",
    "react-dom",
    "react-dom/*",
    "next/navigation",
    "next/link",
    "next/image",
    "next/router",
    "next/dynamic",
    "swr",
    "@tanstack/react-query",
    "@trpc/react-query",
    "@tanstack/react-router",
    "vue",
    "svelte",
    "solid-js",
)
"""Imports that make a file client code (a value import, not `import type`)."""

PYTHON_BACKENDS: tuple[str, ...] = (
    "django",
    "djangorestframework",
    "fastapi",
    "flask",
    "starlette",
    "litestar",
    "sanic",
    "sqlalchemy",
    "celery",
    "aiohttp",
    "tornado",
    "falcon",
    "quart",
)
CODE_EXTENSIONS: tuple[str, ...] = (".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs")
JSX_EXTENSIONS: tuple[str, ...] = (".tsx", ".jsx")


def matches(name: str, globs: Iterable[str]) -> str | None:
    """The glob in `globs` that module or package `name` matches (exact, `prefix*`, or a subpath), or None."""
    for glob in globs:
        if glob.endswith("*"):
            if name.startswith(glob[:-1]):
                return glob
        elif name == glob or name.startswith(glob + "/"):
            return glob
    return None


# --- facts -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileFacts:
    """One JS/TS module: what it imports (value imports only), and what marks it server or client code."""

    path: str  # repo-relative POSIX
    imports: tuple[str, ...] = ()
    jsx: bool = False
    use_server: bool = False
    use_client: bool = False


@dataclass(frozen=True)
class PackageInfo:
    """A workspace package (or a Python / Go project found beside them) as its manifest describes it."""

    dir: str  # repo-relative POSIX; never "."
    name: str
    runtime: tuple[str, ...] = ()
    dev: tuple[str, ...] = ()
    peer: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()  # framework config files at the package root (file names)
    language: Literal["js", "python", "go"] = "js"
    has_tsconfig: bool = False


@dataclass(frozen=True)
class RepoFacts:
    packages: tuple[PackageInfo, ...] = ()
    files: tuple[FileFacts, ...] = ()  # code files of the apps (the server folders are learned from them)


# --- roles -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerPart:
    """A part of an app that is backend: a framework convention or a folder of server modules."""

    patterns: tuple[str, ...]  # repo-relative gitignore patterns
    kind: Literal["convention", "folder", "files"]
    evidence: str
    overrides_components: bool = False  # `route.tsx` handlers: TSX that no frontend renders


@dataclass(frozen=True)
class PackageRole:
    package: PackageInfo
    role: Role
    evidence: tuple[str, ...]
    framework: str = ""
    server_parts: tuple[ServerPart, ...] = ()
    renders_server_ui: bool = False  # React for emails / PDFs: its TSX is no frontend's


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
    for config in pkg.configs:
        stem = config.split(".", 2)
        key = config if config.endswith(".json") else ".".join(stem[:2]) if len(stem) > 2 else stem[0]
        framework = FRAMEWORK_CONFIGS.get(key)
        if framework is not None and (framework != "tanstack-start" or _has_any(pkg, ("@tanstack/*", "vinxi"))):
            return framework, f"has `{config}`"
    for dep in (*pkg.runtime, *pkg.dev):
        framework = APP_FRAMEWORKS.get(dep)
        if framework is not None and framework != "vite":
            return framework, f"depends on `{dep}`"
    if "vite" in (*pkg.runtime, *pkg.dev) and _deps_matching(pkg.runtime, UI_LIBRARIES):
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
    backend_names: set[str] = set()
    direct: dict[str, list[str]] = {}
    for pkg in facts.packages:
        if pkg.language != "js":
            backend_names.add(pkg.name)
            continue
        server = _deps_matching((*pkg.runtime, *pkg.dev, *pkg.peer), SERVER_MODULES)
        if server:
            direct[pkg.dir] = server
            backend_names.add(pkg.name)
    # a package that depends at runtime on a backend workspace package is backend too, unless it is UI
    changed = True
    while changed:
        changed = False
        for pkg in facts.packages:
            if pkg.name in backend_names or pkg.language != "js" or framework_of(pkg)[0]:
                continue
            if _deps_matching(pkg.runtime, UI_LIBRARIES):
                continue
            if any(dep in backend_names for dep in pkg.runtime):
                backend_names.add(pkg.name)
                changed = True
    files_by_package = _files_by_package(facts)
    roles = [_role(pkg, direct, backend_names, by_name, files_by_package.get(pkg.dir, ())) for pkg in facts.packages]
    return Layout(roles=tuple(sorted(roles, key=lambda r: r.package.dir)))


def _role(
    pkg: PackageInfo,
    direct: Mapping[str, list[str]],
    backend_names: set[str],
    by_name: Mapping[str, PackageInfo],
    files: Sequence[FileFacts],
) -> PackageRole:
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
    server = direct.get(pkg.dir, [])
    via = [d for d in pkg.runtime if d in backend_names and d in by_name]
    if framework:
        parts = server_parts(pkg, framework, files, backend_names)
        evidence = (f"{framework} app: {why}",)
        if server:
            evidence += (f"server dependencies {_quote(server)} are used by its server parts",)
        return PackageRole(pkg, "app", evidence, framework=framework, server_parts=parts)
    server_ui = _deps_matching((*pkg.runtime, *pkg.dev), SERVER_RENDERED_UI)
    if server or (via and not ui_runtime):
        evidence = [f"depends on {_quote(server)}"] if server else []
        if via:
            evidence.append(f"depends on the backend workspace package(s) {_quote(via)}")
        if ui_runtime:
            what = _quote(server_ui) if server_ui else _quote(ui_runtime)
            evidence.append(f"renders React on the server ({what}), no UI framework app")
        return PackageRole(pkg, "backend", tuple(evidence), renders_server_ui=bool(ui_runtime))
    if server_ui:
        return PackageRole(pkg, "backend", (f"renders on the server with {_quote(server_ui)}",), renders_server_ui=True)
    if ui_runtime:
        return PackageRole(pkg, "frontend", (f"runtime dependency on {_quote(ui_runtime)}",))
    ui_other = _deps_matching((*pkg.peer, *pkg.dev), UI_LIBRARIES)
    if ui_other:
        return PackageRole(pkg, "frontend", (f"a UI library: peer or dev dependency on {_quote(ui_other)}",))
    return PackageRole(pkg, "shared", ("no server, ORM or UI dependency: a shared library (left to the policy)",))


def _files_by_package(facts: RepoFacts) -> dict[str, list[FileFacts]]:
    dirs = sorted((p.dir for p in facts.packages), key=len, reverse=True)
    out: dict[str, list[FileFacts]] = {}
    for f in facts.files:
        owner = next((d for d in dirs if f.path.startswith(d + "/")), None)
        if owner is not None:
            out.setdefault(owner, []).append(f)
    return out


# --- the server parts of an app --------------------------------------------------------------------------------

_CONVENTIONS: dict[str, tuple[tuple[tuple[str, ...], str, bool], ...]] = {
    # (patterns relative to the package, evidence, route handlers may be .tsx)
    "next": (
        (
            ("app/**/route.*", "src/app/**/route.*"),
            "Next.js App Router route handlers (`route.ts`, route groups)",
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
_NOT_SERVER_FOLDERS = ("components", "pages", "public", "styles", "app", "hooks", "ui", "node_modules", "assets")


def server_parts(
    pkg: PackageInfo, framework: str, files: Sequence[FileFacts], backend_names: set[str]
) -> tuple[ServerPart, ...]:
    """The framework's server conventions inside the app, then its folders of server modules."""
    parts = [
        ServerPart(tuple(f"{pkg.dir}/{p}" for p in rel), "convention", why, overrides_components=tsx)
        for rel, why, tsx in _CONVENTIONS.get(framework, ())
    ]
    covered = [p for part in parts for p in part.patterns]
    parts.extend(_server_folders(pkg, files, backend_names, covered))
    return tuple(parts)


def classify_file(f: FileFacts, backend_names: set[str]) -> tuple[Literal["server", "client", "neutral"], str]:
    """Whether a module is server code, client code or neither, and the evidence."""
    if f.use_client:
        return "client", '"use client"'
    if f.jsx or f.path.endswith(JSX_EXTENSIONS):
        return "client", "renders JSX"
    client = [m for m in f.imports if matches(m, CLIENT_MODULES)]
    if client:
        return "client", f"imports `{client[0]}`"
    if f.use_server:
        return "server", '"use server"'
    for module in f.imports:
        if matches(module, SERVER_MODULES) or matches(module, SERVER_BUILTINS):
            return "server", f"imports `{module}`"
        base = _package_of(module)
        if base in backend_names:
            return "server", f"imports the backend package `{base}`"
    return "neutral", ""


def _package_of(module: str) -> str:
    parts = module.split("/")
    return "/".join(parts[:2]) if module.startswith("@") else parts[0]


def _server_folders(
    pkg: PackageInfo, files: Sequence[FileFacts], backend_names: set[str], covered: Sequence[str]
) -> list[ServerPart]:
    """Folders of the app whose modules are server code and none client code (the highest such folders);
    outside them, single modules marked server-only (`"use server"`, `server-only`, an ORM import)."""
    conventions = pathspec.PathSpec.from_lines("gitignore", covered)
    kinds: dict[str, tuple[str, str]] = {}
    for f in files:
        if not f.path.endswith(CODE_EXTENSIONS) or conventions.match_file(f.path):
            continue
        kinds[f.path] = classify_file(f, backend_names)
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
        server, client, total = stats[folder]
        rel = folder[len(pkg.dir) + 1 :]
        top = rel.split("/", 1)[0]
        if top in _NOT_SERVER_FOLDERS or any(seg in _NOT_SERVER_FOLDERS[:4] for seg in rel.split("/")):
            return False
        return client == 0 and server > 0 and server * 2 >= total

    chosen: list[str] = []
    for folder in sorted(stats, key=lambda d: (d.count("/"), d)):
        if any(folder.startswith(c + "/") for c in chosen):
            continue
        if qualifies(folder):
            chosen.append(folder)
    parts = [
        ServerPart(
            (f"{folder}/**",),
            "folder",
            f"{stats[folder][0]} of {stats[folder][2]} modules are server code ({', '.join(evidence[folder])}); "
            "none renders JSX or imports client code",
        )
        for folder in chosen
    ]
    loose = [
        path
        for path, (kind, _) in sorted(kinds.items())
        if kind == "server"
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
