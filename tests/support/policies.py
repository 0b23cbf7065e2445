"""Policies the tests build on: the backend policy as the core parses policies/backend.toml (no adapter reads it),
and the built-in one as the server loads it, with a typecheck allowance for repos that have none."""

from __future__ import annotations

import sys
from typing import Any

from storyfence.adapters.policy_file import load_builtin
from storyfence.core.policy import Policy
from storyfence.core.policy_load import extend_policy, parse_policy
from tests.support.paths import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # pyright: ignore[reportMissingImports]

BACKEND_TOML = "policies/backend.toml"


def backend_data() -> dict[str, Any]:
    """policies/backend.toml as TOML data (a fresh copy each call)."""
    with (REPO / BACKEND_TOML).open("rb") as fh:
        return tomllib.load(fh)


def backend_policy() -> Policy:
    """The backend policy parsed by the core from policies/backend.toml, its rules labelled with that path."""
    return parse_policy(backend_data(), BACKEND_TOML)


def policy_allowing_unchecked(*paths: str) -> Policy:
    """The built-in policy plus a `[[typecheck.unchecked]]` entry: for test repos that have no typecheck."""
    entry = {"paths": list(paths), "reason": "this test repo has no typecheck"}
    return extend_policy(load_builtin(), {"typecheck": {"unchecked": [entry]}}, "test-policy.toml")
