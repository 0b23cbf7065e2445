"""`storyfence audit STORY` on a real git repo, with a story driven through the real service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from storyfence.adapters.policy_file import load_builtin
from storyfence.app.service import StoryfenceService
from storyfence.app.writes import Edit
from storyfence.commands.audit import audit, run_audit
from storyfence.commands.audit_journal import read_journal
from storyfence.core.models import PortsAdapters, Reuse
from tests.support.git import git
from tests.support.policies import policy_allowing_unchecked
from tests.support.repos import story_inputs, write_tree

STORY = "STORY-011"
IMPL = f"{STORY}/_implementation"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    files = {
        ".gitignore": "dist/\n",
        "packages/core/src/orders/list.ts": "export const list = () => [];\n",
        "packages/core/src/orders/cancel.ts": "export const cancel = (id: string) => id;\n",
        "apps/web/components/OrderList.tsx": "export const OrderList = () => null;\n",
        **story_inputs(STORY, scope="# Scope\n\n## In scope\n- `packages/core/src/orders/**`\n"),
    }
    write_tree(root, files)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    return root


def log_chunk(service: StoryfenceService) -> None:
    service.append_chunk_log(
        STORY,
        "cancel an order",
        Reuse(reused="list", new="cancel use case", why_new="no cancel existed"),
        PortsAdapters(core="the use case", adapters="none"),
        "none",
    )
    anyio.run(service.run_typecheck, STORY)  # no package: nothing to run; the policy lets it stay unchecked


@pytest.fixture
def story(repo: Path) -> StoryfenceService:
    """One closed chunk: a created file and an edited one, logged; nothing committed yet."""
    service = StoryfenceService(repo, policy_allowing_unchecked("packages/core/**"))
    service.begin_chunk(STORY, "cancel", "AC1: cancel an order")
    service.write_file(STORY, "packages/core/src/orders/refund.ts", "export const refund = 1;\n")
    service.edit_file(STORY, "packages/core/src/orders/cancel.ts", [Edit(old_text="=> id", new_text="=> id.trim()")])
    log_chunk(service)
    return service


def findings(repo: Path) -> list[tuple[str, str]]:
    return [(f.kind, f.path) for f in run_audit(repo, STORY, policy_path=None).findings]


def test_a_story_written_through_the_server_is_clean(
    story: StoryfenceService, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit(repo, STORY, policy_path=None, as_json=False) == 0
    out = capsys.readouterr().out
    assert f"audit {STORY}: clean" in out
    assert "2 recorded path(s)" in out
    # committing the work (journal and log included) keeps it clean: commits since the base count too
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "story work")
    assert audit(repo, STORY, policy_path=None, as_json=False) == 0


def test_an_out_of_band_edit_of_a_file_the_server_wrote_is_found(
    story: StoryfenceService, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "packages/core/src/orders/refund.ts").write_text("export const refund = 2;\n", encoding="utf-8")
    assert audit(repo, STORY, policy_path=None, as_json=False) == 1
    out = capsys.readouterr().out
    assert "content-differs  packages/core/src/orders/refund.ts: " in out
    assert "edited outside the server" in out
    assert (
        out.strip().splitlines()[-1]
        == f"audit {STORY}: 1 finding(s) (1 content-differs); git compared since "
        + (run_audit(repo, STORY, policy_path=None).base_commit or "")[:12]
    )


def test_files_changed_outside_the_server_are_found_committed_or_not(story: StoryfenceService, repo: Path) -> None:
    (repo / "packages/core/src/orders/sneaky.ts").write_text("export const s = 1;\n", encoding="utf-8")
    (repo / "packages/core/src/orders/list.ts").write_text("export const list = () => [1];\n", encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "sneak in")
    (repo / "packages/core/src/orders/list.ts").unlink()
    assert findings(repo) == [
        ("changed-outside-server", "packages/core/src/orders/list.ts"),
        ("changed-outside-server", "packages/core/src/orders/sneaky.ts"),
    ]


def test_a_change_outside_the_policy_or_the_scope_is_found(story: StoryfenceService, repo: Path) -> None:
    (repo / "apps/web/components/OrderList.tsx").write_text("export const OrderList = () => 1;\n", encoding="utf-8")
    (repo / "packages/core/src/util.ts").write_text("export const u = 1;\n", encoding="utf-8")
    found = run_audit(repo, STORY, policy_path=None).findings
    assert [(f.kind, f.path) for f in found] == [
        ("changed-outside-server", "apps/web/components/OrderList.tsx"),
        ("out-of-policy", "apps/web/components/OrderList.tsx"),
        ("changed-outside-server", "packages/core/src/util.ts"),
        ("out-of-policy", "packages/core/src/util.ts"),
    ]
    assert "`no-react-components`" in found[1].detail
    assert "`story-not-in-scope`" in found[3].detail


def test_a_hand_edited_journal_is_a_finding(story: StoryfenceService, repo: Path) -> None:
    journal = repo / IMPL / ".storyfence/journal.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace("refund.ts", "refunds.ts")  # record 2: the first write
    journal.write_text("".join(lines), encoding="utf-8")
    found = run_audit(repo, STORY, policy_path=None).findings
    assert found[0].kind == "journal-broken"
    assert "line 2 does not match its hash: the journal was edited by hand" in found[0].detail
    assert "only the 1 record(s) before it" in found[0].detail
    # with only the verified prefix to go on, the writes after it are unaccounted for
    assert ("changed-outside-server", "packages/core/src/orders/refund.ts") in [(f.kind, f.path) for f in found]


def test_a_removed_journal_record_breaks_the_chain(story: StoryfenceService, repo: Path) -> None:
    journal = repo / IMPL / ".storyfence/journal.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    journal.write_text("".join(lines[:1] + lines[2:]), encoding="utf-8")
    records, finding = read_journal(journal, "journal")
    assert len(records) == 1
    assert finding is not None
    assert "breaks the hash chain" in finding.detail


def test_a_log_section_whose_files_do_not_match_the_journal_is_found(story: StoryfenceService, repo: Path) -> None:
    log = repo / IMPL / "BACKEND-LOG.md"
    text = log.read_text(encoding="utf-8")
    assert "`packages/core/src/orders/refund.ts` (created)" in text
    log.write_text(
        text.replace("`packages/core/src/orders/refund.ts` (created)", "`packages/core/src/x.ts` (created)"),
        encoding="utf-8",
    )
    found = run_audit(repo, STORY, policy_path=None).findings
    assert [(f.kind, f.path) for f in found] == [("log-mismatch", f"{IMPL}/BACKEND-LOG.md")]
    assert "chunk 1's Files changed does not match" in found[0].detail
    assert "missing packages/core/src/orders/refund.ts" in found[0].detail
    assert "not recorded: packages/core/src/x.ts" in found[0].detail


def test_an_edited_log_block_and_a_forged_section_are_found(story: StoryfenceService, repo: Path) -> None:
    log = repo / IMPL / "BACKEND-LOG.md"
    text = log.read_text(encoding="utf-8").replace("cancel an order", "cancel any order")
    log.write_text(text + "## Chunk 2 — extra\n- Files changed:\n  - `a.ts` (created)\n", encoding="utf-8")
    details = [f.detail for f in run_audit(repo, STORY, policy_path=None).findings]
    assert any("a section for chunk 2, which the journal never logged" in d for d in details)
    assert any("the chunk 1 section the journal records is not in BACKEND-LOG.md" in d for d in details)


def test_a_file_the_server_deleted_and_that_came_back_is_found(repo: Path) -> None:
    service = StoryfenceService(repo, load_builtin())
    service.begin_chunk(STORY, "tidy", "AC2: drop the list")
    service.delete_file(STORY, "packages/core/src/orders/list.ts")
    log_chunk(service)
    assert findings(repo) == []
    (repo / "packages/core/src/orders/list.ts").write_text("back\n", encoding="utf-8")
    assert ("content-differs", "packages/core/src/orders/list.ts") in findings(repo)


def test_json_output_lists_findings_with_an_ok_flag(
    story: StoryfenceService, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit(repo, STORY, policy_path=None, as_json=True) == 0
    clean: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert clean["ok"] is True
    assert clean["findings"] == []
    assert clean["base_commit"] == git(repo, "rev-parse", "HEAD").strip()
    (repo / "packages/core/src/orders/cancel.ts").write_text("changed\n", encoding="utf-8")
    assert audit(repo, STORY, policy_path=None, as_json=True) == 1
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["findings"] == [
        {
            "kind": "content-differs",
            "path": "packages/core/src/orders/cancel.ts",
            "detail": report["findings"][0]["detail"],
        }
    ]


def test_a_story_with_no_journal_compares_the_working_tree_with_head(repo: Path) -> None:
    assert findings(repo) == []
    (repo / "packages/core/src/orders/list.ts").write_text("x\n", encoding="utf-8")
    assert findings(repo) == [("changed-outside-server", "packages/core/src/orders/list.ts")]


def test_an_unknown_story_or_a_folder_that_is_not_a_git_repo_is_a_usage_error(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit(repo, "STORY-999", policy_path=None, as_json=False) == 2
    assert "unknown story STORY-999" in capsys.readouterr().err
    plain = tmp_path / "plain"
    plain.mkdir()
    assert audit(plain, STORY, policy_path=None, as_json=True) == 2
    captured = capsys.readouterr()
    assert "not inside a git working tree" in captured.err
    assert captured.out == ""
    assert audit(tmp_path / "missing", STORY, policy_path=None, as_json=False) == 2


def test_what_init_left_uncommitted_before_the_story_began_is_reported_apart_and_is_not_a_finding(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from storyfence.commands.init import init

    assert init(repo, clients=["claude-code", "cursor"], force=False, claude_code_hook=True) == 0
    (repo / "packages/core/src/orders/list.ts").write_text("export const list = () => [0];\n", encoding="utf-8")
    (repo / "apps/web/components/OrderList.tsx").unlink()
    service = StoryfenceService(repo, load_builtin())
    service.begin_chunk(STORY, "cancel", "AC1: cancel an order")
    service.write_file(STORY, "packages/core/src/orders/refund.ts", "export const refund = 1;\n")
    log_chunk(service)
    capsys.readouterr()
    assert audit(repo, STORY, policy_path=None, as_json=False) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert f"audit {STORY}: clean" in out
    assert "already changed before the story began" in out
    assert ".claude/settings.json" in out
    report = run_audit(repo, STORY, policy_path=None)
    assert report.findings == []
    assert {p.path for p in report.preexisting} == {
        ".storyfence.toml",
        ".mcp.json",
        ".cursor/mcp.json",
        ".claude/settings.json",
        "packages/core/src/orders/list.ts",
        "apps/web/components/OrderList.tsx",
    }
    as_json = json.loads(json.dumps(report.as_dict()))
    assert as_json["ok"] is True
    assert {p["path"] for p in as_json["preexisting"]} >= {".mcp.json", "apps/web/components/OrderList.tsx"}
    # committing them keeps the audit clean: their content is still what it was when the story began
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "set up storyfence")
    assert run_audit(repo, STORY, policy_path=None).findings == []


def test_a_file_dirty_before_the_story_that_changes_again_during_it_is_a_finding(repo: Path) -> None:
    (repo / "packages/core/src/orders/list.ts").write_text("export const list = () => [0];\n", encoding="utf-8")
    (repo / "notes.md").write_text("draft\n", encoding="utf-8")
    service = StoryfenceService(repo, load_builtin())
    service.begin_chunk(STORY, "cancel", "AC1: cancel an order")
    (repo / "packages/core/src/orders/list.ts").write_text("export const list = () => [2];\n", encoding="utf-8")
    (repo / "notes.md").unlink()
    found = run_audit(repo, STORY, policy_path=None)
    assert [(f.kind, f.path) for f in found.findings] == [
        ("changed-outside-server", "packages/core/src/orders/list.ts")
    ]
    assert "changed again after the story began" in found.findings[0].detail
    # notes.md was untracked at the start and is gone now: git sees no change, nothing to report
    assert [p.path for p in found.preexisting] == []


def test_a_journal_written_before_baselines_existed_still_loads_and_audits(
    story: StoryfenceService, repo: Path
) -> None:
    import hashlib

    # rewrite the journal as an older storyfence wrote it: no `baseline` key in chunk_opened, chain recomputed
    journal = repo / IMPL / ".storyfence/journal.jsonl"
    lines: list[str] = []
    prev = ""
    for line in journal.read_text(encoding="utf-8").splitlines():
        body = {k: v for k, v in json.loads(line).items() if k != "hash"}
        body["event"].pop("baseline", None)
        body["prev"] = prev
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        prev = hashlib.sha256(canonical.encode()).hexdigest()
        lines.append(json.dumps({**body, "hash": prev}, sort_keys=True, ensure_ascii=False) + "\n")
    journal.write_text("".join(lines), encoding="utf-8")
    assert '"baseline"' not in journal.read_text(encoding="utf-8")
    records, broken = read_journal(journal, "journal")
    assert broken is None
    assert len(records) > 1
    assert run_audit(repo, STORY, policy_path=None).findings == []
    StoryfenceService(repo, load_builtin()).begin_chunk(STORY, "more", "AC2")  # and the story goes on
