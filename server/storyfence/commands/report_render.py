"""The report rendered with Jinja2 templates (templates/): HTML with autoescape on, so every file name, log line
and diagnostic from the repo or the model is text, never markup; Markdown with every value escaped for GitHub's
renderer unless a filter says it is already Markdown (`code` for a code span)."""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from storyfence.core.timeline import MARK_NAMES

if TYPE_CHECKING:
    from storyfence.commands.report import StoryReport

MARKDOWN_MAX_CHARS = 60_000
"""A pull-request comment holds 65,536 characters; the Markdown summary stays under this."""


class Md(str):
    """Text that is already Markdown: the Markdown environment prints it as it is."""

    __slots__ = ()


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~!@<>])")


def md_escape(value: object) -> str:
    """`value` as one line of literal Markdown text: punctuation GitHub would read as markup is escaped,
    `@` too (no mention is ever made), and `<`, `>`, `&` as entities."""
    if isinstance(value, Md):
        return value
    text = re.sub(r"\s+", " ", str(value)).replace("&", "&amp;")
    return _MD_SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;"}.get(m[1], "\\" + m[1]), text)


def md_code(value: object) -> Md:
    """`value` as a Markdown code span on one line, safe in a table cell."""
    text = " ".join(str(value).split()).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return Md(f"{fence}{pad}{text}{pad}{fence}")


def inline_code(value: object) -> Markup:
    """Text with its `backticked` spans as <code>: escaped first, so nothing else becomes markup."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(str(value)))))  # noqa: S704


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "HEAD"


@cache
def _environment(kind: str) -> Environment:
    if kind == "html":
        env = Environment(
            loader=PackageLoader("storyfence.commands", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["inline_code"] = inline_code
    else:
        # Markdown, not HTML: `finalize` escapes every value for Markdown instead of HTML autoescape
        env = Environment(
            loader=PackageLoader("storyfence.commands", "templates"),
            autoescape=False,  # noqa: S701
            finalize=md_escape,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["code"] = md_code
        env.filters["md"] = Md
    env.filters["short"] = _short
    return env


def html(report: StoryReport) -> str:
    """One self-contained page: inline CSS and SVG, no script, no request to anywhere."""
    return _environment("html").get_template("report.html.j2").render(r=report, mark_names=MARK_NAMES)


def markdown(report: StoryReport) -> str:
    """A summary for a pull-request comment (under MARKDOWN_MAX_CHARS: long lists are cut, saying so)."""
    text = _environment("markdown").get_template("report.md.j2").render(r=report)
    if len(text) > MARKDOWN_MAX_CHARS:
        cut = text[:MARKDOWN_MAX_CHARS].rsplit("\n", 1)[0]
        text = f"{cut}\n\n… cut at {MARKDOWN_MAX_CHARS:,} characters: the HTML report has everything.\n"
    return text
