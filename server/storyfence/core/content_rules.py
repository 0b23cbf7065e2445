"""The content rules of a policy (`[[content_rules]]`) as data: which files each judges, and what it looks
for in a change. core.content runs them on a write's text."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Any, Literal

import pathspec
from pydantic import ConfigDict, Field, field_validator

from storyfence.core.models import Value
from storyfence.core.patterns import check_globs, check_regexes


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
        return pathspec.PathSpec.from_lines("gitignore", self.paths)

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


class MarkerRule(ContentRuleBase):
    """Added lines may not introduce a marker: each entry is a regex (`(?i)` for case-insensitive);
    a named group `marker` is what the refusal reports, else the whole match."""

    kind: Literal["markers"]
    markers: tuple[str, ...] = Field(min_length=1)

    @field_validator("markers")
    @classmethod
    def _markers_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_regexes(value)

    @cached_property
    def compiled(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(m) for m in self.markers)


class DefinitionRule(ContentRuleBase):
    """Definitions (ports, env-var defaults) found by the regexes may be added, never changed or removed."""

    kind: Literal["definitions"]
    definitions: tuple[str, ...] = Field(min_length=1)

    @field_validator("definitions")
    @classmethod
    def _definitions_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_regexes(value)

    @cached_property
    def compiled(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(d) for d in self.definitions)


ContentRule = Annotated[ImportRule | MarkerRule | DefinitionRule, Field(discriminator="kind")]
