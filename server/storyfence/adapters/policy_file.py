"""Loads the active policy: the packaged default, then a repo's .storyfence.toml or --policy FILE on top."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from storyfence.core.errors import PolicyError
from storyfence.core.policy import Policy, extend_policy, parse_policy

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


def load_policy(root: Path, explicit: Path | None = None) -> tuple[Policy, list[Path]]:
    """The active policy and the files it came from.

    `--policy FILE` wins over the repo's `.storyfence.toml`. Either one extends the built-in
    `backend` policy (a rule with the same id replaces it) unless it says `extends = "none"`.
    """
    path = explicit if explicit is not None else root / REPO_POLICY
    if explicit is None and not path.is_file():
        return load_builtin(), []
    data = _load_toml(path)
    extends = data.get("extends", "backend")
    label = str(path)
    if extends in ("none", False):
        return parse_policy(data, label), [path]
    if not isinstance(extends, str):
        raise PolicyError(f'Invalid policy {label}: key `extends`: must be a built-in policy name or "none"')
    return extend_policy(load_builtin(extends), data, label), [path]
