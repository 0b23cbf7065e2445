"""The server parts of a package, learned from its modules: the framework's route-handler conventions,
folders whose modules are server code and none client code, and (inside a backend package) the client
modules to carve out. Pure: module facts in, patterns and evidence out."""

from __future__ import annotations

import posixpath
import re
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
    SERVER_RENDERED_UI,
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
class Backends:
    """The backend workspace packages by name; `mixed` ones also hold client modules (carved out), so an
    import of one is weak evidence."""

    names: frozenset[str] = frozenset()
    mixed: frozenset[str] = frozenset()
    rendering: frozenset[str] = frozenset()  # backend packages that render React on the server (emails, PDFs)

    def __contains__(self, name: object) -> bool:
        return name in self.names


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


def is_config(path: str) -> bool:
    """A tool's config module (`eslint.config.js`, `vite.config.ts`): it says nothing about its package."""
    return posixpath.basename(path).split(".")[1:2] == ["config"]


def classify_file(f: FileFacts, backend_names: Backends, *, jsx_is_client: bool = True) -> tuple[Kind, str]:
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
    if f.http_handler and not f.path.endswith(JSX_EXTENSIONS):
        return "server", "exports an HTTP route handler (GET, POST, ...)"
    if "client-only" in segments[:-1] or ".client." in segments[-1]:
        return "client", "a client-only module by its name"
    if f.use_client:
        return "client", '"use client"'
    rendered = next(
        (m for m in f.imports if matches(m, SERVER_RENDERED_UI) or package_of(m) in backend_names.rendering), None
    )
    if rendered is not None and f.path.endswith(JSX_EXTENSIONS):
        return "server", f"{SERVER_RENDERED} `{rendered}`"
    if jsx_is_client and (f.jsx or f.path.endswith(JSX_EXTENSIONS)):
        return "client", "renders JSX"
    if any(m.startswith("@t3-oss/env") for m in f.imports):
        return "neutral", ""  # an env schema holds the client's variables and the server's: both sides import it
    client = [m for m in f.imports if _client_import(m, backend_names, jsx_is_client)]
    if client:
        return "client", f"imports `{client[0]}`"
    if f.browser:
        return "client", "uses browser globals (`window`, `localStorage`)"
    for module in f.imports:
        if matches(module, SERVER_MODULES):
            return "server", f"imports `{module}`"
    for module in f.imports:
        if matches(module, SERVER_BUILTINS):
            return "server", f"{RUNTIME_IMPORT} `{module}`"
        base = package_of(module)
        if base in backend_names:
            weak = base in backend_names.mixed
            return "server", f"{BACKEND_IMPORT if weak else 'imports the backend package'} `{base}`" + (
                " (which also holds client modules)" if weak else ""
            )
    return "neutral", ""


SERVER_RENDERED = "renders on the server with"
BACKEND_IMPORT = "imports the mixed backend package"
LOCAL_IMPORT = "imports the server module"
RUNTIME_IMPORT = "uses the server runtime"
WEAK = (BACKEND_IMPORT, LOCAL_IMPORT, RUNTIME_IMPORT)
"""Weak evidence, not enough for a lone module: a mixed backend package also exports constants a client
module may import, a helper may import a server module for one type guard, and a page's data loader
reads files (`node:fs`) or cookies (`next/headers`) while rendering UI. A folder needs one module with
strong evidence (a directive, `server-only`, an ORM, a queue, a server SDK) besides."""


