"""The GitHub Action (action.yml) and the README's workflow: both valid against SchemaStore's schemas (as the
check-jsonschema package vendors them), and the action's own shell steps run here, in order, the way the runner
runs a composite action (its `${{ }}` expressions evaluated, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files), on a
pull request's branch: the SARIF, the reports, the summary and the job's verdict."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.git import commit_all, git
from tests.support.paths import REPO
from tests.support.stories import CANCEL_ORDER, STORY, ScriptedRunner, demo_story, example_service, git_example

ACTION = REPO / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def schema_check(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_action_and_the_readme_workflow_are_valid_for_github(tmp_path: Path) -> None:
    done = schema_check("vendor.github-actions", ACTION)
    assert done.returncode == 0, done.stdout + done.stderr
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- ci-workflow -->\n```yaml\n(.*?)```\n<!-- /ci-workflow -->", readme, re.S)
    assert block is not None, "the README's copy-paste workflow is marked with <!-- ci-workflow -->"
    workflow = tmp_path / "storyfence.yml"
    workflow.write_text(block[1], encoding="utf-8")
    done = schema_check("vendor.github-workflows", workflow)
    assert done.returncode == 0, done.stdout + done.stderr
    steps = yaml.safe_load(block[1])["jobs"]["audit"]["steps"]
    assert steps[0]["with"]["fetch-depth"] == 0  # the stories' base commits must be in the clone
    assert steps[1]["uses"].split("@")[0].endswith("/storyfence")


class Runner:
    """The composite action's `run` steps as GitHub's runner runs them: `${{ }}` evaluated against its
    contexts (literals, dotted names, `||`), each step in bash with its env, outputs read back from
    GITHUB_OUTPUT."""

    def __init__(self, workspace: Path, temp: Path, inputs: dict[str, str], event: dict[str, Any]) -> None:
        self.workspace = workspace
        self.temp = temp
        self.summary = temp / "summary.md"
        self.action: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
        defaults = {name: str(spec.get("default", "")) for name, spec in self.action["inputs"].items()}
        self.context: dict[str, Any] = {
            "inputs": {**defaults, **inputs},
            "github": {"event": event},
            "runner": {"temp": str(temp)},
            "steps": {},
        }

    def lookup(self, name: str) -> str:
        value: Any = self.context
        for part in name.split("."):
            value = value.get(part, "") if isinstance(value, dict) else ""
        return str(value)

    def evaluate(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            for operand in match[1].split("||"):
                operand = operand.strip()
                literal = re.fullmatch(r"'(.*)'", operand)
                value = literal[1] if literal else self.lookup(operand)
                if value:
                    return value
            return ""

        return EXPRESSION.sub(one, text)

    def run(self, skip: tuple[str, ...] = ("install",)) -> list[subprocess.CompletedProcess[str]]:
        done: list[subprocess.CompletedProcess[str]] = []
        for step in self.action["runs"]["steps"]:
            if "run" not in step or step.get("id") in skip:
                continue
            output = self.temp / f"output-{len(done)}"
            output.write_text("", encoding="utf-8")
            env = {
                **os.environ,
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
                "GITHUB_ACTION_PATH": str(REPO),
                "GITHUB_OUTPUT": str(output),
                "GITHUB_STEP_SUMMARY": str(self.summary),
                **{name: self.evaluate(str(value)) for name, value in step.get("env", {}).items()},
            }
            cwd = self.workspace / self.evaluate(step.get("working-directory", "."))
            result = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", self.evaluate(step["run"])],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            done.append(result)
            lines = output.read_text(encoding="utf-8").splitlines()
            if "id" in step:
                self.context["steps"][step["id"]] = {
                    "outputs": dict(line.split("=", 1) for line in lines if "=" in line)
                }
            if result.returncode != 0:
                break
        return done


@pytest.fixture
def pull_request(tmp_path: Path) -> Path:
    """examples/ on main, and a branch on which the demo story was implemented through storyfence."""
    root = git_example(tmp_path / "workspace", node_modules=False)
    git(root, "switch", "-q", "-c", "story-042")
    demo_story(example_service(root, ScriptedRunner(["failed", "passed", "passed"])))
    commit_all(root, "STORY-042: cancel an order")
    return root


def test_the_action_audits_the_pull_requests_stories_uploads_sarif_and_attaches_the_reports(
    pull_request: Path, tmp_path: Path
) -> None:
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    base = git(pull_request, "rev-parse", "main").strip()
    runner = Runner(pull_request, temp, {}, {"pull_request": {"base": {"sha": base}}})
    results = runner.run()
    assert [r.returncode for r in results] == [0, 0], [r.stdout + r.stderr for r in results]
    outputs = runner.context["steps"]["audit"]["outputs"]
    assert outputs["exit-code"] == "0"
    sarif = json.loads(Path(outputs["sarif"]).read_text(encoding="utf-8"))
    assert sarif["version"] == "2.1.0"
    assert sarif["runs"][0]["properties"]["stories"] == [STORY]
    assert sarif["runs"][0]["results"] == []
    assert sorted(p.name for p in Path(outputs["report"]).iterdir()) == [f"{STORY}.html", f"{STORY}.md"]
    assert runner.summary.read_text(encoding="utf-8").startswith(f"### ✅ storyfence · {STORY}: Cancel an order")
    # the upload steps read what the audit step wrote
    uses = {s["uses"].split("@")[0]: s for s in runner.action["runs"]["steps"] if "uses" in s}
    assert runner.evaluate(uses["github/codeql-action/upload-sarif"]["with"]["sarif_file"]) == outputs["sarif"]
    assert runner.evaluate(uses["actions/upload-artifact"]["with"]["path"]) == outputs["report"]


def test_a_change_made_outside_storyfence_fails_the_job_with_its_finding_on_the_diff(
    pull_request: Path, tmp_path: Path
) -> None:
    lines = (pull_request / CANCEL_ORDER).read_text(encoding="utf-8").splitlines(keepends=True)
    lines[4] = "  | { readonly kind: 'refunded' }\n"
    (pull_request / CANCEL_ORDER).write_text("".join(lines), encoding="utf-8")
    commit_all(pull_request, "a hand edit")
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    runner = Runner(pull_request, temp, {"base": "main"}, {})
    results = runner.run()
    assert [r.returncode for r in results] == [0, 1]
    assert "storyfence audit exited 1" in results[-1].stdout
    audit = results[0].stdout.splitlines()
    assert f"::error file={CANCEL_ORDER},line=1,title=storyfence {STORY}%3A content-differs::" in "\n".join(audit)
    sarif = json.loads(Path(runner.context["steps"]["audit"]["outputs"]["sarif"]).read_text(encoding="utf-8"))
    (result,) = sarif["runs"][0]["results"]
    assert result["ruleId"] == "content-differs"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == CANCEL_ORDER
    assert "✗ Audit: 1 finding(s)" in (
        Path(runner.context["steps"]["audit"]["outputs"]["report"]) / f"{STORY}.html"
    ).read_text(encoding="utf-8")
