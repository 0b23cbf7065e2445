"""The check command for each workspace package, read from the repo: the package manager (the root
`packageManager` field, else the lockfile), the package's check script, turbo when the repo runs that task
through it, and the repo's own tsc for a TypeScript package without a script. Argv only, never a shell."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast

from storyfence.adapters.packages import Package, WorkspacePackages
from storyfence.core.checks import Owner, pick_script
from storyfence.core.errors import InputError
from storyfence.core.policy import TypecheckSettings

Manager = Literal["pnpm", "npm", "yarn", "bun"]
MANAGERS: tuple[Manager, ...] = ("pnpm", "npm", "yarn", "bun")
_LOCKFILES: tuple[tuple[str, Manager], ...] = (
    ("pnpm-lock.yaml", "pnpm"),
    ("pnpm-workspace.yaml", "pnpm"),
    ("bun.lock", "bun"),
    ("bun.lockb", "bun"),
    ("yarn.lock", "yarn"),
    ("package-lock.json", "npm"),
    ("npm-shrinkwrap.json", "npm"),
)
_PACKAGE_NAME = re.compile(r"^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$", re.IGNORECASE)
TSC = "node_modules/.bin/tsc"


@dataclass(frozen=True)
class CheckCommand:
    """One command that checks one package (through turbo: and the packages that depend on it)."""

    package: str  # the package name (its directory for a nameless root)
    dir: str  # the package directory, repo-relative POSIX
    argv: tuple[str, ...]
    diagnostics_dir: str  # what relative paths in its output are relative to
    packages: tuple[str, ...] = ()  # the directories of every package whose check this command runs
    turbo_script: str | None = None  # the script it runs through turbo, if it does


def _manifest(path: Path) -> dict[str, Any]:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cast("dict[str, Any]", data) if isinstance(data, dict) else {}


def _table(value: object) -> dict[str, object]:
    return cast("dict[str, object]", value) if isinstance(value, dict) else {}


def detect_manager(root: Path) -> Manager:
    """The repo's package manager: `packageManager` ("pnpm@9.1.0"), else its lockfile, else npm."""
    declared = _manifest(root / "package.json").get("packageManager")
    if isinstance(declared, str):
        name = declared.split("@", 1)[0].strip()
        for manager in MANAGERS:
            if name == manager:
                return manager
    for filename, manager in _LOCKFILES:
        if (root / filename).is_file():
            return manager
    return "npm"


def turbo_runs(root: Path, script: str) -> bool:
    """Whether the repo runs `script` through turbo: turbo.json defines the task and turbo is a root dependency."""
    root_manifest = _manifest(root / "package.json")
    deps = {**_table(root_manifest.get("dependencies")), **_table(root_manifest.get("devDependencies"))}
    if "turbo" not in deps:
        return False
    config = _manifest(root / "turbo.json")
    tasks = _table(config.get("tasks")) or _table(config.get("pipeline"))  # "pipeline" before turbo 2
    return any(task == script or task.endswith(f"#{script}") for task in tasks)


def script_command(
    manager: Manager, package: str, script: str, *, turbo: bool, root: bool = False, dependents: bool = False
) -> tuple[str, ...]:
    """The argv that runs `script` of workspace package `package` (or of the repo root) with `manager`.

    Through turbo with `dependents`, the package and every package that depends on it (turbo's `...<name>`
    filter), each one's check run even when another failed (`--continue`): a package whose check is skipped
    could hide its own failure behind another's."""
    if root:
        return (manager, "run", script)
    if turbo:
        runner = {
            "pnpm": ("pnpm", "exec", "turbo"),
            "npm": ("npm", "exec", "--no", "--", "turbo"),
            "yarn": ("yarn", "turbo"),
            "bun": ("bun", "run", "turbo"),
        }[manager]
        if dependents:
            return (*runner, "run", script, "--filter", f"...{package}", "--continue")
        return (*runner, "run", script, "--filter", package)
    return {
        "pnpm": ("pnpm", "--filter", package, "run", script),
        "npm": ("npm", "run", script, "--workspace", package),
        "yarn": ("yarn", "workspace", package, "run", script),
        "bun": ("bun", "run", "--filter", package, script),
    }[manager]


