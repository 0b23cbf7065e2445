"""`storyfence report STORY` in-process on a git copy of examples/: the demo story (BACKEND COMPLETE) and a BLOCKED
one, driven through the real service with a scripted typecheck runner; the page is self-contained and shows the
verdict, every chunk and changed file as text, the Markdown summary is escaped for a pull-request comment."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from storyfence.cli import main
from storyfence.commands.report import StoryReport, build_report, render
from storyfence.commands.report_render import md_code, md_escape
from tests.support.browser import Page
from tests.support.git import commit_all, git
from tests.support.stories import (
    CANCEL_ORDER,
    HOSTILE_FILE,
    HOSTILE_TEXT,
    STORY,
    ScriptedRunner,
    blocked_story,
    demo_story,
    example_service,
    git_example,
)

DEMO_FILES = [
    "__http__/orders-cancel.http",
    "apps/api/api/orders/[id]/cancel.ts",
    "packages/core/src/index.ts",
    CANCEL_ORDER,
]


def demo_report(tmp_path: Path, *, hostile: bool = False) -> StoryReport:
    root = git_example(tmp_path / "repo", node_modules=False)
    demo_story(example_service(root, ScriptedRunner(["failed", "passed", "passed"])), hostile=hostile)
    return build_report(root, STORY, policy_path=None)


def test_the_demo_story_reads_as_complete_with_a_clean_audit_every_chunk_and_every_file(tmp_path: Path) -> None:
    report = demo_report(tmp_path)
    assert (report.status, report.signal, report.audit.ok) == ("complete", "BACKEND COMPLETE", True)
    assert report.heading == "STORY-042: Cancel an order"
    assert len(report.doc.criteria) == 7
    assert [(c.number, c.name, c.state) for c in report.chunks] == [
        (1, "cancelOrder use case", "closed"),
        (2, "cancel endpoint", "closed"),
    ]
    assert [(f.path, f.by, f.chunks) for f in report.files] == [
        (DEMO_FILES[0], "storyfence", (2,)),
        (DEMO_FILES[1], "storyfence", (2,)),
        (DEMO_FILES[2], "storyfence", (1,)),
        (DEMO_FILES[3], "storyfence", (1,)),
    ]
    index = next(f for f in report.files if f.path == "packages/core/src/index.ts")
    assert (index.kind, index.diff.added, index.diff.removed) == ("modified", 2, 0)
    assert [m.kind for m in report.marks if m.chunk == 1] == [
        "opened",
        "refused",
        "refused",
        "write",
        "write",
        "failed",
        "fix",
        "passed",
        "logged",
        "closed",
    ]
    assert {rule: [(r.chunk, r.path) for r in refusals] for rule, refusals in report.refusals.items()} == {
        "http-files-under-http-dir": [(2, "apps/api/orders-cancel.http")],
        "no-env-files": [(1, ".env")],
        "no-react-components": [(1, "apps/web/components/CancelButton.tsx")],
    }
    assert [c.outcome for _, c in report.checks] == ["failed", "passed", "passed"]

    page = Page(render(report, "html"))
    assert "✓ Audit clean" in page.text
    for chunk in ("Chunk 1 — cancelOrder use case", "Chunk 2 — cancel endpoint"):
        assert chunk in page.text
    for path in DEMO_FILES:
        assert path in page.text
    assert "TS2322" in page.text
    assert "Writes refused, by rule" in page.text
    assert "write_file .env (chunk 1)" in page.text
    assert sum(1 for tag, _ in page.tags if tag == "svg") >= 1


def test_the_page_is_self_contained_and_runs_no_script(tmp_path: Path) -> None:
    html = render(demo_report(tmp_path, hostile=True), "html")
    page = Page(html)
    assert [tag for tag, _ in page.tags if tag in ("script", "link", "iframe", "img", "object", "embed")] == []
    attributes = {name for _, attrs in page.tags for name in attrs}
    assert not [a for a in attributes if a.startswith("on") or a in ("src", "href", "srcset", "action")]
    assert "url(" not in html
    assert "@import" not in html
    assert "default-src 'none'" in html  # and a Content-Security-Policy that would refuse one anyway
    # the hostile name and log text are there, as text
    assert HOSTILE_FILE in page.text
    assert HOSTILE_TEXT in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.ts" in html


def test_a_blocked_story_shows_its_blockers_and_its_open_chunk_as_blocked(tmp_path: Path) -> None:
    root = git_example(tmp_path / "repo", node_modules=False)
    blocked_story(example_service(root, ScriptedRunner(["failed", "failed", "failed"])))
    report = build_report(root, STORY, policy_path=None)
    assert report.status == "blocked"
    assert report.signal.startswith("BLOCKED: typecheck still failing after 2 fix attempts")
    assert report.audit.ok
    assert [c.state for c in report.chunks] == ["blocked"]
    assert [m.kind for m in report.marks][-2:] == ["failed", "blocked"]
    assert report.blocked is not None
    page = Page(render(report, "html"))
    assert "Blockers" in page.text
    assert report.blocked.blockers.strip().splitlines()[-1] in page.text
    markdown = render(report, "markdown")
    assert "**BLOCKED**: typecheck still failing after 2 fix attempts" in markdown
    assert "| 1 · cancelOrder use case | blocked | 1 | failed → failed → failed |" in markdown


def test_a_change_outside_storyfence_turns_the_verdict_red_and_names_who_changed_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = git_example(tmp_path / "repo", node_modules=False)
    demo_story(example_service(root, ScriptedRunner(["failed", "passed", "passed"])))
    (root / "packages/core/src/orders/sneaky.ts").write_text("export const sneaky = 1;\n", encoding="utf-8")
    (root / CANCEL_ORDER).write_text("// edited by hand\n", encoding="utf-8")
    out = tmp_path / "page.html"
    assert main(["report", STORY, "--root", str(root), "--output", str(out)]) == 1
    page = Page(out.read_text(encoding="utf-8"))
    assert "✗ Audit: 2 finding(s)" in page.text
    report = build_report(root, STORY, policy_path=None)
    by = {f.path: f.by for f in report.files}
    assert by["packages/core/src/orders/sneaky.ts"] == "outside storyfence"
    assert by[CANCEL_ORDER] == "storyfence, then outside"
    assert "storyfence report: wrote" in capsys.readouterr().err


def test_the_markdown_summary_fits_a_pull_request_comment_and_escapes_what_it_quotes(tmp_path: Path) -> None:
    markdown = render(demo_report(tmp_path, hostile=True), "markdown")
    assert markdown.startswith("### ✅ storyfence · STORY-042: Cancel an order\n")
    assert "| `packages/core/src/orders/<script>alert(1)</script>.ts` | created | storyfence | +1 −0 |" in markdown
    assert "| 1 · cancelOrder use case | closed | 3 | failed → passed |" in markdown
    assert "`http-files-under-http-dir` × 1 · `no-env-files` × 1 · `no-react-components` × 1" in markdown
    assert len(markdown) < 60_000
    assert md_escape("<b>hi</b> @team *x* | [l](u)") == "&lt;b&gt;hi&lt;/b&gt; \\@team \\*x\\* \\| \\[l\\](u)"
    assert md_escape(" a\nb  c ") == " a b c "
    assert md_code("a`b|c") == "``a`b\\|c``"
    assert md_code("`x`") == "`` `x` ``"


def test_changed_since_writes_one_page_per_story_the_branch_touched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = git_example(tmp_path / "repo", node_modules=False)
    git(root, "switch", "-q", "-c", "feature")
    demo_story(example_service(root, ScriptedRunner(["failed", "passed", "passed"])))
    commit_all(root, "STORY-042")
    out = tmp_path / "pages"
    argv = ["report", "--changed-since", "main", "--root", str(root), "--output", str(out)]
    assert main(argv) == 0
    assert main([*argv, "--format", "markdown"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["STORY-042.html", "STORY-042.md"]
    assert main(["report", "--changed-since", "feature", "--root", str(root), "--output", str(out / "none")]) == 0
    assert not (out / "none").exists()
    assert "no story changed since feature" in capsys.readouterr().err
    assert main(["report", "--changed-since", "main", "--root", str(root)]) == 2  # where would the pages go?


def test_a_story_not_started_yet_has_a_page_that_says_so(tmp_path: Path) -> None:
    root = git_example(tmp_path / "repo", node_modules=False)
    report = build_report(root, STORY, policy_path=None)
    assert (report.records, report.marks, report.files) == (0, (), ())
    page = Page(render(report, "html"))
    assert "not started" in page.text
    assert "✓ Audit clean" in page.text


def test_changes_made_around_the_server_show_as_taken_in_or_refused_then_undone(tmp_path: Path) -> None:
    root = git_example(tmp_path / "repo", node_modules=False)
    service = example_service(root, ScriptedRunner(["passed", "passed"]))
    service.begin_chunk(STORY, "cancelOrder use case", "AC1-AC3")
    service.write_file(STORY, CANCEL_ORDER, "export const cancelOrder = 1;\n")
    (root / "packages/core/src/orders/by-hand.ts").write_text("export const byHand = 1;\n", encoding="utf-8")
    (root / "apps/web/components/CancelButton.tsx").write_text("export const B = 1;\n", encoding="utf-8")
    typecheck_outcome = anyio.run(service.run_typecheck, STORY).outcome  # the boundary sees both
    assert typecheck_outcome == "passed"
    service.restore_file(STORY, "apps/web/components/CancelButton.tsx")
    report = build_report(root, STORY, policy_path=None)
    kinds = [m.kind for m in report.marks]
    assert kinds[:5] == ["opened", "write", "stray", "outside", "passed"]
    assert kinds[-1] == "restored"
    by = {f.path: f.by for f in report.files}
    assert by["packages/core/src/orders/by-hand.ts"] == "outside, taken in"
    assert "apps/web/components/CancelButton.tsx" not in by  # undone: git shows no change
    assert report.chunks[0].outside == ("packages/core/src/orders/by-hand.ts",)
    page = Page(render(report, "html"))
    assert "changed outside storyfence, taken in" in page.text
    assert "changed outside storyfence, refused" in page.text


def test_a_file_already_uncommitted_when_the_story_began_says_its_diff_includes_that(tmp_path: Path) -> None:
    root = git_example(tmp_path / "repo", node_modules=False)
    index = root / "packages/core/src/index.ts"
    index.write_text(index.read_text(encoding="utf-8") + "// work in progress\n", encoding="utf-8")
    readme = root / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nmore\n", encoding="utf-8")
    demo_story(example_service(root, ScriptedRunner(["failed", "passed", "passed"])))
    report = build_report(root, STORY, policy_path=None)
    files = {f.path: f for f in report.files}
    assert files["README.md"].by == "before the story"
    assert files["README.md"].note == ""
    assert files["packages/core/src/index.ts"].by == "storyfence"
    assert files["packages/core/src/index.ts"].note.startswith("already modified (uncommitted) when the story began")
    assert "// work in progress" in [line.text for line in files["packages/core/src/index.ts"].diff.lines]
    assert "includes that earlier change" in Page(render(report, "html")).text
