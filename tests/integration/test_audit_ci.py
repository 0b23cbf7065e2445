"""`storyfence audit` for CI: SARIF 2.1.0 (validated against the official schema) and GitHub annotations whose
findings point at the right file and line, `--changed-since REF` auditing the stories a branch touched, and the
documented exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from jsonschema import Draft4Validator

from storyfence.app.service import StoryfenceService
from storyfence.cli import main
from storyfence.commands.audit import audit, changed_stories
from storyfence.core.models import PortsAdapters, Reuse
from tests.support.git import commit_all, git
from tests.support.paths import REPO
from tests.support.policies import policy_allowing_unchecked
from tests.support.repos import story_inputs, write_tree

SARIF_SCHEMA = REPO / "tools/node/node_modules/@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json"
"""The SARIF 2.1.0 schema as Microsoft's SARIF SDK ships it on npm (pinned in tools/node/package.json)."""

STORY = "STORY-011"
OTHER = "STORY-012"
LIST = "packages/core/src/orders/list.ts"
COMPONENT = "apps/web/components/OrderList.tsx"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_tree(
        root,
        {
            LIST: "export const list = () => [];\n// one\n// two\n// three\n// four\n",
            "packages/core/src/orders/cancel.ts": "export const cancel = (id: string) => id;\n",
            COMPONENT: "export const OrderList = () => null;\n// a\n",
            **story_inputs(STORY, story_md="# STORY-011: Cancel\n"),
            **story_inputs(OTHER, story_md="# STORY-012: Refund\n"),
        },
    )
    commit_all(root, init=True)
    return root


def drive(root: Path, story: str, path: str) -> None:
    """One chunk through the real service: `path` created, logged, closed."""
    service = StoryfenceService(root, policy_allowing_unchecked("packages/core/**"))
    service.begin_chunk(story, "work", "AC1")
    service.write_file(story, path, "export const refund = 1;\n")
    service.append_chunk_log(
        story,
        "did it",
        Reuse(reused="list", new="refund", why_new="none existed"),
        PortsAdapters(core="the use case", adapters="none"),
        "none",
    )
    anyio.run(service.run_typecheck, story)


def out_of_band(root: Path) -> None:
    """Edits no tool recorded: line 4 of a backend file, line 2 of a React component."""
    (root / LIST).write_text("export const list = () => [];\n// one\n// two\n// THREE\n// four\n", encoding="utf-8")
    (root / COMPONENT).write_text("export const OrderList = () => null;\n// b\n", encoding="utf-8")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def sarif_validator() -> Draft4Validator:
    if not SARIF_SCHEMA.is_file():
        pytest.skip(f"the SARIF schema is not installed ({SARIF_SCHEMA}): run `make setup`")
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


