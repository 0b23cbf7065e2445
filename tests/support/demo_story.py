"""Test-only steps of the demo's STORY-042 session; what the demo itself runs is in storyfence.commands.demo_script."""

from __future__ import annotations

# wrong "fixes" of the demo's misspelt status, used by the tests to drive a chunk to BLOCKED
CANCEL_ORDER_WRONG_FIXES = (
    {"old_text": "status: 'canceled'", "new_text": "status: 'void'"},
    {"old_text": "status: 'void'", "new_text": "status: 'annulled'"},
)
