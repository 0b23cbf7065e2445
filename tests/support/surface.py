"""What the MCP surface advertises, checked over stdio and in memory alike: each tool with its read-only and
destructive hints."""

from __future__ import annotations

# tool name -> (read_only_hint, destructive_hint)
TOOLS = {
    "read_file": (True, False),
    "list_files": (True, False),
    "search_code": (True, False),
    "check_path": (True, False),
    "read_story": (True, False),
    "story_status": (True, False),
    "begin_chunk": (False, False),
    "write_file": (False, True),
    "edit_file": (False, True),
    "delete_file": (False, True),
    "restore_file": (False, True),
    "run_typecheck": (False, False),
    "append_chunk_log": (False, False),
    "report_blocker": (False, False),
    "complete_story": (False, False),
}