def classify_files(
    files: Sequence[FileFacts], backend_names: Backends, *, jsx_is_client: bool = True
) -> dict[str, tuple[Kind, str]]:
    """Every code module's kind, then what its own imports make of the neutral ones, until nothing
    changes: a module that imports a client module is client code, one that imports a server module is
    server code."""
    kinds = {
        f.path: classify_file(f, backend_names, jsx_is_client=jsx_is_client)
        for f in files
        if f.path.endswith(CODE_EXTENSIONS) and not is_config(f.path)
    }
    local = {f.path: f.local for f in files}
    for _ in range(12):  # import chains are short; a cycle cannot loop forever
        changed = False
        for path, (kind, why) in list(kinds.items()):
            # a marker (`"use server"`, `server-only`) is final; an import-only verdict yields to a local
            # client module (a helper that imports a dialog component is UI code, whatever else it imports)
            if kind == "client" or why.startswith(_MARKERS):
                continue
            if kind == "server":
                # only a component flips a module with server evidence of its own, not a chain of helpers
                client_dep = next((m for m in local.get(path, ()) if _is_component(kinds.get(m))), None)
                if client_dep is not None:
                    kinds[path] = ("client", f"imports the client module `{client_dep}`")
                    changed = True
                continue
            found = {
                kinds[m][0]: m
                for m in reversed(local.get(path, ()))
                if m in kinds and (kinds[m][0] == "server" or _is_ui(kinds[m]))
            }
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


def _is_ui(kind: tuple[Kind, str] | None) -> bool:
    """A module whose import makes its importer UI code: a component (JSX, `"use client"`) or a hook
    (a client library's import), not an isomorphic helper that merely checks `window` or sits in a folder
    named client."""
    if kind is None or kind[0] != "client":
        return False
    return kind[1] in ("renders JSX", '"use client"') or kind[1].startswith(("imports `", "imports the client module"))


def _is_component(kind: tuple[Kind, str] | None) -> bool:
    return kind is not None and kind[0] == "client" and kind[1] in ("renders JSX", '"use client"')


def _named_server(path: str) -> bool:
    """`auth/server.ts`, `db.server.ts`, `server/`: a module whose name says it runs on the server."""
    segments = path.split("/")
    return segments[-1].split(".")[0] == "server" or ".server." in segments[-1] or "server" in segments[:-1]


_MARKERS = (
    '"use server"',
    "imports `server-only`",
    "lives in a `server-only` folder",
    "exports an HTTP route handler",
)


def _client_import(module: str, backend_names: Backends, jsx_is_client: bool) -> bool:
    if matches(module, CLIENT_MODULES):
        return jsx_is_client or matches(module, ("react", "react-dom")) is None
    # `better-auth/react`, `next-auth/client`: a library's client entry point; `@prisma/client` is a server
    # module by name, and a workspace package's `/client` (a jobs client) is its own business
    if not module.endswith(CLIENT_SUBPATHS) or module in SERVER_MODULES or package_of(module) in backend_names:
        return False
    return not any(g.endswith("*") and module.startswith(g[:-1]) for g in SERVER_MODULES)


def is_test(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return "/__tests__/" in path or "/__mocks__/" in path or ".test." in name or ".spec." in name


def package_of(module: str) -> str:
    parts = module.split("/")
    return "/".join(parts[:2]) if module.startswith("@") else parts[0]


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
        and (why.startswith(_MARKERS) or (_named_server(path) and not why.startswith(WEAK)))
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


def imports_evidence(files: Sequence[FileFacts], backend_names: Backends) -> str:
    """Why a package with no telling dependency is backend by what its modules import ("" when it is not):
    some import server code, none is client code, and the server ones are at least a third."""
    kinds = [k for p, k in classify_files(files, backend_names).items() if not is_test(p)]
    server = [why for kind, why in kinds if kind == "server"]
    if not any(not why.startswith(WEAK) or _server_runtime(why) for why in server):
        return ""  # `node:path` in an eslint config, or a mere import of a sibling: not enough for a package
    if any(kind == "client" for kind, _ in kinds) or len(server) * 3 < len(kinds):
        return ""
    return f"{len(server)} of {len(kinds)} modules import server code ({', '.join(dict.fromkeys(server[:3]))})"


_TOOLING_BUILTINS = frozenset(("path", "url", "util", "os", "module", "process", "events", "assert"))


def _server_runtime(why: str) -> bool:
    """`node:crypto`, `fs`, `child_process`: what a package does on a server (not `node:path`, which every
    config and build script imports)."""
    if not why.startswith(RUNTIME_IMPORT):
        return False
    module = why.split("`")[1] if "`" in why else ""
    return module.removeprefix("node:").split("/")[0] not in _TOOLING_BUILTINS and module.startswith(
        ("node:", "fs", "child_process", "crypto", "net", "tls", "http", "worker_threads")
    )


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
