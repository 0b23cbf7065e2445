"""The facts layout learning reads about a repo: its packages as their manifests describe them and the code
files of its apps, as adapters/layout_facts.py gathers them. Values only; core/layout.py draws the roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class FileFacts:
    """One JS/TS module: what it imports (value imports only), and what marks it server or client code."""

    path: str  # repo-relative POSIX
    imports: tuple[str, ...] = ()
    jsx: bool = False
    use_server: bool = False
    use_client: bool = False
    browser: bool = False  # reads `window`, `localStorage`, `sessionStorage` or `navigator`
    local: tuple[str, ...] = ()  # the repo files its relative and alias imports name
    http_handler: bool = False  # exports GET / POST / ... (a route handler, wherever the app keeps it)


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
