"""The content rules of a policy (`[[content_rules]]`) as data: which files each judges, and what it looks
for in a change. core.content runs them on a write's text."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Any, Literal, cast

import pathspec
from pydantic import (
    AliasChoices,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from storyfence.core.models import Value
from storyfence.core.patterns import check_globs, check_regexes
from storyfence.core.patterns import compiled as compiled_globs


class ContentRuleBase(Value):
    """What every content rule has: which files it judges (`paths`, `extensions`), why, what to do instead."""

    model_config = ConfigDict(ignored_types=(cached_property,))

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    enabled: bool = True
    paths: tuple[str, ...] = Field(default=("**",), min_length=1)
    extensions: tuple[str, ...] = ()
    reason: str = Field(min_length=1)
    instead: str = ""

    @field_validator("paths")
    @classmethod
    def _paths_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_globs(value)

    @field_validator("extensions")
    @classmethod
    def _extensions_are_suffixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for ext in value:
            if not ext.startswith(".") or "/" in ext or len(ext) < 2:
                raise ValueError(f"extension {ext!r} must look like `.ts`")
        return value

    @cached_property
    def spec(self) -> pathspec.PathSpec[Any]:
        return compiled_globs(self.paths)

    def applies_to(self, path: str) -> bool:
        """Whether this rule judges `path`: enabled, one of its extensions (if any), and matched by `paths`."""
        if not self.enabled:
            return False
        if self.extensions and not path.lower().endswith(tuple(e.lower() for e in self.extensions)):
            return False
        return self.spec.match_file(path)


class ImportRule(ContentRuleBase):
    """JS/TS files matched by `paths` may not gain an import of a listed module (name, glob, or subpath)."""

    kind: Literal["imports"]
    modules: tuple[str, ...] = Field(min_length=1)


REGEX_KINDS = ("markers", "definitions")
"""The content rules that judge a change by regexes; each lists them under the key named like its kind."""


class RegexRule(ContentRuleBase):
    """A change judged by regexes, listed under the key named like the kind (`markers = [...]`,
    `definitions = [...]`; `(?i)` makes one case-insensitive):

      markers      an added line may not introduce a match; a named group `marker` is what the refusal
                   reports, else the whole match
      definitions  a match (a port, an env-var default) may be added, never changed or removed; a named
                   group `definition` narrows what counts as the definition
    """

    kind: Literal["markers", "definitions"]
    regexes: tuple[str, ...] = Field(min_length=1, validation_alias=AliasChoices(*REGEX_KINDS))

    @model_validator(mode="before")
    @classmethod
    def _regexes_under_their_kind(cls, data: object) -> object:
        # both keys are aliases of `regexes`: only the one named like the kind may be used
        if not isinstance(data, dict):
            return data  # validation names the bad entry
        table = cast("dict[str, object]", data)
        kind = table.get("kind")
        if kind in REGEX_KINDS:
            for other in REGEX_KINDS:
                if other != kind and other in table:
                    raise ValueError(f"a `{kind}` rule lists its regexes under `{kind}`, not `{other}`")
            if kind not in table:
                raise ValueError(f"a `{kind}` rule needs `{kind}`: the list of its regexes")
        return table

    @field_validator("regexes")
    @classmethod
    def _regexes_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_regexes(value)

    @model_serializer(mode="wrap")
    def _under_the_kind_key(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # dumped as it is written (`markers = [...]`), so a dump validates back and an overlay merges into it
        table = cast("dict[str, Any]", handler(self))
        table[self.kind] = table.pop("regexes")
        return table

    @cached_property
    def compiled(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(r) for r in self.regexes)


ContentRule = Annotated[ImportRule | RegexRule, Field(discriminator="kind")]
