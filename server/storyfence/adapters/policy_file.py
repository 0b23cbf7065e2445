"""Loads the active policy: the packaged default, then a repo's .storyfence.toml or --policy FILE on top."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from storyfence.core.errors import PolicyError
from storyfence.core.learned import LEARNED_SOURCE
from storyfence.core.policy import PackageFacts, Policy
from storyfence.core.policy_load import check_examples, extend_policy, parse_policy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # pyright: ignore[reportMissingImports]

REPO_POLICY = ".storyfence.toml"


def packaged_policy_dir() -> Path:
    """The policies shipped with storyfence: inside the wheel, or the repo's policies/ in a checkout."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "policies", here.parent.parent / "policies"):
        if (candidate / "backend.toml").is_file():
            return candidate
    raise PolicyError("storyfence is installed without its policies (backend.toml not found)")


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise PolicyError(f"Invalid policy {path}: the file does not exist") from None
    except OSError as exc:
        raise PolicyError(f"Invalid policy {path}: cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"Invalid policy {path}: not valid TOML: {exc}") from None


def load_builtin(name: str = "backend") -> Policy:
    path = packaged_policy_dir() / f"{name}.toml"
    if not path.is_file():
        raise PolicyError(f"unknown built-in policy {name!r}")
    return parse_policy(_load_toml(path), f"{name}.toml (built in)")


def load_policy(
    root: Path,
    explicit: Path | None = None,
    *,
    learn: bool = True,
    verify_examples: bool = True,
    overlay: dict[str, Any] | None = None,
) -> tuple[Policy, list[Path]]:
    """The active policy and the files it came from.

    `--policy FILE` wins over the repo's `.storyfence.toml`. Either one extends the built-in
    `backend` policy (a rule with the same id is merged key by key) unless it says `extends = "none"`.
    With neither, the built-in policy is extended by the repo's learned layout (`learn=False`: not;
    `overlay`: this learned overlay, already read by the caller).
    The policy's examples are checked against the repo's packages: one that fails stops the load.
    """
    path = explicit if explicit is not None else root / REPO_POLICY
    if explicit is None and not path.is_file():
        policy = load_builtin()
        if learn:
            policy = extend_policy(policy, learned_overlay(root) if overlay is None else overlay, LEARNED_SOURCE)
        return _checked(policy, root, verify_examples), []
    data = _load_toml(path)
    extends = data.get("extends", "backend")
    label = str(path)
    if extends in ("none", False):
        return _checked(parse_policy(data, label), root, verify_examples), [path]
    if not isinstance(extends, str) or not (packaged_policy_dir() / f"{extends}.toml").is_file():
        names = ", ".join(f'"{p.stem}"' for p in sorted(packaged_policy_dir().glob("*.toml")))
        raise PolicyError(
            f"Invalid policy {label}: key `extends`: {extends!r} is not a built-in policy; "
            f'use one of {names}, or "none" to start from nothing'
        )
    return _checked(extend_policy(load_builtin(extends), data, label), root, verify_examples), [path]


def learned_overlay(root: Path) -> dict[str, Any]:
    """The repo's layout, learned from its files, as a policy overlay (learned once, then cached by the
    identity of every file and folder it was learned from: adapters/layout_cache.py)."""
    from storyfence.adapters.layout_cache import learned_overlay_cached

    return learned_overlay_cached(root)


def package_facts(root: Path) -> tuple[PackageFacts, ...]:
    """The workspace packages as the manifest rule sees them: runtime dependencies only."""
    from storyfence.adapters.packages import WorkspacePackages

    return tuple(PackageFacts(dir=p.dir, name=p.name, dependencies=p.runtime) for p in WorkspacePackages(root).packages)


def _checked(policy: Policy, root: Path, verify: bool = True) -> Policy:
    if verify:
        verify_examples_hold(policy, root)
    return policy


def verify_examples_hold(policy: Policy, root: Path) -> tuple[PackageFacts, ...] | None:
    """Raise PolicyError when one of the policy's examples does not hold in this repo; else the package facts
    they were checked against (None: the policy has no examples, nothing was read)."""
    if not (policy.examples.allowed or policy.examples.refused):
        return None
    facts = package_facts(root)
    failures = check_examples(policy, facts)
    if failures:
        raise PolicyError(f"Invalid policy {policy.source_label}: its examples do not hold: " + "; ".join(failures))
    return facts
