"""storyfence: an MCP server that enforces the backend-coder rules in the server, not in a prompt."""

__version__ = "0.1.0"
