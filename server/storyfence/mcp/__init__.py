"""The MCP edge: the server and its tools, roots, and the stdio and HTTP transports."""
