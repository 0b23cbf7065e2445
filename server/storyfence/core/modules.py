"""Which side a module is on (server, client or neither), and how strong the evidence is: from what it
imports, renders and says about itself. Pure: module facts in, verdicts out."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from storyfence.core.evidence import (
    CLIENT_MODULES,
    CLIENT_SUBPATHS,
    CODE_EXTENSIONS,
    JSX_EXTENSIONS,
    SERVER_BUILTINS,
    SERVER_MODULES,
    SERVER_RENDERED_UI,
)
from storyfence.core.repo_facts import FileFacts

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
            if kind == "client" or why.startswith(MARKERS):
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


def named_server(path: str) -> bool:
    """`auth/server.ts`, `db.server.ts`, `server/`: a module whose name says it runs on the server."""
    segments = path.split("/")
    return segments[-1].split(".")[0] == "server" or ".server." in segments[-1] or "server" in segments[:-1]


MARKERS = (
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
