"""What the tests, scripts/ and bench/ share, one version of each: where things are in this checkout (paths),
repos written from a dict of files or copied from examples/ (repos, monorepos), storyfence started as a process
with the official MCP client connected over stdio (server) and what /proc says about it (procfs), the policies
tests build on (policies), and the Claude Code hook's input (hook).

`pytest` imports it as `tests.support` from the repo root; `python scripts/x.py` and `python bench/run.py` put
the repo root on sys.path first, as bench/run.py always did. Nothing here imports pytest.
"""
