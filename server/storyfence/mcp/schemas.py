"""Output schemas a client checks quickly: every local `$ref` replaced by the definition it names.

An MCP client checks each structured result against the tool's output schema (the official Python client
does it on every call, with `jsonschema`). There, following a `$ref` into `$defs` costs about as much as
checking the object it names: write_file's result, one nested model, took 106 us to check with the reference
and 54 us inlined; a status with a list of chunks pays it once per element. The schema pydantic makes for a
result names each nested model once, in `$defs`; here each `{"$ref": "#/$defs/Name", ...}` becomes that
definition (the reference's own annotations, such as a description, laid over it) and `$defs` goes. A schema
whose definitions refer to themselves, one with a reference this does not resolve, or one whose reference and
definition share a keyword that validates (merging them would change what the schema accepts) is kept as it is.
"""

from __future__ import annotations

from typing import Any, cast

DEFS = "#/$defs/"
ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly", "$comment"}
)
"""Keywords that only describe: where a reference and its definition both have one, the reference's wins."""


class _Unresolved(Exception):
    """A reference that cannot be inlined (recursive, external, or to a definition that is not there)."""


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every `#/$defs/...` reference inlined and `$defs` removed; `schema` unchanged when a
    reference is recursive or cannot be resolved. The input is not modified."""
    defs = schema.get("$defs")
    if not isinstance(defs, dict) or not defs:
        return schema
    definitions = cast("dict[str, Any]", defs)

    def expand(node: object, active: tuple[str, ...]) -> object:
        if isinstance(node, list):
            return [expand(item, active) for item in cast("list[object]", node)]
        if not isinstance(node, dict):
            return node
        fields = cast("dict[str, object]", node)
        ref = fields.get("$ref")
        if ref is None:
            return {key: expand(value, active) for key, value in fields.items()}
        if not isinstance(ref, str) or not ref.startswith(DEFS):
            raise _Unresolved(ref)
        name = ref.removeprefix(DEFS)
        if name in active or name not in definitions or not isinstance(definitions[name], dict):
            raise _Unresolved(ref)
        target = cast("dict[str, object]", expand(definitions[name], (*active, name)))
        siblings = {key: expand(value, active) for key, value in fields.items() if key != "$ref"}
        if (set(siblings) & set(target)) - ANNOTATIONS:
            raise _Unresolved(ref)
        return {**target, **siblings}

    try:
        inlined = cast("dict[str, Any]", expand({k: v for k, v in schema.items() if k != "$defs"}, ()))
    except _Unresolved:
        return schema
    return inlined
