"""The pure core: values in, values out. Nothing here touches the disk, a process or MCP."""
