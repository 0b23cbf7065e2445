"""Packages checked at the story's base commit, apart from the user's files: a temporary detached git worktree
(outside the repo, git hooks off), its dependencies installed offline from its own lockfile with no install
scripts, each package's own check run there, and the worktree removed. What the gate compares a failing
package with (core/blame.py). Whatever cannot be done is said in the baseline's reason, and nothing is
excused for that package: the failure counts."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from storyfence.adapters.checks import CheckCommand, Checks, Manager, detect_manager
from storyfence.adapters.ports import Progress, RunCommand
from storyfence.core.blame import failed_packages, owner
from storyfence.core.models import CommandRun, PackageBaseline
from storyfence.core.policy import TypecheckSettings

GIT_TIMEOUT_SECONDS = 120.0
log = logging.getLogger("storyfence")


@dataclass(frozen=True)
class Taken:
    """The baselines of one call, and the commands that prepared the base commit's tree."""

    baselines: tuple[PackageBaseline, ...]
    setup: tuple[CommandRun, ...] = ()


def _git(cwd: Path, *args: str) -> tuple[bool, str]:
    """(succeeded, stdout or the error) of one git command; hooks never run."""
    try:
        proc = subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", "-C", str(cwd), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if proc.returncode == 0:
        return True, proc.stdout.decode("utf-8", errors="replace").strip()
    return False, proc.stderr.decode("utf-8", errors="replace").strip() or f"git exited {proc.returncode}"


def install_argv(root: Path, manager: Manager) -> tuple[str, ...] | None:
    """The offline install from the lockfile, without install scripts (they could write outside the tree):
    pnpm from the store the repo's own node_modules came from, npm from its cache. None for another manager."""
    if manager == "pnpm":
        argv = ("pnpm", "install", "--offline", "--frozen-lockfile", "--ignore-scripts")
        store = _pnpm_store(root)
        return (*argv, "--store-dir", store) if store else argv
    if manager == "npm":
        return ("npm", "ci", "--offline", "--ignore-scripts", "--no-audit", "--no-fund")
    return None


