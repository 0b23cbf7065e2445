"""Output schemas with their references inlined (mcp/schemas.py): no `$ref` left, the same documents accepted
and refused as by the schema pydantic made, and a schema kept whole wherever inlining could change that."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema.validators import Draft202012Validator
from pydantic import BaseModel

from storyfence.app import results
from storyfence.core.models import CommandRun, Diagnostic, FileChange, UncheckedFile
from storyfence.mcp.schemas import inline_refs

RESULT_MODELS = sorted(
    (
        m
        for m in vars(results).values()
        if isinstance(m, type) and issubclass(m, results.Result) and m is not results.Result
    ),
    key=lambda m: m.__name__,
)


def accepts(schema: dict[str, Any], document: object) -> bool:
    return not list(Draft202012Validator(schema).iter_errors(document))


def change(path: str = "packages/core/src/a.ts") -> FileChange:
    return FileChange(path=path, kind="modified", sha256="a" * 64)


def chunk() -> results.ChunkView:
    return results.ChunkView(
        number=1,
        name="cancel",
        objective="AC1",
        files=[change(), FileChange(path="packages/core/src/b.ts", kind="deleted")],
        commands=[
            CommandRun(
                argv=("pnpm", "--filter", "core", "typecheck"),
                package="core",
                exit_code=2,
                outcome="failed",
                duration_seconds=1.2,
                diagnostics=(Diagnostic(file="packages/core/src/a.ts", line=3, column=5, code="TS2322", message="m"),),
            )
        ],
        logged=True,
        typecheck="passed",
        failed_fix_attempts=0,
        closed=True,
        unchecked=[UncheckedFile(path="packages/core/src/c.ts", reason="no package", allowed=False)],
        refused={"frontend": 1},
    )


def samples() -> list[BaseModel]:
    status = results.StatusView(
        story="STORY-042",
        status="open",
        signal="",
        chunks=[chunk()],
        strays=[results.Stray(path="apps/web/x.tsx", kind="modified", rule="frontend", reason="r", instead="i")],
        next_step="run_typecheck",
    )
    return [
        results.WriteResult(story="STORY-042", chunk=1, change=change(), bytes=10, rule="backend", next_step="n"),
        status,
        results.SearchResult(
            pattern="x", matches=[results.SearchMatch(path="a.ts", line=1, text="x")], truncated=False, engine="python"
        ),
    ]


def broken(document: dict[str, Any]) -> list[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Copies of `document` with one value of the wrong type each, with where: every one must be refused."""
    out: list[tuple[tuple[str | int, ...], dict[str, Any]]] = []

    def walk(node: object, path: tuple[str | int, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():  # pyright: ignore[reportUnknownVariableType]
                walk(value, (*path, key))  # pyright: ignore[reportUnknownArgumentType]
        elif isinstance(node, list):
            for index, value in enumerate(node):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
                walk(value, (*path, index))
        elif path and isinstance(node, (str, int)) and not isinstance(node, bool):
            copied = copy.deepcopy(document)
            target: Any = copied
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = [] if isinstance(node, str) else "not a number"
            out.append((path, copied))

    walk(document, ())
    return out


@pytest.mark.parametrize("model", RESULT_MODELS, ids=lambda m: m.__name__)
def test_every_result_schema_is_inlined_without_a_reference(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    inlined = inline_refs(schema)
    assert "$ref" not in json.dumps(inlined)
    assert "$defs" not in inlined
    assert inlined["type"] == "object"
    assert inlined["properties"].keys() == schema["properties"].keys()
    Draft202012Validator.check_schema(inlined)


@pytest.mark.parametrize("sample", samples(), ids=lambda s: type(s).__name__)
def test_an_inlined_schema_accepts_and_refuses_what_the_original_does(sample: BaseModel) -> None:
    schema = type(sample).model_json_schema()
    assert "$defs" in schema  # the case this is about: a result with nested models
    inlined = inline_refs(schema)
    document = sample.model_dump(mode="json")
    assert accepts(schema, document)
    assert accepts(inlined, document)
    wrong = broken(document)
    assert len([path for path, _ in wrong if len(path) >= 2]) >= 3  # inside a nested model
    for path, document in wrong:
        assert not accepts(schema, document), path
        assert not accepts(inlined, document), path


def test_the_input_schema_is_not_changed() -> None:
    schema = results.WriteResult.model_json_schema()
    before = copy.deepcopy(schema)
    inline_refs(schema)
    assert schema == before


def test_a_reference_s_description_is_laid_over_its_definition() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A", "description": "the field's own"}},
        "$defs": {"A": {"type": "string", "description": "the model's", "title": "A"}},
    }
    assert inline_refs(schema) == {
        "type": "object",
        "properties": {"a": {"type": "string", "description": "the field's own", "title": "A"}},
    }


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param(  # a tree: inlining would never end
            {
                "type": "object",
                "properties": {"root": {"$ref": "#/$defs/Node"}},
                "$defs": {"Node": {"type": "object", "properties": {"kids": {"items": {"$ref": "#/$defs/Node"}}}}},
            },
            id="recursive",
        ),
        pytest.param(
            {"type": "object", "properties": {"a": {"$ref": "#/$defs/Missing"}}, "$defs": {"B": {"type": "string"}}},
            id="missing",
        ),
        pytest.param(
            {"type": "object", "properties": {"a": {"$ref": "other.json#/x"}}, "$defs": {"B": {"type": "string"}}},
            id="external",
        ),
        pytest.param(  # both say `type`: merged, one would win and the schema would accept more
            {
                "type": "object",
                "properties": {"a": {"$ref": "#/$defs/A", "type": "string"}},
                "$defs": {"A": {"type": "integer"}},
            },
            id="conflicting-keyword",
        ),
    ],
)
def test_a_schema_that_cannot_be_inlined_exactly_is_kept_whole(schema: dict[str, Any]) -> None:
    assert inline_refs(schema) is schema


def test_a_schema_without_definitions_is_returned_as_it_is() -> None:
    schema = results.FileContent.model_json_schema()
    assert inline_refs(schema) is schema


def test_a_description_that_mentions_a_reference_is_still_inlined() -> None:
    schema = {
        "type": "object",
        "description": "no $ref is left in this schema",
        "properties": {"a": {"$ref": "#/$defs/A"}},
        "$defs": {"A": {"type": "string"}},
    }
    assert inline_refs(schema) == {
        "type": "object",
        "description": "no $ref is left in this schema",
        "properties": {"a": {"type": "string"}},
    }
