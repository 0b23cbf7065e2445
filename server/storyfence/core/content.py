"""Content rules judge a write by its text: what it adds or removes, never what was already there.

Three kinds, each a named rule in the policy (`[[content_rules]]`, see policies/backend.toml):
  imports      JS/TS in the core may not gain an import of a transport or framework module
  markers      added lines may not introduce TODO / FIXME / "not implemented" style markers
  definitions  an existing port or env-var definition may not be changed or removed
`check_content` runs the rules that apply to a path, in policy order, and returns the first refusal.
"""

from __future__ import annotations

import re
from collections import Counter

from storyfence.core.messages import fill_template
from storyfence.core.patterns import match_name
from storyfence.core.source_scan import FrozenRecord, find_imports, line_of, scan_text

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the Claude Code hook imports this module, not typing
if TYPE_CHECKING:
    from storyfence.core.decisions import Decision
    from storyfence.core.policy import Policy

# The Claude Code hook judges content with these functions too (core.quick, over the policy's compiled form):
# nothing here imports pydantic at run time, and a rule is passed as its kind, modules and compiled regexes.


class Finding(FrozenRecord):
    """What a content rule found: the pattern a refusal names, the detail, and its template values."""

    __slots__ = ("detail", "extra", "pattern")

    def __init__(self, pattern: str, detail: str, extra: dict[str, str] | None = None) -> None:
        object.__setattr__(self, "pattern", pattern)
        object.__setattr__(self, "detail", detail)
        object.__setattr__(self, "extra", {} if extra is None else extra)

    pattern: str
    detail: str
    extra: dict[str, str]


def check_content(policy: Policy, path: str, old_text: str | None, new_text: str | None) -> Decision | None:
    """The refusal of replacing `old_text` with `new_text` at `path`, or None when every content rule passes.

    `old_text` None is a new file; `new_text` None is a deletion (it removes every definition in the file).
    Only rules whose `paths` (and `extensions`, if any) match `path` are run. Each kind judges the change:
      imports      every import of the new text is read, but only a module the old text did not import
                   is refused (an import already in the file is left alone)
      markers      a marker line (whitespace-normalized) is refused only when the new text has more copies
                   of it than the old: moving or re-indenting an existing one passes; rewording it does not
      definitions  refused when the new text holds fewer copies of a definition than the old (counted per
                   occurrence: a second `localhost:3003` does not hide a changed one); adding definitions
                   or moving one passes; in JS/TS, comments are not definitions
    """
    from storyfence.core.decisions import Decision

    if old_text == new_text:
        return None
    for rule in policy.content_rules:
        if not rule.applies_to(path):
            continue
        modules = rule.modules if rule.kind == "imports" else ()
        compiled = () if rule.kind == "imports" else rule.compiled
        finding = content_finding(rule.kind, modules, compiled, path, old_text, new_text)
        if finding is not None:
            return Decision(
                path=path,
                allowed=False,
                rule=rule.id,
                kind="content",
                pattern=finding.pattern,
                reason=f"{finding.detail}. {rule.reason}",
                instead=fill_template(rule.instead, path, finding.extra),
                policy_file=policy.source_label,
            )
    return None


def content_finding(
    kind: str,
    modules: tuple[str, ...],
    compiled: tuple[re.Pattern[str], ...],
    path: str,
    old_text: str | None,
    new_text: str | None,
) -> Finding | None:
    """What one content rule (its kind, and its modules or compiled regexes) finds in the change, or None."""
    if kind == "imports":
        return None if new_text is None else _new_import(modules, old_text, new_text)
    if kind == "markers":
        return None if new_text is None else _new_marker(compiled, old_text or "", new_text)
    if is_script(path):
        # a port in a JS/TS comment documents the definition; it is not one
        old_text = None if old_text is None else scan_text(old_text)[0]
        new_text = None if new_text is None else scan_text(new_text)[0]
    return _lost_definition(compiled, old_text, new_text)


SCRIPT_EXTENSIONS = (".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs")
"""Files lexed as JavaScript/TypeScript (comments skipped) when looking for definitions: syntax, not policy."""


def is_script(path: str) -> bool:
    return path.lower().endswith(SCRIPT_EXTENSIONS)


def _bare(module: str) -> str:
    return module.removeprefix("node:")


def listed_module(module: str, modules: tuple[str, ...]) -> str | None:
    """The entry of `modules` that `module` matches (`node:http` is `http`; `express/lib/x` is `express`)."""
    for entry in modules:
        if match_name(_bare(module), (_bare(entry),), subpaths=True) is not None:
            return entry
    return None


def _new_import(modules: tuple[str, ...], old_text: str | None, new_text: str) -> Finding | None:
    # Only imports the old text lacked are judged: a module the file already imported is not new coupling.
    before = {_bare(i.module) for i in find_imports(old_text)} if old_text else set[str]()
    for imp in find_imports(new_text):
        if _bare(imp.module) in before:
            continue
        entry = listed_module(imp.module, modules)
        if entry is None:
            continue
        listed = "" if entry == imp.module else f" (listed as `{entry}`)"
        return Finding(
            pattern=imp.module,
            detail=f"line {imp.line} imports `{imp.module}`{listed}",
            extra={"module": imp.module, "line": str(imp.line)},
        )
    return None


# --- markers -------------------------------------------------------------------------------------------------

_DIFF_LINE_CAP = 50_000  # above this many lines, skip difflib and report the first extra occurrence


def _key(line: str) -> str:
    return " ".join(line.split())


