"""Reads the facts layout learning needs: workspace packages and their manifests, Python and Go projects
beside them, and what the modules of each app import. Reads only; never follows a symlink."""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from storyfence.adapters import read_log
from storyfence.adapters.packages import NEVER_PACKAGES, WorkspacePackages
from storyfence.core.evidence import CODE_EXTENSIONS, FRAMEWORK_CONFIGS
from storyfence.core.layout import framework_of
from storyfence.core.repo_facts import FileFacts, PackageInfo, RepoFacts

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # pyright: ignore[reportMissingImports]

MAX_FILES = 30_000
"""Modules read per repo at most: learning stays a few seconds on a very large repo."""
HEAD_BYTES = 48 * 1024
"""Imports and directives sit at the top of a module."""

_SKIP_DIRS = NEVER_PACKAGES | {"public", "out", ".expo"}
_PYTHON_MARKERS = ("manage.py", "pyproject.toml", "requirements.txt", "setup.py")
_IMPORT = re.compile(
    r"""^[ \t]*(?:import|export)[ \t]+(?!type[ \t{])(?:[^'";]*?[ \t\n}*]from[ \t]*)?['"]([^'"\n]+)['"]""",
    re.M,
)
_CALL = re.compile(r"""\b(?:require|import)\(\s*['"]([^'"\n]+)['"]\s*\)""")
_DIRECTIVE = re.compile(r"""\A(?:\s|//[^\n]*\n|/\*.*?\*/)*['"]use (server|client)['"]""", re.S)
_JSX = re.compile(r"<(?:[A-Z][\w.]*|[a-z][\w-]*)(?:\s[^<>]*)?/?>|</[\w.]*>|<>")
_BROWSER = re.compile(r"\b(?:window|localStorage|sessionStorage|navigator)\.\w|\bcreateBrowserClient\b")
_REACT_CACHE_ONLY = re.compile(
    r"""^[ \t]*import[ \t]*\{[ \t]*cache(?:[ \t]+as[ \t]+\w+)?[ \t]*,?[ \t]*\}[ \t]*from[ \t]*['"]react['"]""", re.M
)
_REACT_OTHER = re.compile(
    r"""^[ \t]*import[ \t]+(?!type\b)(?![ \t]*\{[ \t]*cache\b[^}]*\})[^;'"]*from[ \t]*['"]react['"]""", re.M
)
_HTTP_HANDLER = re.compile(
    r"^[ \t]*export[ \t]+(?:(?:async[ \t]+)?function[ \t]+|const[ \t]+)(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\b",
    re.M,
)
_PY_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def read_facts(root: Path) -> RepoFacts:
    """Every package's manifest facts, and the module facts of the packages that are UI apps."""
    workspace = WorkspacePackages(root)
    packages: list[PackageInfo] = []
    for pkg in workspace.packages:
        if pkg.dir == ".":
            continue
        folder = root / pkg.dir
        packages.append(
            PackageInfo(
                dir=pkg.dir,
                name=pkg.name,
                runtime=pkg.runtime,
                dev=pkg.dev,
                peer=pkg.peer,
                configs=_configs(folder),
                has_tsconfig=_is_file(folder / "tsconfig.json"),
            )
        )
    known = {p.dir for p in packages}
    packages.extend(p for p in _other_projects(root) if p.dir not in known)
    files: list[FileFacts] = []
    # the apps first: their server folders are learned only from their modules
    for pkg in sorted(packages, key=lambda p: not framework_of(p)[0]):
        if pkg.language == "js":
            files.extend(_module_facts(root, pkg.dir, MAX_FILES - len(files), known))
    return RepoFacts(packages=tuple(sorted(packages, key=lambda p: p.dir)), files=_resolve_local(files, packages))


_RESOLVE_SUFFIXES = ("", ".ts", ".tsx", ".js", ".jsx", ".mts", "/index.ts", "/index.tsx", "/index.js")


def _resolve_local(files: list[FileFacts], packages: list[PackageInfo]) -> tuple[FileFacts, ...]:
    """Each module's relative and alias imports (`./x`, `@/lib/x`, `~/x`) as the repo files they name."""
    known = {f.path for f in files}
    dirs = sorted((p.dir for p in packages), key=len, reverse=True)
    out: list[FileFacts] = []
    for f in files:
        owner = next((d for d in dirs if f.path.startswith(d + "/")), "")
        bases: list[str] = []
        for spec in f.imports:
            if spec.startswith("."):
                bases.append(posixpath.normpath(posixpath.join(posixpath.dirname(f.path), spec)))
            elif owner and spec.startswith(("@/", "~/", "#/")):
                bases += [f"{owner}/{spec[2:]}", f"{owner}/src/{spec[2:]}", f"{owner}/app/{spec[2:]}"]
        local = [b + suffix for b in bases for suffix in _RESOLVE_SUFFIXES if b + suffix in known]
        imports = tuple(i for i in f.imports if not i.startswith((".", "@/", "~/", "#/")))
        out.append(replace(f, imports=imports, local=tuple(dict.fromkeys(local))))
    return tuple(out)


