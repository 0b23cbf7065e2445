"""The commands behind the CLI: init, audit, hook, layout, demo."""
