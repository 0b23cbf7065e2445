"""Policies the tests build on."""

from __future__ import annotations

from storyfence.adapters.policy_file import load_builtin
from storyfence.core.policy import Policy
from storyfence.core.policy_load import extend_policy


def policy_allowing_unchecked(*paths: str) -> Policy:
    """The built-in policy plus a `[[typecheck.unchecked]]` entry: for test repos that have no typecheck."""
    entry = {"paths": list(paths), "reason": "this test repo has no typecheck"}
    return extend_policy(load_builtin(), {"typecheck": {"unchecked": [entry]}}, "test-policy.toml")
