"""One exception root for the domain; the MCP layer translates it once, at the edge.

StoryfenceError
 ├── Refused          a write or read the policy forbids (carries the Decision)
 ├── WorkflowError    a tool called in a state that does not allow it
 ├── InputError       bad input: not found, not a file, too large, binary, ambiguous edit
 ├── PolicyError      an invalid policy file (file, key, reason); raised at start
 └── StateError       a story journal that is corrupt, edited by hand or from a newer version
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the Claude Code hook imports this module, not typing
if TYPE_CHECKING:
    from storyfence.core.decisions import Decision


class StoryfenceError(Exception):
    """Root of every error storyfence raises on purpose; its message is written for the model."""


class Refused(StoryfenceError):
    """The policy refused the operation; `decision` names the rule, the pattern and what to do instead."""

    def __init__(self, message: str, decision: Decision) -> None:
        super().__init__(message)
        self.decision = decision


class WorkflowError(StoryfenceError):
    """The story's state does not allow this call now; the message names the state and the next step."""


class InputError(StoryfenceError):
    """The arguments are wrong in a way the caller can fix (missing file, too large, ambiguous edit)."""


class PolicyError(StoryfenceError):
    """A policy file is invalid; the message names the file, the key and the reason."""


class StateError(StoryfenceError):
    """A story's journal cannot be trusted (corrupt, edited by hand, unknown version)."""


class WouldWait(Exception):
    """A call asked not to wait (`wait=False`) found the story's lock held. Nothing was done yet: run it again
    where it may wait. Not a StoryfenceError: it never reaches the model."""