def _pnpm_store(root: Path) -> str | None:
    try:
        data: Any = json.loads((root / "node_modules" / ".modules.yaml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    store = cast("dict[str, object]", data).get("storeDir") if isinstance(data, dict) else None
    return store if isinstance(store, str) and store else None


def _unavailable(names: Mapping[str, str], commit: str | None, reason: str) -> Taken:
    return Taken(
        tuple(
            PackageBaseline(package=name, dir=d, commit=commit, available=False, reason=reason)
            for d, name in names.items()
        )
    )


class BaseCommit:
    """Checks packages of the repo at `root` as they were at `commit`, in a worktree of its own."""

    def __init__(self, root: Path, commit: str | None, settings: TypecheckSettings, run_command: RunCommand) -> None:
        self.root = root
        self.commit = commit
        self.settings = settings
        self.run_command = run_command
        self._top = root  # the repository's top folder, once git has named it

    async def check(self, names: Mapping[str, str], progress: Progress | None = None) -> Taken:
        """The baseline of each package in `names` (directory -> name), all from one worktree."""
        import anyio  # imported on first use, like the runner

        commit = self.commit
        if commit is None:
            return _unavailable(names, None, "the story did not begin on a git commit, so there is no before")
        install = install_argv(self.root, detect_manager(self.root))
        if install is None:
            return _unavailable(names, commit, "an offline install of the base commit needs pnpm or npm")
        tmp = Path(tempfile.mkdtemp(prefix="storyfence-base-"))
        tree: Path | None = None
        try:
            if progress is not None:
                await progress(f"checking {', '.join(names.values())} at the story's base commit {commit[:12]}")
            tree, why = await anyio.to_thread.run_sync(self._add_worktree, tmp / "tree", commit)
            if tree is None:
                return _unavailable(names, commit, why)
            checks = Checks(tree, self.settings)
            setup = await self._run(install, checks, "(offline install)", progress)
            if setup.outcome != "passed":
                why = f"the offline install of its dependencies failed: {setup.note or setup.output_tail[-300:]}"
                return Taken(_unavailable(names, commit, why).baselines, (setup,))
            return Taken(await self._baselines(checks, names, progress), (setup,))
        finally:
            with anyio.CancelScope(shield=True):  # a cancelled call still leaves no worktree behind
                await anyio.to_thread.run_sync(self._remove, tmp, tree)

    def _add_worktree(self, path: Path, commit: str) -> tuple[Path | None, str]:
        """The detached worktree at `commit`, and the served root inside it (the root may be a subfolder)."""
        ok, top = _git(self.root, "rev-parse", "--show-toplevel")
        ok_prefix, prefix = _git(self.root, "rev-parse", "--show-prefix")
        if not ok or not ok_prefix:
            return None, f"git cannot read the repository: {top if not ok else prefix}"
        self._top = Path(top)
        ok, out = _git(self._top, "worktree", "add", "--detach", "--quiet", str(path), f"{commit}^{{commit}}")
        if not ok:
            return None, f"git could not check out the base commit {commit[:12]}: {out}"
        return path / prefix if prefix else path, ""

    def _remove(self, tmp: Path, tree: Path | None) -> None:
        if tree is not None:
            ok, out = _git(self._top, "worktree", "remove", "--force", str(tmp / "tree"))
            if not ok:
                log.warning("could not remove the base-commit worktree %s: %s", tmp / "tree", out)
        shutil.rmtree(tmp, ignore_errors=True)

    async def _run(
        self, argv: tuple[str, ...], checks: Checks, package: str, progress: Progress | None, package_dir: str = "."
    ) -> CommandRun:
        dirs = {p.name: p.dir for p in checks.workspace.packages}
        return await self.run_command(
            argv,
            package=package,
            package_dir=package_dir,
            package_dirs=dirs | {d: d for d in dirs.values()},
            cwd=checks.root,
            timeout=self.settings.timeout_seconds,
            output_cap=self.settings.output_cap_bytes,
            progress=progress,
        )

    async def _baselines(
        self, checks: Checks, names: Mapping[str, str], progress: Progress | None
    ) -> tuple[PackageBaseline, ...]:
        found: list[PackageBaseline] = []
        through_turbo: dict[str, list[tuple[PackageBaseline, CheckCommand]]] = {}
        for directory, name in sorted(names.items()):
            base = PackageBaseline(package=name, dir=directory, commit=self.commit, available=True)
            pkg = checks.workspace.by_dir.get(directory)
            command = checks.command(pkg) if pkg is not None else None
            if pkg is None:
                found.append(
                    base.model_copy(update={"reason": "not a package at the base commit: all its errors are new"})
                )
            elif command is None:
                found.append(
                    base.model_copy(update={"available": False, "reason": "it had no check at the base commit"})
                )
            elif command.turbo_script is not None:
                through_turbo.setdefault(command.turbo_script, []).append((base, command))
            else:
                ran = await self._run(command.argv, checks, command.package, progress, command.diagnostics_dir)
                found.append(self._read(base, ran, checks))
        for members in through_turbo.values():
            # one turbo run for them all; `--continue`: a dependency failing must not skip a package's own check
            first = members[0][1]
            filters = (arg for _, command in members[1:] for arg in ("--filter", command.package))
            argv = (*first.argv, *filters, "--continue")
            ran = await self._run(argv, checks, first.package, progress, first.diagnostics_dir)
            found += [self._read(base, ran, checks) for base, _ in members]
        return tuple(sorted(found, key=lambda b: b.dir))

    @staticmethod
    def _read(base: PackageBaseline, ran: CommandRun, checks: Checks) -> PackageBaseline:
        """What one run at the base commit says of one package: whether its check failed, and its errors."""
        if ran.outcome not in ("passed", "failed"):
            why = f"its check at the base commit could not run ({ran.note or ran.outcome})"
            return base.model_copy(update={"available": False, "reason": why, "run": ran})
        dirs = {p.dir for p in checks.workspace.packages if p.dir != "."}
        failed = failed_packages(ran, {p.name: p.dir for p in checks.workspace.packages}) or frozenset()
        errors = tuple(d for d in ran.diagnostics if d.severity == "error" and owner(d.file, dirs) == base.dir)
        # a check that failed without saying whose it was is not taken to have been failing (fail closed)
        return base.model_copy(update={"failed": base.dir in failed, "errors": errors, "run": ran})
