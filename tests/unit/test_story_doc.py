"""A story file's title and acceptance criteria, as the report shows them; which story folder a path is in."""

from __future__ import annotations

from storyfence.core.story_doc import read_story_doc
from storyfence.core.story_paths import story_of

STORY = """# STORY-042: Cancel an order

**As** a support agent

## Acceptance criteria
1. `POST /api/orders/:id/cancel` cancels a `pending` order: the response is
   `200` with the updated order.
2. Cancelling twice is idempotent.
- A dash item counts too.

## Notes
- Not a criterion.
"""


def test_the_title_is_the_first_heading_and_the_criteria_are_the_items_of_their_section() -> None:
    doc = read_story_doc(STORY, "STORY-042")
    assert doc.title == "STORY-042: Cancel an order"
    assert doc.criteria == (
        "`POST /api/orders/:id/cancel` cancels a `pending` order: the response is `200` with the updated order.",
        "Cancelling twice is idempotent.",
        "A dash item counts too.",
    )


def test_a_story_without_a_heading_or_criteria_falls_back_to_its_id_and_none() -> None:
    doc = read_story_doc("just prose\n- an item outside any criteria section\n", "STORY-7")
    assert (doc.title, doc.criteria) == ("STORY-7", ())
    nested = read_story_doc("# T\n### Acceptance Criteria\n- a\n#### detail\n- b\n## Next\n- c\n", "S")
    assert nested.criteria == ("a", "b")


def test_a_path_belongs_to_the_story_whose_folder_holds_it() -> None:
    folders = (".", "docs/stories")
    pattern = r"STORY-[0-9]{1,9}"
    assert story_of("STORY-042/_implementation/BACKEND-LOG.md", folders, pattern) == "STORY-042"
    assert story_of("docs/stories/STORY-7/STORY-7.md", folders, pattern) == "STORY-7"
    assert story_of("STORY-042", folders, pattern) is None  # the folder itself is no file in it
    assert story_of("packages/core/src/STORY-1/a.ts", folders, pattern) is None
    assert story_of("docs/STORY-1/a.md", folders, pattern) is None
    assert story_of("STORY-x/a.md", folders, pattern) is None
