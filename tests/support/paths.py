"""Where things are in this checkout, and the PATH a storyfence process under test gets."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
NODE_BIN = REPO / "tools" / "node" / "node_modules" / ".bin"


def tool_path() -> str:
    """PATH for the server under test: the venv (rg, storyfence) and the pinned Node tools (pnpm)."""
    return os.pathsep.join([str(Path(sys.executable).parent), str(NODE_BIN), os.environ.get("PATH", "")])