class Checks:
    """What checks each package of one repo, read once per run_typecheck call."""

    def __init__(self, root: Path, settings: TypecheckSettings, workspace: WorkspacePackages | None = None) -> None:
        self.root = root
        self.settings = settings
        self.workspace = workspace if workspace is not None else WorkspacePackages(root)
        self.manager: Manager = detect_manager(root)
        self._commands: dict[str, CheckCommand | None] = {}

    def owner(self, path: str) -> Package | None:
        """The package that owns `path`: the nearest workspace package above it, else the root package."""
        return self.workspace.owner(path) or self.workspace.by_dir.get(".")

    def owners(self, paths: list[str]) -> dict[str, Owner | None]:
        found: dict[str, Owner | None] = {}
        for path in paths:
            pkg = self.owner(path)
            found[path] = None if pkg is None else Owner(dir=pkg.dir, checked=self.command(pkg) is not None)
        return found

    def commands(self, targets: Sequence[str], dependents: Sequence[str] = ()) -> list[CheckCommand]:
        """The commands that check the packages in `targets` (directories, each with a check) and in
        `dependents` (those without a check are left out: nothing can check them).

        Through turbo, a target's command checks its dependents that run the same script too (`...<name>`);
        a target that such a command already checks gets none of its own, and every dependent no command
        covers gets its own."""
        if not dependents:
            return [self._own(directory) for directory in targets]
        ws = self.workspace
        wanted = [d for d in dependents if self.command(ws.by_dir[d]) is not None]
        reach = {t: set(ws.dependents([t])) for t in targets}
        planned: list[CheckCommand] = []
        covered: set[str] = set()
        for target in targets:
            own = self._own(target)
            script = own.turbo_script
            if target in covered or script is None:
                continue
            # a target that depends on another target with the same script is checked by that one's command
            if any(target in reach[t] and self._own(t).turbo_script == script for t in targets if t != target):
                continue
            runs = [d for d in (*targets, *wanted) if d in reach[target] and self._own(d).turbo_script == script]
            argv = script_command(self.manager, own.package, script, turbo=True, dependents=True)
            planned.append(replace(own, argv=argv, packages=(target, *runs)))
            covered.update((target, *runs))
        planned += [self._own(d) for d in (*targets, *wanted) if d not in covered]
        return planned

    def _own(self, directory: str) -> CheckCommand:
        command = self.command(self.workspace.by_dir[directory])
        assert command is not None, directory
        return command

    def command(self, pkg: Package) -> CheckCommand | None:
        """The command that checks `pkg`, or None when it has neither a check script nor a tsconfig.json."""
        if pkg.dir not in self._commands:
            self._commands[pkg.dir] = self._build(pkg)
        return self._commands[pkg.dir]

    def _build(self, pkg: Package) -> CheckCommand | None:
        scripts = {k: str(v) for k, v in _table(_manifest(self.root / pkg.dir / "package.json").get("scripts")).items()}
        script = pick_script(scripts, self.settings)
        is_root = pkg.dir == "."
        if script is not None:
            if not _PACKAGE_NAME.match(pkg.name):
                raise InputError(f"package name {pkg.name!r} is not a valid workspace package name")
            turbo = False
            if self.settings.command:
                custom = self.settings.command
                argv = tuple(a.replace("{package}", pkg.name).replace("{script}", script) for a in custom)
            else:
                turbo = not is_root and turbo_runs(self.root, script)
                argv = script_command(self.manager, pkg.name, script, turbo=turbo, root=is_root)
            return CheckCommand(
                package=pkg.name,
                dir=pkg.dir,
                argv=argv,
                diagnostics_dir=pkg.dir,
                packages=(pkg.dir,),
                turbo_script=script if turbo else None,
            )
        tsconfig = posixpath.normpath(f"{pkg.dir}/tsconfig.json")
        if not (self.root / tsconfig).is_file():
            return None
        # the package's own tsc, else the root's; none installed: run_command reports a tooling error
        local = posixpath.normpath(f"{pkg.dir}/{TSC}")
        tsc = local if (self.root / local).is_file() else TSC
        argv = (tsc, "--noEmit", "-p", tsconfig)
        return CheckCommand(package=pkg.name, dir=pkg.dir, argv=argv, diagnostics_dir=".", packages=(pkg.dir,))
