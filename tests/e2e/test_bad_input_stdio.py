"""Bad input over stdio: each gets a clear error, the server keeps serving, nothing is half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.client import call, refused
from tests.support.repos import story_inputs, write_tree
from tests.support.server import connect, run_cli

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

STORY = "STORY-001"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    files: dict[str, str | bytes] = {
        "packages/core/src/a.ts": b"export const a = 1;\n",
        "packages/core/src/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "packages/core/src/latin1.ts": "export const s = 'caf\xe9';\n".encode("latin-1"),
        **story_inputs(STORY),
    }
    write_tree(root, files)
    (root / "packages/core/src/dir.ts").mkdir()
    return root


async def test_unreadable_and_oversized_input_gets_clear_errors_and_the_server_keeps_serving(repo: Path) -> None:
    async with connect(repo) as client:
        assert "binary file" in await refused(client, "read_file", path="packages/core/src/logo.png")
        assert "not valid UTF-8" in await refused(client, "read_file", path="packages/core/src/latin1.ts")
        assert "is a directory" in await refused(client, "read_file", path="packages/core/src/dir.ts")
        assert "does not exist" in await refused(client, "read_file", path="packages/core/src/nope.ts")
        assert "unknown story STORY-002" in await refused(client, "story_status", story="STORY-002")

        await call(client, "begin_chunk", story=STORY, name="bad input", objective="none of it lands")
        assert "is a directory" in await refused(
            client, "write_file", story=STORY, path="packages/core/src/dir.ts", content="x"
        )
        assert "is a file, not a directory" in await refused(
            client, "write_file", story=STORY, path="packages/core/src/a.ts/b.ts", content="x"
        )
        huge = "x" * (20 * 1024 * 1024)
        assert "over the 4,194,304-byte cap" in await refused(
            client, "write_file", story=STORY, path="packages/core/src/huge.ts", content=huge
        )
        assert "binary file" in await refused(
            client,
            "edit_file",
            story=STORY,
            path="packages/core/src/logo.png",
            edits=[{"old_text": "PNG", "new_text": "GIF"}],
        )
        ambiguous = await refused(
            client,
            "edit_file",
            story=STORY,
            path="packages/core/src/a.ts",
            edits=[
                {"old_text": "export const a = 1;", "new_text": "export const a = 2;"},
                {"old_text": "o", "new_text": "0"},
            ],
        )
        assert "edit 2: old_text occurs" in ambiguous
        assert "Nothing was written" in ambiguous
        missing = await refused(
            client,
            "edit_file",
            story=STORY,
            path="packages/core/src/a.ts",
            edits=[{"old_text": "export const zzz", "new_text": "x"}],
        )
        assert "edit 1: old_text was not found" in missing
        # still serving, and nothing was written or recorded
        status = await call(client, "story_status", story=STORY)
        assert status["chunks"][0]["files"] == []
        ok = await call(client, "write_file", story=STORY, path="packages/core/src/ok.ts", content="export {};\n")
        assert ok["change"]["kind"] == "created"
    assert (repo / "packages/core/src/a.ts").read_bytes() == b"export const a = 1;\n"
    assert not (repo / "packages/core/src/huge.ts").exists()
    leftovers = [p.name for p in (repo / "packages/core/src").iterdir() if p.name.startswith(".storyfence-tmp-")]
    assert leftovers == []


async def test_an_edit_dry_run_returns_the_diff_and_writes_nothing(repo: Path) -> None:
    async with connect(repo) as client:
        result = await call(
            client,
            "edit_file",
            story=STORY,
            path="packages/core/src/a.ts",
            edits=[{"old_text": "= 1", "new_text": "= 2"}],
            dry_run=True,
        )
        assert result["applied"] is False
        assert "-export const a = 1;\n+export const a = 2;\n" in result["diff"]
    assert (repo / "packages/core/src/a.ts").read_bytes() == b"export const a = 1;\n"


def test_serve_with_a_missing_root_fails_at_start_with_a_clear_message(tmp_path: Path) -> None:
    result = run_cli("serve", "--root", str(tmp_path / "nope"), timeout=60)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            "[[rules]]\nid = 'x'\nkind = 'maybe'\npatterns = ['a']\nreason = 'r'\n",
            "rules[0] (`x`): key `kind`",
        ),
        ("[typecheck]\ncommand = ['pnpm', 'check-types']\n", "key `typecheck.command`"),
        ("rules = [", "not valid TOML"),
        ("surprise = 1\n", "key `surprise`"),
    ],
)
def test_serve_with_an_invalid_policy_fails_at_start_naming_file_and_key(repo: Path, toml: str, expected: str) -> None:
    policy = repo / ".storyfence.toml"
    policy.write_text(toml, encoding="utf-8")
    result = run_cli("serve", "--root", str(repo), timeout=60)
    assert result.returncode == 2
    assert f"Invalid policy {policy}" in result.stderr
    assert expected in result.stderr
    assert result.stdout == ""
