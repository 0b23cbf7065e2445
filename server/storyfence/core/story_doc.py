"""What a reviewer reads first of a story file (`STORY-n.md`): its title and its acceptance criteria."""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"(#{1,6})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"(?:\d{1,4}[.)]|[-*+])\s+(.*)")
_CRITERIA = re.compile(r"acceptance\s+criteria", re.IGNORECASE)


@dataclass(frozen=True)
class StoryDoc:
    title: str  # the first heading, or the story id when there is none
    criteria: tuple[str, ...]  # the list items under an "Acceptance criteria" heading, continuation lines joined


def read_story_doc(text: str, story_id: str) -> StoryDoc:
    """The title and acceptance criteria of a story's Markdown; never raises on odd text."""
    title = ""
    criteria: list[str] = []
    level = 0  # the criteria heading's level while inside its section, else 0
    for raw in text.splitlines():
        line = raw.rstrip()
        heading = _HEADING.fullmatch(line)
        if heading is not None:
            depth = len(heading[1])
            if not title:
                title = heading[2]
            if level and depth <= level:
                level = 0
            if not criteria and _CRITERIA.search(heading[2]):
                level = depth
            continue
        if not level or not line.strip():
            continue
        item = _ITEM.fullmatch(line.strip())
        if item is not None and len(line) - len(line.lstrip()) < 2:
            criteria.append(item[1])
        elif criteria:
            criteria[-1] = f"{criteria[-1]} {line.strip()}"
    return StoryDoc(title=title or story_id, criteria=tuple(criteria))