def _is_file(path: Path) -> bool:
    read_log.note(path)
    return path.is_file()


def _configs(folder: Path) -> tuple[str, ...]:
    read_log.note(folder)  # its entries: the config files, and whether tsconfig.json is one of them
    try:
        names = os.listdir(folder)
    except OSError:
        return ()
    stems = tuple(FRAMEWORK_CONFIGS)
    return tuple(sorted(n for n in names if n.startswith(stems) or n == "manage.py"))


def _other_projects(root: Path) -> list[PackageInfo]:
    """Python and Go projects (the highest folder with a marker file), up to four levels down."""
    found: list[PackageInfo] = []
    for dirpath, dirnames, filenames in read_log.walk(root):
        rel = Path(dirpath).relative_to(root).as_posix()
        depth = 0 if rel == "." else rel.count("/") + 1
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        if depth >= 4:
            dirnames[:] = []
        if rel == ".":
            continue
        if "go.mod" in filenames:
            found.append(PackageInfo(dir=rel, name=rel, language="go", configs=("go.mod",)))
            dirnames[:] = []
        elif any(m in filenames for m in _PYTHON_MARKERS):
            configs = tuple(m for m in _PYTHON_MARKERS if m in filenames)
            if "manage.py" not in configs:
                # a nested Django project (apps/api/src/manage.py) still marks the folder above
                for d in dirnames:
                    read_log.note(Path(dirpath) / d)
                configs += tuple("manage.py" for d in dirnames if (Path(dirpath) / d / "manage.py").is_file())[:1]
            found.append(
                PackageInfo(dir=rel, name=rel, language="python", runtime=_python_deps(Path(dirpath)), configs=configs)
            )
            dirnames[:] = []
    return found


def _python_deps(folder: Path) -> tuple[str, ...]:
    names: list[str] = []
    # no pyproject.toml, or one that is not TOML: its dependencies say nothing (learning allows less, not more)
    read_log.note(folder / "pyproject.toml")
    read_log.note(folder)  # which requirements*.txt there are
    with contextlib.suppress(OSError, ValueError):
        with (folder / "pyproject.toml").open("rb") as fh:
            data = tomllib.load(fh)
        project = cast("dict[str, Any]", data.get("project", {}))
        for item in cast("list[object]", project.get("dependencies", [])):
            match = _PY_REQ.match(str(item))
            if match:
                names.append(match.group(1))
        tool = cast("dict[str, Any]", data.get("tool", {}))
        poetry = cast("dict[str, Any]", tool.get("poetry", {}))
        names.extend(str(k) for k in cast("dict[str, object]", poetry.get("dependencies", {})))
    for req in sorted(folder.glob("requirements*.txt")):
        read_log.note(req)
        try:
            text = req.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            match = _PY_REQ.match(line)
            if match and not line.lstrip().startswith(("#", "-")):
                names.append(match.group(1))
    return tuple(dict.fromkeys(n.lower().replace("_", "-") for n in names))


def _module_facts(root: Path, package_dir: str, budget: int, packages: set[str]) -> list[FileFacts]:
    out: list[FileFacts] = []
    for dirpath, dirnames, filenames in read_log.walk(root / package_dir):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        # a nested package's modules are its own
        dirnames[:] = sorted(
            d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".") and f"{rel_dir}/{d}" not in packages
        )
        for name in sorted(filenames):
            if len(out) >= budget:
                return out
            if not name.endswith(CODE_EXTENSIONS) or name.endswith(".d.ts"):
                continue
            out.append(module_facts(f"{rel_dir}/{name}", _head(Path(dirpath) / name)))
    return out


def _head(path: Path) -> str:
    read_log.note(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return ""
    try:
        return os.read(fd, HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def module_facts(path: str, text: str) -> FileFacts:
    """What one module imports (value imports), whether it renders JSX, and its directive."""
    imports = [m.group(1) for m in _IMPORT.finditer(text)]
    imports.extend(m.group(1) for m in _CALL.finditer(text))
    if "react" in imports and _REACT_CACHE_ONLY.search(text) and not _REACT_OTHER.search(text):
        # `import { cache } from "react"` memoises a server data loader (React Server Components): no UI
        imports = [i for i in imports if i != "react"]
    directive = _DIRECTIVE.match(text)
    jsx = path.endswith((".tsx", ".jsx")) and _JSX.search(text) is not None
    return FileFacts(
        path=path,
        imports=tuple(dict.fromkeys(imports)),
        jsx=jsx,
        use_server=directive is not None and directive.group(1) == "server",
        use_client=directive is not None and directive.group(1) == "client",
        browser=_BROWSER.search(text) is not None,
        http_handler=_HTTP_HANDLER.search(text) is not None,
    )
