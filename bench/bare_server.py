"""The SDK's own floor: a bare MCPServer with one no-op tool, served over stdio.

Run with the same interpreter as storyfence: `python bench/bare_server.py`.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer(name="bare")


@server.tool()
def noop(value: str = "") -> str:
    """Do nothing and return the value."""
    return value


if __name__ == "__main__":
    server.run("stdio")