def _marker(compiled: tuple[re.Pattern[str], ...], line: str) -> str | None:
    for regex in compiled:
        m = regex.search(line)
        if m is not None:
            named = m.groupdict().get("marker")
            return (named or m.group(0)).strip() or m.group(0)
    return None


def _new_marker(compiled: tuple[re.Pattern[str], ...], old_text: str, new_text: str) -> Finding | None:
    # A marker line is judged by its count: one the old text already had (moved, re-indented) passes; one
    # more than before is an added marker. difflib then points at the inserted copy.
    old_lines = old_text.splitlines()
    new_lines = new_text.splitlines()
    before = Counter(_key(line) for line in old_lines)
    after: Counter[str] = Counter()
    sample: dict[str, str] = {}
    for line in new_lines:
        key = _key(line)
        after[key] += 1
        sample.setdefault(key, line)
    # only a line that occurs more often than before can add a marker: the regexes run on those alone
    grown = {key for key, count in after.items() if count > before[key] and _marker(compiled, sample[key]) is not None}
    if not grown:
        return None
    index = _added_index(old_lines, new_lines, grown, before)
    line = new_lines[index]
    marker = _marker(compiled, line) or ""
    shown = _key(line)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    return Finding(
        pattern=marker,
        detail=f"line {index + 1} adds the marker `{marker}`: `{shown}`",
        extra={"marker": marker, "line": str(index + 1)},
    )


def _added_index(old_lines: list[str], new_lines: list[str], grown: set[str], before: Counter[str]) -> int:
    if len(old_lines) + len(new_lines) <= _DIFF_LINE_CAP:
        import difflib  # only when a marker was added: the hook answers most writes without it

        matcher = difflib.SequenceMatcher(None, [_key(x) for x in old_lines], [_key(x) for x in new_lines])
        for tag, _, _, j1, j2 in matcher.get_opcodes():
            if tag in ("insert", "replace"):
                for j in range(j1, j2):
                    if _key(new_lines[j]) in grown:
                        return j
    seen: Counter[str] = Counter()
    for j, line in enumerate(new_lines):
        key = _key(line)
        if key in grown:
            seen[key] += 1
            if seen[key] > before[key]:
                return j
    raise AssertionError("a grown marker line has no occurrence")  # pragma: no cover


# --- definitions ---------------------------------------------------------------------------------------------


class Definition(FrozenRecord):
    """One occurrence of a port or env-var definition: its text as written (whitespace collapsed) and where
    it starts in the text (an offset: lines are counted only for the one a refusal reports)."""

    __slots__ = ("offset", "text")

    def __init__(self, text: str, offset: int) -> None:
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "offset", offset)

    text: str
    offset: int


def find_definitions(compiled: tuple[re.Pattern[str], ...], text: str) -> dict[tuple[int, str], list[Definition]]:
    """Every occurrence of each definition in `text`, in order, keyed by (regex index, normalized text) so
    reformatting is no change.

    A regex with a named group `definition` is keyed by that group alone (e.g. just the port of a `dev`
    script, so the rest of the script may change); quotes and whitespace never count.
    """
    found: dict[tuple[int, str], list[Definition]] = {}
    for index, regex in enumerate(compiled):
        seen: dict[tuple[str, str | None], tuple[tuple[int, str], str]] = {}  # a file repeats its definitions
        for m in regex.finditer(text):
            raw, named = m.group(0), m.groupdict().get("definition")
            known = seen.get((raw, named))
            if known is None:
                if not raw.strip():
                    continue
                key = (index, re.sub(r"\s+", "", named or raw).replace('"', "'").replace("`", "'"))
                known = seen[(raw, named)] = (key, " ".join(raw.split()))
            found.setdefault(known[0], []).append(Definition(known[1], m.start()))
    return found


def _lost_definition(
    compiled: tuple[re.Pattern[str], ...], old_text: str | None, new_text: str | None
) -> Finding | None:
    if not old_text:
        return None  # a new file only adds definitions
    before = find_definitions(compiled, old_text)
    after = find_definitions(compiled, new_text) if new_text else {}
    # counted per occurrence, not as a set: one of two equal definitions changed is a change
    lost = [(key, copies) for key, copies in before.items() if len(after.get(key, ())) < len(copies)]
    if not lost:
        return None
    candidates = [(_changed_occurrence(copies, old_text, new_text), copies, key) for key, copies in lost]
    # the earliest line first; on one line, the policy's order (its first regex is the most specific)
    first, copies, key = min(
        candidates, key=lambda item: (old_text.rfind("\n", 0, item[0].offset), item[2][0], item[0].offset)
    )
    line = line_of(old_text, first.offset)
    how = "deleting the file removes" if new_text is None else "this write changes or removes"
    where = f"line {line} of the current file"
    kept = len(after.get(key, ()))
    if kept:
        where += f"; it holds {len(copies)} copies, this write leaves {kept}"
    return Finding(
        pattern=first.text,
        detail=f"{how} `{first.text}` ({where})",
        extra={"definition": first.text, "line": str(line)},
    )


def _changed_occurrence(copies: list[Definition], old_text: str, new_text: str | None) -> Definition:
    """The copy most likely changed: the first whose whole line the new text no longer holds as often."""
    if len(copies) == 1 or new_text is None:
        return copies[0]
    kept = Counter(_key(line) for line in new_text.splitlines())
    for occurrence in copies:
        start = old_text.rfind("\n", 0, occurrence.offset) + 1
        end = old_text.find("\n", occurrence.offset)
        line = _key(old_text[start : len(old_text) if end == -1 else end])
        if kept[line] > 0:
            kept[line] -= 1  # this line is still there, copy for copy: not the changed one
            continue
        return occurrence
    return copies[0]
