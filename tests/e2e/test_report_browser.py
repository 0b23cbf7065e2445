"""The report as a reviewer's browser shows it: headless Chromium loads the page from disk. The demo story runs
with the real `pnpm check-types` (turbo + tsc) on a git copy of examples/; the BLOCKED and the hostile stories with
a scripted runner. Checked on the DOM Chromium built, after any script had its chance to run.

The screenshots go to a temporary folder; with STORYFENCE_SCREENSHOTS=1 they also replace docs/report.png and
docs/report-blocked.png, the pictures the README shows.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
from pathlib import Path

import pytest

from storyfence.commands.report import build_report, render
from tests.support.browser import Page, dump_dom, require_chromium, screenshot
from tests.support.paths import EXAMPLES, REPO, tool_path
from tests.support.stories import (
    HOSTILE_FILE,
    HOSTILE_TEXT,
    PWNED,
    STORY,
    ScriptedRunner,
    blocked_story,
    demo_story,
    example_service,
    git_example,
)

pytestmark = pytest.mark.e2e

DOCS = REPO / "docs"
HOSTILE_DIAGNOSTIC = "Type '<img src=x onerror=alert(2)>' is not assignable to '</td></tr><script>x()</script>'."


def page_of(root: Path, out: Path) -> Path:
    out.write_text(render(build_report(root, STORY, policy_path=None), "html"), encoding="utf-8")
    return out


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def keep(shot: Path, name: str) -> None:
    if os.environ.get("STORYFENCE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, DOCS / name)


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """STORY-042 as the demo runs it, with the real typecheck: its first run fails on the misspelt status."""
    require_chromium()
    if not (EXAMPLES / "node_modules").is_dir():
        pytest.fail("examples/node_modules is missing: run `make setup`")
    work = tmp_path_factory.mktemp("demo")
    root = git_example(work / "repo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", tool_path())
        patch.setenv("TURBO_TELEMETRY_DISABLED", "1")
        demo_story(example_service(root))
    return page_of(root, work / "STORY-042.html")


def test_the_demo_page_shows_the_verdict_every_chunk_and_every_changed_file(demo_page: Path, tmp_path: Path) -> None:
    page = Page(dump_dom(demo_page, tmp_path / "profile"))
    assert "✓ Audit clean" in page.text
    assert "COMPLETE" in page.text
    assert "BACKEND COMPLETE" in page.text
    for chunk in ("Chunk 1 — cancelOrder use case", "Chunk 2 — cancel endpoint"):
        assert chunk in page.text
    files = [
        "__http__/orders-cancel.http",
        "apps/api/api/orders/[id]/cancel.ts",
        "packages/core/src/index.ts",
        "packages/core/src/orders/cancel-order.ts",
    ]
    shown = [attrs for attrs in page.attributes("details") if "file" in (attrs.get("class") or "")]
    assert len(shown) == len(files)
    for path in files:
        assert path in page.text
    # the real tsc's diagnostic on the misspelt status, under the failed run
    misspelt = r"cancel-order\.ts:22:\d+TS\d{4}Type '\"canceled\"' is not assignable to type 'OrderStatus'"
    assert re.search(misspelt, page.text)
    assert page.attributes("svg")
    assert "Writes refused, by rule" in page.text
    for rule in ("no-react-components", "no-env-files", "http-files-under-http-dir"):
        assert rule in page.text
    shot = screenshot(demo_page, tmp_path / "report.png", tmp_path / "profile")
    assert png_size(shot) == (1280, 1600)
    keep(shot, "report.png")


def test_a_blocked_page_shows_blocked_its_blockers_and_the_failed_runs(tmp_path: Path) -> None:
    require_chromium()
    root = git_example(tmp_path / "repo", node_modules=False)
    blocked_story(example_service(root, ScriptedRunner(["failed", "failed", "failed"])))
    html = page_of(root, tmp_path / "blocked.html")
    page = Page(dump_dom(html, tmp_path / "profile"))
    assert "BLOCKED" in page.text
    assert "Blockers" in page.text
    assert "typecheck still failing after 2 fix attempts in chunk 1" in page.text
    assert page.text.count("Chunk 1 · run") == 3
    shot = screenshot(html, tmp_path / "report-blocked.png", tmp_path / "profile", height=1100)
    assert png_size(shot) == (1280, 1100)
    keep(shot, "report-blocked.png")


def test_a_hostile_file_name_log_text_and_diagnostic_render_as_text_and_run_no_script(tmp_path: Path) -> None:
    require_chromium()
    root = git_example(tmp_path / "repo", node_modules=False)
    runner = ScriptedRunner(["failed", "passed", "passed"], message=HOSTILE_DIAGNOSTIC)
    demo_story(example_service(root, runner), hostile=True)
    page = Page(dump_dom(page_of(root, tmp_path / "hostile.html"), tmp_path / "profile"))
    assert page.attributes("script") == []
    assert page.attributes("img") == []
    assert [a for _, attrs in page.tags for a in attrs if a.startswith("on")] == []
    body = page.attributes("body")
    assert body == [{}]  # no script set its marker
    assert PWNED not in body[0]
    assert HOSTILE_FILE in page.text
    assert HOSTILE_TEXT in page.text
    assert HOSTILE_DIAGNOSTIC in page.text


def test_the_marker_check_sees_a_script_that_did_run(tmp_path: Path) -> None:
    """The control: the same check on a page whose script does run finds its marker, so a pass above means
    nothing ran, not that nothing could be seen."""
    require_chromium()
    control = tmp_path / "control.html"
    control.write_text(
        f"<!DOCTYPE html><html><body><p>x</p><script>document.body.setAttribute('{PWNED}', 'ran')</script>"
        "</body></html>",
        encoding="utf-8",
    )
    page = Page(dump_dom(control, tmp_path / "profile"))
    assert page.attributes("body") == [{PWNED: "ran"}]
