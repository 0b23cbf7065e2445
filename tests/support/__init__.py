"""What the tests, scripts/ and bench/ share, one version of each.

    paths       where things are in this checkout; the PATH a storyfence process under test gets
    repos       a repo written from a dict of files (a story's inputs included); a private copy of examples/
    monorepos   fixture monorepos of the shapes seen in real repos
    server      storyfence as a process: the CLI run to its end, `storyfence serve` with the official client
    in_memory   the official client connected in memory to the server `storyfence serve` builds
    client      tool calls through the client however it is connected: one that must succeed, one refused
    procfs      what /proc says about the server processes: which child is which, and its peak memory
    surface     what the MCP surface advertises: each tool's hints
    policies    the backend policy as the core parses it; the built-in one with a typecheck allowance
    hook        the Claude Code hook's test repo and the input Claude Code sends it
    demo_story  test-only steps of the demo's STORY-042 session

`pytest` imports it as `tests.support` from the repo root; `python scripts/x.py` and `python bench/run.py` put
the repo root on sys.path first, as bench/run.py always did. Nothing here imports pytest.
"""
