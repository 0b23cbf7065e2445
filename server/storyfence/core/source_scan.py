"""A JS/TS text read the way the content rules need it, without a parser: its comments blanked and its
strings located (`scan_text`), the modules it imports (`find_imports`), the line of an offset. Pure Python with
no dataclasses or typing at run time: the Claude Code hook's quick path imports it through core/content.py."""

from __future__ import annotations

import bisect
import re


class FrozenRecord:
    """A small frozen value compared by its fields (not a dataclass: the hook imports this module, and the
    dataclasses module costs it several milliseconds)."""

    __slots__ = ()

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._fields() == other._fields()  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]

    def __hash__(self) -> int:
        return hash((type(self).__name__, *map(repr, self._fields())))

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({values})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")


def line_of(text: str, offset: int) -> int:
    """The 1-based line of `offset`; counted only for a match, so a clean text costs nothing here."""
    return text.count("\n", 0, offset) + 1


# --- imports -------------------------------------------------------------------------------------------------

# Where a JS/TS scan has to look: comments, quotes, template literals and the braces of `${...}`.
_CODE_TOKEN = re.compile(r"//|/\*|['\"`{}]")
_TEMPLATE_TOKEN = re.compile(r"\\[\s\S]|`|\$\{")
_QUOTED = {
    "'": re.compile(r"'(?:[^'\\\n]|\\[\s\S])*'?"),
    '"': re.compile(r'"(?:[^"\\\n]|\\[\s\S])*"?'),
}
_NOT_NEWLINE = re.compile(r"[^\n]")


def scan_text(text: str) -> tuple[str, list[tuple[int, int]]]:
    """`text` with its comments blanked (newlines kept, so offsets and lines stay) and its string spans.

    A lexer, not a parser: a regex literal holding a quote or `//` can fool it for the rest of that line,
    which only ever hides an import on the same line or shows one that a string on it merely mentions.
    """
    out: list[str] = []
    strings: list[tuple[int, int]] = []
    expressions: list[int] = []  # brace depth inside each open `${ ... }` of a template literal
    n = len(text)
    i = 0
    template_from: int | None = None  # where the template text being scanned began
    while i < n:
        if template_from is not None:
            m = _TEMPLATE_TOKEN.search(text, i)
            end = n if m is None else m.end()
            out.append(text[i:end])
            if m is None or m.group() in ("`", "${"):
                strings.append((template_from, end))
                if m is not None and m.group() == "${":
                    expressions.append(0)
                template_from = None
            i = end
            continue
        m = _CODE_TOKEN.search(text, i)
        if m is None:
            out.append(text[i:])
            break
        start, lexeme = m.start(), m.group()
        out.append(text[i:start])
        if lexeme == "//":
            end = text.find("\n", start)
            end = n if end == -1 else end
            out.append(" " * (end - start))
        elif lexeme == "/*":
            end = text.find("*/", start + 2)
            end = n if end == -1 else end + 2
            out.append(_NOT_NEWLINE.sub(" ", text[start:end]))
        elif lexeme in _QUOTED:
            quoted = _QUOTED[lexeme].match(text, start)
            end = quoted.end() if quoted is not None else start + 1
            strings.append((start, end))
            out.append(text[start:end])
        else:
            end = start + 1
            out.append(lexeme)
            if lexeme == "`":
                template_from = start
            elif lexeme == "{" and expressions:
                expressions[-1] += 1
            elif lexeme == "}" and expressions:
                if expressions[-1] == 0:
                    expressions.pop()
                    template_from = start  # the template literal resumes after its `${ ... }`
                else:
                    expressions[-1] -= 1
        i = end
    return "".join(out), strings


_BEFORE = r"(?<![\w$.])"  # not `x.import(`, not `myrequire(`
_SPEC = r"(?P<q>['\"])(?P<spec>[^'\"\n]+)(?P=q)"
_IMPORT_FORMS: tuple[tuple[tuple[str, ...], str], ...] = (
    # Each form with the words every match of it contains: a form whose words a text lacks is never compiled
    # (the Claude Code hook pays for each regex it compiles).
    # import x from 'm' / import type { X } from 'm' / import x, * as y from 'm' / import 'm' (multi-line too).
    # Each part is bounded by the next brace or word, so a text of repeated `import {` stays linear.
    (
        ("import",),
        _BEFORE + r"import(?=[\s{*'\"])(?:\s*(?:type\s+)?(?:[\w$]+(?:\s*,)?\s*)?"
        r"(?:\*\s*as\s+[\w$]+\s*|\{[^{}]*\}\s*)?from)?\s*" + _SPEC,
    ),
    # export { x } from 'm' / export * from 'm' / export * as ns from 'm' / export type { X } from 'm'
    (("export", "from"), _BEFORE + r"export(?:\s+type)?\s*(?:\*(?:\s*as\s+[\w$]+)?|\{[^{}]*\})\s*from\s*" + _SPEC),
    # require('m'), import x = require('m')
    (("require",), _BEFORE + r"require\s*\(\s*(?P<q>['\"`])(?P<spec>[^'\"`\n]+)(?P=q)\s*\)"),
    # await import('m')
    (("import",), _BEFORE + r"import\s*\(\s*(?P<q>['\"`])(?P<spec>[^'\"`\n]+)(?P=q)"),
)


class Import(FrozenRecord):
    """One module a JS/TS text imports, and the line its import statement starts on (1-based)."""

    __slots__ = ("line", "module")

    def __init__(self, module: str, line: int) -> None:
        object.__setattr__(self, "module", module)
        object.__setattr__(self, "line", line)

    module: str
    line: int


def find_imports(text: str) -> list[Import]:
    """Every static, type-only, re-export, `require` and dynamic `import()` of a literal module, in order.

    Comments are skipped, and so is import-like text inside a string literal.
    """
    forms = [re.compile(source) for words, source in _IMPORT_FORMS if all(w in text for w in words)]
    if not forms:
        return []
    code, strings = scan_text(text)
    string_starts = [s for s, _ in strings]
    found: list[tuple[int, Import]] = []
    for form in forms:
        for m in form.finditer(code):
            k = bisect.bisect_right(string_starts, m.start()) - 1
            if k >= 0 and m.start() < strings[k][1]:
                continue  # the keyword is inside a string literal
            found.append((m.start(), Import(m.group("spec").strip(), line_of(text, m.start()))))
    return [imp for _, imp in sorted(found, key=lambda pair: pair[0])]
