"""`storyfence hook claude-code`, fed the JSON Claude Code sends to a PreToolUse hook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from storyfence.app.service import StoryfenceService
from storyfence.commands.hook import claude_code_hook
from storyfence.core.models import PortsAdapters, Reuse
from tests.support.hook import REPO_FILES, STORY, denial, pre_tool_use
from tests.support.policies import policy_allowing_unchecked
from tests.support.repos import write_tree


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "repo", REPO_FILES)


def run(
    root: Path, text: str, *, story: str | None = None, environ: dict[str, str] | None = None
) -> tuple[int, dict[str, Any] | None]:
    code, out = claude_code_hook(text, root=None, policy_path=None, story=story, environ=environ or {})
    return code, (json.loads(out) if out else None)


def open_chunk(root: Path) -> StoryfenceService:
    service = StoryfenceService(root, policy_allowing_unchecked("packages/core/**"))
    service.begin_chunk(STORY, "cancel orders", "AC1: an order can be cancelled")
    return service


def test_a_write_of_a_react_component_is_denied_with_the_rule_id(repo: Path) -> None:
    text = pre_tool_use(
        repo, "Write", {"file_path": str(repo / "apps/web/components/Cancel.tsx"), "content": "export {};\n"}
    )
    code, answer = run(repo, text)
    assert code == 0
    reason = denial(answer)
    assert "`no-react-components`" in reason
    assert "apps/web/components/Cancel.tsx" in reason
    assert "Instead:" in reason


def test_an_allowed_backend_write_gets_no_output_so_claude_codes_permission_flow_continues(repo: Path) -> None:
    text = pre_tool_use(
        repo,
        "Write",
        {"file_path": str(repo / "packages/core/src/orders/refund.ts"), "content": "export const refund = 1;\n"},
    )
    assert claude_code_hook(text, root=None, policy_path=None, story=None, environ={}) == (0, "")


def test_edit_multiedit_and_notebookedit_are_judged_by_their_paths(repo: Path) -> None:
    edit = {
        "file_path": str(repo / ".env"),
        "old_string": "PORT=3000",
        "new_string": "PORT=4000",
        "replace_all": False,
    }
    assert "`no-env-files`" in denial(run(repo, pre_tool_use(repo, "Edit", edit))[1])
    multi = {
        "file_path": str(repo / "apps/web/components/Button.tsx"),
        "edits": [{"old_string": "null", "new_string": "undefined", "replace_all": True}],
    }
    assert "`no-react-components`" in denial(run(repo, pre_tool_use(repo, "MultiEdit", multi))[1])
    notebook = {
        "notebook_path": str(repo / "analysis/orders.ipynb"),
        "cell_id": "cell-1",
        "new_source": "print(1)",
        "cell_type": "code",
        "edit_mode": "replace",
    }
    assert "`default-deny`" in denial(run(repo, pre_tool_use(repo, "NotebookEdit", notebook))[1])
    ok_edit = {
        "file_path": str(repo / "packages/core/src/other.ts"),
        "old_string": "other = 1",
        "new_string": "other = 2",
    }
    assert run(repo, pre_tool_use(repo, "Edit", ok_edit)) == (0, None)


def test_tools_that_do_not_write_pass_without_output(repo: Path) -> None:
    bash = {"command": "echo hi > apps/web/x.tsx", "description": "write a file"}
    read = {"file_path": str(repo / ".env")}
    mcp = {"story": STORY, "path": "apps/web/x.tsx", "content": ""}
    for tool, args in (
        ("Bash", bash),
        ("Read", read),
        ("Grep", {"pattern": "x"}),
        ("mcp__storyfence__write_file", mcp),
    ):
        assert claude_code_hook(
            pre_tool_use(repo, tool, args), root=None, policy_path=None, story=None, environ={}
        ) == (
            0,
            "",
        )


def test_writes_outside_the_project_and_to_protected_files_are_denied(repo: Path, tmp_path: Path) -> None:
    outside = pre_tool_use(repo, "Write", {"file_path": str(tmp_path / "elsewhere.ts"), "content": ""})
    assert "`confinement`" in denial(run(repo, outside)[1])
    settings = pre_tool_use(repo, "Write", {"file_path": str(repo / ".claude/settings.json"), "content": "{}"})
    assert "`protected-policy`" in denial(run(repo, settings)[1])
    log = pre_tool_use(
        repo, "Write", {"file_path": str(repo / f"{STORY}/_implementation/BACKEND-LOG.md"), "content": ""}
    )
    assert "`protected-server-owned`" in denial(run(repo, log)[1])
    git_dir = pre_tool_use(repo, "Write", {"file_path": str(repo / ".git/hooks/pre-commit"), "content": ""})
    assert "`protected-git`" in denial(run(repo, git_dir)[1])


def test_the_story_scope_narrows_the_policy_when_the_story_is_named(repo: Path) -> None:
    open_chunk(repo)
    outside_scope = pre_tool_use(
        repo, "Write", {"file_path": str(repo / "packages/core/src/other.ts"), "content": "x\n"}
    )
    reason = denial(run(repo, outside_scope, story=STORY)[1])
    assert "`story-not-in-scope`" in reason
    assert STORY in reason
    reason = denial(run(repo, outside_scope, environ={"STORYFENCE_STORY": STORY})[1])
    assert "`story-not-in-scope`" in reason
    in_scope = pre_tool_use(repo, "Write", {"file_path": str(repo / "packages/core/src/orders/a.ts"), "content": "x\n"})
    assert run(repo, in_scope, story=STORY) == (0, None)


def test_with_no_story_named_the_one_with_an_open_chunk_is_used(repo: Path) -> None:
    outside_scope = pre_tool_use(
        repo, "Write", {"file_path": str(repo / "packages/core/src/other.ts"), "content": "x\n"}
    )
    assert run(repo, outside_scope) == (0, None)  # no story has an open chunk: the policy alone
    open_chunk(repo)
    assert "`story-not-in-scope`" in denial(run(repo, outside_scope)[1])


def test_a_named_story_without_an_open_chunk_refuses_writes_with_the_workflow_message(repo: Path) -> None:
    in_scope = pre_tool_use(repo, "Write", {"file_path": str(repo / "packages/core/src/orders/a.ts"), "content": "x\n"})
    reason = denial(run(repo, in_scope, story=STORY)[1])
    assert "needs an open chunk" in reason
    assert "begin_chunk" in reason


def test_a_blocked_story_refuses_every_write_and_a_complete_one_too(repo: Path) -> None:
    service = open_chunk(repo)
    in_scope = pre_tool_use(repo, "Write", {"file_path": str(repo / "packages/core/src/orders/a.ts"), "content": "x\n"})
    assert run(repo, in_scope, story=STORY) == (0, None)
    service.report_blocker(STORY, "the order API is missing", "no endpoint to call")
    assert "BLOCKED" in denial(run(repo, in_scope, story=STORY)[1])

    other = repo.parent / "other"
    other.mkdir()
    for rel in (
        f"{STORY}/{STORY}.md",
        f"{STORY}/_implementation/IMPLEMENTATION-PLAN.md",
        f"{STORY}/_implementation/SCOPE.md",
    ):
        (other / rel).parent.mkdir(parents=True, exist_ok=True)
        (other / rel).write_text((repo / rel).read_text(encoding="utf-8"), encoding="utf-8")
    done = open_chunk(other)
    done.write_file(STORY, "packages/core/src/orders/a.ts", "export const a = 1;\n")
    done.append_chunk_log(
        STORY,
        "added a",
        Reuse(reused="none", new="a", why_new="needed"),
        PortsAdapters(core="a", adapters="none"),
        "none",
    )
    anyio.run(done.run_typecheck, STORY)  # no package: nothing to run; the policy lets it stay unchecked
    done.complete_story(STORY)
    write = pre_tool_use(other, "Write", {"file_path": str(other / "packages/core/src/orders/b.ts"), "content": "x\n"})
    assert "COMPLETE" in denial(run(other, write, story=STORY)[1])


def test_content_rules_judge_the_new_text_of_write_and_edit(repo: Path) -> None:
    todo = pre_tool_use(
        repo,
        "Write",
        {"file_path": str(repo / "packages/core/src/orders/b.ts"), "content": "// TODO: implement\nexport {};\n"},
    )
    assert "`no-todo-markers`" in denial(run(repo, todo)[1])
    express = {
        "file_path": str(repo / "packages/core/src/orders/cancel.ts"),
        "old_string": "export const cancel",
        "new_string": "import express from 'express';\nexport const cancel",
    }
    assert "`core-transport-agnostic`" in denial(run(repo, pre_tool_use(repo, "Edit", express))[1])
    multi = {
        "file_path": str(repo / "packages/core/src/orders/cancel.ts"),
        "edits": [
            {"old_string": "id: string", "new_string": "orderId: string"},
            {"old_string": "=> id", "new_string": "=> orderId // FIXME", "replace_all": True},
        ],
    }
    assert "`no-todo-markers`" in denial(run(repo, pre_tool_use(repo, "MultiEdit", multi))[1])
    clean = {**multi, "edits": [{"old_string": "=> id", "new_string": "=> id.trim()"}]}
    assert run(repo, pre_tool_use(repo, "MultiEdit", clean)) == (0, None)


def test_the_root_is_claude_project_dir_before_the_cwd_of_the_call(repo: Path) -> None:
    sub = repo / "packages/core"
    write = pre_tool_use(
        repo, "Write", {"file_path": str(repo / "apps/web/components/X.tsx"), "content": ""}, cwd=str(sub)
    )
    # judged against a subfolder root, the path would be a confinement refusal instead of the policy's rule
    assert "`no-react-components`" in denial(run(repo, write, environ={"CLAUDE_PROJECT_DIR": str(repo)})[1])
    assert "`confinement`" in denial(run(repo, write)[1])
    code, out = claude_code_hook(write, root=repo, policy_path=None, story=None, environ={})
    assert code == 0
    assert "`no-react-components`" in out


def test_a_repo_policy_file_is_applied_and_a_broken_one_refuses_with_its_error(repo: Path) -> None:
    (repo / ".storyfence.toml").write_text(
        '[[rules]]\nid = "no-other"\nkind = "deny"\npatterns = ["packages/core/src/other.ts"]\nreason = "no."\n',
        encoding="utf-8",
    )
    write = pre_tool_use(repo, "Write", {"file_path": str(repo / "packages/core/src/other.ts"), "content": "x\n"})
    assert "`no-other`" in denial(run(repo, write)[1])
    (repo / ".storyfence.toml").write_text("[[rules]\n", encoding="utf-8")
    reason = denial(run(repo, write)[1])
    assert "could not check this write" in reason
    assert "not valid TOML" in reason


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        json.dumps({"hook_event_name": "PostToolUse", "tool_name": "Write", "tool_input": {}}),
        json.dumps({"hook_event_name": "PreToolUse", "tool_name": "Write", "tool_input": {"content": "x"}}),
        json.dumps({"hook_event_name": "PreToolUse", "tool_name": "Edit", "tool_input": "x"}),
        json.dumps({"hook_event_name": "PreToolUse", "tool_input": {}}),
    ],
    ids=["empty", "not-json", "not-object", "wrong-event", "no-path", "input-not-object", "no-tool"],
)
def test_malformed_input_is_refused_with_exit_2_and_a_message(
    text: str, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # exit 2 blocks in Claude Code; exit 1 would be a non-blocking error that lets the call through
    assert claude_code_hook(text, root=repo, policy_path=None, story=None, environ={}) == (2, "")
    err = capsys.readouterr().err
    assert err.startswith("storyfence hook: ")
    assert "Traceback" not in err


def test_a_named_story_whose_journal_was_edited_by_hand_refuses_writes(repo: Path) -> None:
    open_chunk(repo)
    journal = repo / STORY / "_implementation/.storyfence/journal.jsonl"
    journal.write_text(journal.read_text(encoding="utf-8").replace("cancel orders", "cancel all"), encoding="utf-8")
    write = pre_tool_use(repo, "Write", {"file_path": str(repo / "packages/core/src/orders/a.ts"), "content": "x\n"})
    reason = denial(run(repo, write, story=STORY)[1])
    assert "could not check this write" in reason
    assert "edited by hand" in reason
    unknown = denial(run(repo, write, story="STORY-404")[1])
    assert "unknown story STORY-404" in unknown


@pytest.mark.parametrize("padded", ["packages/core/src/orders/refund.ts ", " packages/core/src/orders/refund.ts"])
def test_a_path_with_surrounding_whitespace_is_refused_not_judged_as_the_trimmed_path(repo: Path, padded: str) -> None:
    """Claude Code writes the path as named; the hook used to decide the path trimmed (allowed: core) while the
    content rules judged the name as given (`refund.ts ` is no `.ts` file), so a transport import reached core."""
    express = "import express from 'express';\nexport const refund = express;\n"
    for path in (str(repo) + "/" + padded, padded):
        text = pre_tool_use(repo, "Write", {"file_path": path, "content": express})
        code, answer = run(repo, text)
        assert code == 0
        reason = denial(answer)
        assert "whitespace" in reason
    assert not (repo / "packages/core/src/orders/refund.ts ").exists()
