"""The fence around a write: whether a confined path may be written, and whether a change to it may be made.

The path first (protected paths, deny rules, frontend packages by manifest, allow rules, the story's
SCOPE.md), then, once the workflow allows a write, the content rules on the change itself. Each raises
Refused with the decision that names the rule; the caller goes on only when nothing refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from storyfence.core import steps
from storyfence.core.content import check_content
from storyfence.core.decisions import Decision, ScopeLists, decide_write
from storyfence.core.errors import Refused
from storyfence.core.models import FileChange
from storyfence.core.policy import PackageFacts, Policy, Rule
from storyfence.core.workflow import StoryState

DECIDED_MAX = 4096  # decisions a Bounds remembers


@dataclass(frozen=True)
class Bounds:
    """Everything a write decision needs besides the path: the policy and the repo facts it reads."""

    policy: Policy
    protected: tuple[Rule, ...]
    scope: ScopeLists | None  # the story's SCOPE.md lists; None outside a story (check_path without one)
    packages: Sequence[PackageFacts]
    # each path's decision, made once: a pure function of the fields above, which never change
    _decided: dict[str, Decision] = field(default_factory=dict[str, Decision], compare=False, repr=False)

    def decide(self, rel: str) -> Decision:
        found = self._decided.get(rel)
        if found is None:
            found = decide_write(self.policy, rel, scope=self.scope, protected=self.protected, packages=self.packages)
            if len(self._decided) >= DECIDED_MAX:
                self._decided.clear()
            self._decided[rel] = found
        return found

    def content_refusal(self, rel: str, old_text: str | None, new_text: str | None) -> Decision | None:
        """The content rules' refusal of replacing `old_text` (None: a new file) with `new_text` (None: a
        deletion), or None when every rule passes."""
        return check_content(self.policy, rel, old_text, new_text)


def allowed_path(bounds: Bounds, rel: str) -> Decision:
    """The allow decision for writing `rel`, or Refused."""
    decision = bounds.decide(rel)
    if not decision.allowed:
        raise Refused(decision.message(), decision)
    return decision


def allowed_change(bounds: Bounds, rel: str, old_text: str | None, new_text: str | None) -> None:
    """Refused unless every content rule passes replacing `old_text` (None: a new file) with `new_text` (None:
    a deletion)."""
    refusal = bounds.content_refusal(rel, old_text, new_text)
    if refusal is not None:
        raise Refused(refusal.message(), refusal)


@dataclass(frozen=True)
class Admitted:
    """A write the fence let through: the decision that allowed its path, and the step that records it."""

    decision: Decision
    step: steps.Step


def admit(
    bounds: Bounds,
    state: StoryState,
    change: FileChange,
    *,
    old_text: str | None,
    new_text: str | None,
    staged: str | None = None,
    unlinks: str | None = None,
) -> Admitted:
    """The whole fence, in its order: the path, then the workflow (a write needs an open chunk), then the
    content rules on the change. Raises Refused or WorkflowError; else the step to record."""
    decision = allowed_path(bounds, change.path)
    step = steps.write(state, change, staged=staged, unlinks=unlinks)
    allowed_change(bounds, change.path, old_text, new_text)
    return Admitted(decision=decision, step=step)