def test_sarif_output_validates_against_the_official_schema_and_points_at_the_changed_line(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drive(repo, STORY, "packages/core/src/orders/refund.ts")
    out_of_band(repo)
    code, out = run(capsys, "audit", STORY, "--root", str(repo), "--format", "sarif")
    assert code == 1
    log: dict[str, Any] = json.loads(out)
    errors = sorted(sarif_validator().iter_errors(log), key=str)
    assert errors == [], [e.message for e in errors]
    (run_,) = log["runs"]
    assert run_["tool"]["driver"]["name"] == "storyfence"
    rule_ids = [rule["id"] for rule in run_["tool"]["driver"]["rules"]]
    located = {
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]): r["locations"][0][
            "physicalLocation"
        ].get("region", {})
        for r in run_["results"]
    }
    assert located == {
        ("changed-outside-server", LIST): {"startLine": 4},
        ("changed-outside-server", COMPONENT): {"startLine": 2},
        ("out-of-policy", COMPONENT): {"startLine": 2},
    }
    for result in run_["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["message"]["text"].startswith(f"{STORY}: ")
        assert result["level"] == "error"


def test_a_hand_edited_journal_and_log_point_at_their_lines(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    drive(repo, STORY, "packages/core/src/orders/refund.ts")
    impl = repo / STORY / "_implementation"
    journal = impl / ".storyfence/journal.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    journal.write_text("".join([*lines[:2], lines[2].replace("did it", "did not"), *lines[3:]]), encoding="utf-8")
    log = impl / "BACKEND-LOG.md"
    log.write_text(log.read_text(encoding="utf-8").replace("did it", "did everything"), encoding="utf-8")
    heading = next(n for n, line in enumerate(log.read_text(encoding="utf-8").splitlines(), 1) if "## Chunk 1" in line)
    code, out = run(capsys, "audit", STORY, "--root", str(repo), "--format", "sarif")
    assert code == 1
    log_json: dict[str, Any] = json.loads(out)
    assert list(sarif_validator().iter_errors(log_json)) == []
    where = {
        r["ruleId"]: (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in log_json["runs"][0]["results"]
    }
    assert where["journal-broken"] == (f"{STORY}/_implementation/.storyfence/journal.jsonl", 3)
    assert where["log-mismatch"] == (f"{STORY}/_implementation/BACKEND-LOG.md", heading)


def test_github_format_prints_one_escaped_annotation_per_finding_then_a_summary(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drive(repo, STORY, "packages/core/src/orders/refund.ts")
    out_of_band(repo)
    (repo / "packages/core/src/orders/a,b:c.ts").write_text("export const odd = 1;\n", encoding="utf-8")
    code, out = run(capsys, "audit", STORY, "--root", str(repo), "--format", "github")
    assert code == 1
    lines = out.splitlines()
    assert (
        f"::error file={LIST},line=4,title=storyfence {STORY}%3A changed-outside-server::"
        f"modified according to git, but never written through storyfence for {STORY}"
    ) in lines
    assert (
        f"::error file={COMPONENT},line=2,title=storyfence {STORY}%3A out-of-policy::refused by rule "
        "`no-react-components` (pattern `*.tsx`) in backend.toml (built in) + learned layout (no .storyfence.toml): "
        "React components are frontend work, outside backend scope."
    ) in lines
    assert (
        "::error file=packages/core/src/orders/a%2Cb%3Ac.ts,line=1,"
        f"title=storyfence {STORY}%3A changed-outside-server::"
        f"created according to git, but never written through storyfence for {STORY}"
    ) in lines
    assert sum(line.startswith("::error file=") for line in lines) == 4
    assert lines[-1] == f"storyfence audit {STORY}: 4 finding(s)"


def test_changed_since_audits_only_the_stories_the_branch_touched(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drive(repo, STORY, "packages/core/src/orders/refund.ts")
    commit_all(repo, "STORY-011 done on main")
    git(repo, "switch", "-q", "-c", "feature")
    (repo / "STORY-013").mkdir()
    (repo / "STORY-013/STORY-013.md").write_text("# not started\n", encoding="utf-8")
    commit_all(repo, "STORY-013 written")
    drive(repo, OTHER, "packages/core/src/orders/other.ts")
    commit_all(repo, "STORY-012 on a branch")
    selection = changed_stories(repo, "main", policy_path=None)
    assert selection.stories == [OTHER]
    assert selection.skipped == ["STORY-013: not started (no journal)"]
    assert selection.base == git(repo, "rev-parse", "main").strip()

    code, out = run(capsys, "audit", "--changed-since", "main", "--root", str(repo), "--json")
    document: dict[str, Any] = json.loads(out)
    assert code == 0
    assert (document["ok"], [s["story"] for s in document["stories"]]) == (True, [OTHER])
    # main moving on after the branch left it changes nothing: the comparison starts at the merge base
    git(repo, "switch", "-q", "main")
    (repo / STORY / "STORY-011.md").write_text("# STORY-011: Cancel, edited on main\n", encoding="utf-8")
    commit_all(repo, "main moves on")
    git(repo, "switch", "-q", "feature")
    assert changed_stories(repo, "main", policy_path=None).stories == [OTHER]
    # an edit outside the tools on the branch: exit 1, and the text names the story
    out_of_band(repo)
    code, out = run(capsys, "audit", "--changed-since", "main", "--root", str(repo))
    assert code == 1
    assert out.splitlines()[0].startswith(f"stories changed since main (merge base {selection.base[:12]}): {OTHER}")
    assert f"audit {OTHER}: 3 finding(s)" in out


def test_nothing_changed_is_a_clean_exit_and_an_unknown_ref_or_no_story_is_a_usage_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "audit", "--changed-since", "HEAD", "--root", str(repo), "--format", "sarif")
    assert code == 0
    assert json.loads(out)["runs"][0]["results"] == []
    assert audit(repo, None, policy_path=None, changed_since="no-such-ref") == 2
    assert "--changed-since no-such-ref: no such commit" in capsys.readouterr().err
    assert main(["audit", "--root", str(repo)]) == 2
    assert main(["audit", STORY, "--changed-since", "HEAD", "--root", str(repo)]) == 2
    assert "one of them" in capsys.readouterr().err


def test_paths_are_relative_to_the_git_repo_when_the_monorepo_is_a_subfolder_of_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    top = tmp_path / "top"
    root = top / "services" / "shop"
    write_tree(root, {LIST: "export const list = 1;\n", **story_inputs(STORY)})
    commit_all(top, init=True)
    drive(root, STORY, "packages/core/src/orders/refund.ts")
    (root / LIST).write_text("export const list = 2;\n", encoding="utf-8")
    code, out = run(capsys, "audit", "--changed-since", "HEAD", "--root", str(root), "--format", "github")
    assert code == 1
    assert out.startswith(f"::error file=services/shop/{LIST},line=1,")
