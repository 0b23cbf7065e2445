"""The built-in confinement refusal: a path outside the root, through a symlink, or not a plain path."""

from __future__ import annotations

from storyfence.core.decisions import BUILT_IN, Decision
from storyfence.core.errors import Refused


def confinement_refusal(path: str, reason: str, instead: str) -> Refused:
    """A refusal by the built-in `confinement` rule, which no policy can relax."""
    decision = Decision(
        path=path, allowed=False, rule="confinement", kind="deny", reason=reason, instead=instead, policy_file=BUILT_IN
    )
    return Refused(decision.message(), decision)
