"""Which changed files a typecheck covers, which may stay unchecked, and what a run of checks adds up to.

Pure: the facts about packages (which one owns a file, whether it has a check) come in as values. A file
is covered when its package has a check and the check reads it (a code extension, or the package's own
package.json / tsconfig). Every other file is unchecked: allowed when a `[[typecheck.unchecked]]` entry
matches it, else it keeps its chunk open. Nothing is ever dropped silently.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from storyfence.core.models import CommandRun, TypecheckOutcome, UncheckedFile
from storyfence.core.policy import TypecheckSettings

NO_CHECK = "no check covers it"
_CONFIG_READ_BY_THE_CHECK = re.compile(r"(package\.json|tsconfig(\.[\w.-]+)?\.json|jsconfig\.json)")
# a script that writes code or declarations is not a check, whatever tool it runs
_GENERATES = re.compile(r"--emitDeclarationOnly|\bgen(erate)?\b|\bcodegen\b|--declaration\b")


@dataclass(frozen=True)
class Owner:
    """The package that owns a changed file, as far as checking goes."""

    dir: str  # POSIX, repo-relative ("." for the repo root)
    checked: bool  # the package has a check (a script, or a tsconfig.json for tsc)


@dataclass(frozen=True)
class Coverage:
    targets: tuple[str, ...]  # package dirs to check, sorted
    unchecked: tuple[UncheckedFile, ...]

    @property
    def blocking(self) -> tuple[UncheckedFile, ...]:
        """The unchecked files no policy entry allows: the chunk may not close with them."""
        return tuple(u for u in self.unchecked if not u.allowed)


def is_check_script(name: str, text: str, tools: Sequence[str]) -> bool:
    """Whether a package.json script is a type check: a name that says so (`typecheck`, `check:types`), or
    an ambiguous name (`tsc`, `types`) whose text runs one of `tools` and generates nothing."""
    if "check" in name.lower():
        return True
    if _GENERATES.search(text):
        return False
    words = set(re.split(r"[\s;&|()'\"]+", text))
    return any(tool in words for tool in tools)


def pick_script(scripts: Mapping[str, str], settings: TypecheckSettings) -> str | None:
    """The first script of `settings.script_names` the package has and that is a check, or None."""
    for name in settings.script_names:
        text = scripts.get(name)
        if text is not None and is_check_script(name, text, settings.check_tools):
            return name
    return None


def reads(path: str, settings: TypecheckSettings) -> bool:
    """Whether a package's check reads `path` (code, or the config the check itself reads)."""
    base = posixpath.basename(path)
    return base.endswith(settings.extensions) or _CONFIG_READ_BY_THE_CHECK.fullmatch(base) is not None


def coverage(paths: Iterable[str], owners: Mapping[str, Owner | None], settings: TypecheckSettings) -> Coverage:
    """The package dirs to check for `paths` and the files that stay unchecked.

    A package in a folder of its own is checked whenever one of its files changed (a manifest change can
    break its types); the repo root only for a code file, since its check often runs the whole repo."""
    targets: set[str] = set()
    unchecked: list[UncheckedFile] = []
    for path in dict.fromkeys(paths):
        owner = owners.get(path)
        code = reads(path, settings)
        if owner is not None and owner.checked and (owner.dir != "." or code):
            targets.add(owner.dir)
        if owner is not None and owner.checked and code:
            continue
        allowance = next((a for a in settings.unchecked if a.spec.match_file(path)), None)
        if allowance is not None:
            unchecked.append(UncheckedFile(path=path, reason=allowance.reason, allowed=True))
        else:
            unchecked.append(UncheckedFile(path=path, reason=NO_CHECK, allowed=False))
    return Coverage(targets=tuple(sorted(targets)), unchecked=tuple(unchecked))


def outcome(runs: Sequence[CommandRun], unchecked: Sequence[UncheckedFile]) -> TypecheckOutcome:
    """What a run_typecheck call adds up to: type errors first, then tooling, then unchecked files."""
    if any(r.outcome == "failed" for r in runs):
        return "failed"
    if any(r.outcome in ("tooling_error", "timeout") for r in runs):
        return "tooling_error"
    if any(not u.allowed for u in unchecked):
        return "unchecked"
    return "passed" if runs else "not_needed"


def unchecked_advice(files: Sequence[UncheckedFile]) -> str:
    """What the model can do about files no check covers, in words."""
    paths = ", ".join(u.path for u in files if not u.allowed)
    return (
        f'no typecheck covers {paths}: add a check script (e.g. "typecheck": "tsc --noEmit") or a '
        "tsconfig.json to its package, or ask the user to allow it in .storyfence.toml "
        '([[typecheck.unchecked]] paths = ["<glob>"], reason = "...", then restart the server), '
        "or call report_blocker"
    )
