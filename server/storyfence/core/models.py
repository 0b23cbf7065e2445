"""Value types shared by the core, the service and the MCP results (pydantic, frozen)."""

from __future__ import annotations

from typing import Annotated, Literal, cast

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema


class Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


ChangeKind = Literal["created", "modified", "deleted"]
Outcome = Literal["passed", "failed", "tooling_error", "timeout"]
TypecheckOutcome = Literal["passed", "failed", "tooling_error", "not_needed", "unchecked"]
"""What one run_typecheck call adds up to ("unchecked": a changed file no check covers keeps the chunk open)."""


class FileChange(Value):
    """One write the server made: the repo-relative path, what happened, the new content's sha256."""

    path: str
    kind: ChangeKind
    sha256: str | None = None  # None for a deletion
    outside: bool = False  # made outside storyfence (seen on disk at a chunk boundary), not written by it


class Diagnostic(Value):
    """One TypeScript diagnostic. `file` is repo-relative when it could be mapped, else as tsc printed it."""

    file: str
    line: int
    column: int
    code: str  # e.g. "TS2322"
    message: str
    severity: Literal["error", "warning"] = "error"


class CommandRun(Value):
    """One typecheck command the server ran, as it ran it."""

    argv: tuple[str, ...]
    package: str
    exit_code: int | None  # None when the process could not start or was killed on timeout
    outcome: Outcome
    duration_seconds: float
    diagnostics: tuple[Diagnostic, ...] = ()
    output_tail: str = ""  # the last lines of combined output, capped
    note: str = ""  # why a tooling failure happened, in words
    packages: tuple[str, ...] = ()  # the directories of the packages whose check it ran (empty before they were named)
    # errors in packages the chunk did not change that their check at the story's base commit printed too:
    # reported, never blamed on the chunk (see core/blame.py); `diagnostics` holds the rest
    preexisting: tuple[Diagnostic, ...] = ()

    @property
    def display(self) -> str:
        return " ".join(self.argv)


class PackageBaseline(Value):
    """A workspace package's own check at the story's base commit: what failed there before the story began.

    Taken once per package per story, the first time the package fails in a chunk that did not change it.
    `available` is False when it could not be taken (no base commit, an offline install that failed, a
    tooling error): then nothing is excused, and `reason` says why."""

    package: str
    dir: str
    commit: str | None
    available: bool
    failed: bool = False  # its check failed at the base commit
    errors: tuple[Diagnostic, ...] = ()  # the errors in its own files then
    reason: str = ""
    run: CommandRun | None = None  # its check at the base commit, as it ran


class UncheckedFile(Value):
    """A changed file that no typecheck covered: why, and whether the policy lets its chunk close anyway."""

    path: str
    reason: str  # the policy entry's reason when allowed, else why no check covers it
    allowed: bool  # a [[typecheck.unchecked]] entry matches it


def _one_text(value: object) -> object:
    """A list of strings (the seed's log shows Reused and New as lists, and models follow it) as one text."""
    if not isinstance(value, list | tuple):
        return value
    items = cast("list[object]", list(value))  # pyright: ignore[reportUnknownArgumentType]
    if all(isinstance(item, str) for item in items):
        return "; ".join(str(item).strip() for item in items if str(item).strip())
    return items


_TEXT_OR_LIST = WithJsonSchema(
    {
        "anyOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "items": {"type": "string"}, "minItems": 1},
        ]
    }
)
TextOrList = Annotated[str, BeforeValidator(_one_text), _TEXT_OR_LIST]
"""Text the model may also send as a list of strings: the list is kept as one text, its items joined by "; "."""


class Reuse(Value):
    """The seed's "Reuse compliance" block, as the model reports it (each field a text or a list of texts)."""

    reused: TextOrList = Field(min_length=1, description="Existing packages/modules/functions this chunk reused.")
    new: TextOrList = Field(min_length=1, description="What this chunk created new ('none' if nothing).")
    why_new: TextOrList = Field(min_length=1, description="Why new code was necessary ('n/a' if nothing new).")


class PortsAdapters(Value):
    """The seed's "Ports & adapters note"."""

    core: str = Field(min_length=1, description="What stayed in core (transport-agnostic).")
    adapters: str = Field(min_length=1, description="What stayed in adapters (platform/framework specifics).")
