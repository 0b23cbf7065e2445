"""The security suite, over stdio with the official client, on real temporary repos with real
symlinks and hard links. Each attack must be refused AND leave the disk exactly as it was."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.support.client import call, refused
from tests.support.repos import story_inputs, write_tree
from tests.support.server import connect

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

STORY = "STORY-001"


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` (links as their target text), with a content hash."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*filenames, *[d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                out[rel] = "link->" + os.readlink(full)
            else:
                out[rel] = hashlib.sha256(Path(full).read_bytes()).hexdigest()
    return out


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path]:
    """A repo with a story, and a sibling directory outside it named like a prefix of the repo."""
    root = tmp_path / "repo"
    outside = tmp_path / "repo-evil"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside secret\n", encoding="utf-8")
    (outside / "target.txt").write_text("hard-link target\n", encoding="utf-8")
    files = {
        "packages/core/src/a.ts": "export const a = 1;\n",
        "packages/backend/src/b.ts": "export const b = 2;\n",
        "packages/ui/src/Button.ts": "export const Button = 1;\n",
        "apps/api/api/health.ts": "export default 1;\n",
        ".env": "API_PORT=3001\n",
        ".git/config": "[core]\n",
        ".storyfence.toml": 'extends = "backend"\n',
        **story_inputs(STORY, scope="# Scope\nEverything backend.\n"),
        f"{STORY}/_implementation/BACKEND-LOG.md": "# log\n",
    }
    write_tree(root, files)
    src = root / "packages/core/src"
    os.symlink(outside, src / "escape")  # a directory symlink out of the root
    os.symlink(outside / "secret.txt", src / "link.ts")  # a file symlink out of the root
    os.symlink("../ui", root / "packages/backend/ui")  # inside the root, into a denied package
    os.symlink(f"../../../{STORY}/_implementation/BACKEND-LOG.md", src / "log.ts")  # into a protected file
    os.symlink("a.ts", src / "alias.ts")  # an in-root, in-scope symlink: writes still never follow it
    os.link(outside / "target.txt", src / "hard.ts")  # a hard link to a file outside the root
    return root, outside


ATTACKS = [
    ("nul byte", "packages/core/src/a\x00.ts", "NUL"),
    ("dot-dot escape", "../repo-evil/x.ts", "escapes the repo root"),
    ("dot-dot through a backend dir", "packages/core/../../../repo-evil/x.ts", "escapes the repo root"),
    ("absolute path outside", "/etc/storyfence-attack.ts", "outside the repo root"),
    ("prefix-sibling absolute path", "{outside}/x.ts", "outside the repo root"),
    ("directory symlink out of the root", "packages/core/src/escape/x.ts", "leads outside the repo root"),
    ("file symlink out of the root", "packages/core/src/link.ts", "leads outside the repo root"),
    ("symlink into a denied package", "packages/backend/ui/src/Button.ts", "symlink"),
    ("symlink into a protected file", "packages/core/src/log.ts", "symlink"),
    ("in-root symlink", "packages/core/src/alias.ts", "symlink"),
    ("git directory", ".git/config", "protected-git"),
    ("git hook", ".git/hooks/pre-commit", "protected-git"),
    ("policy file", ".storyfence.toml", "protected-policy"),
    ("story input", f"{STORY}/{STORY}.md", "protected-story-inputs"),
    ("story scope", f"{STORY}/_implementation/SCOPE.md", "protected-story-inputs"),
    ("server-owned log", f"{STORY}/_implementation/BACKEND-LOG.md", "protected-server-owned"),
    ("story journal", f"{STORY}/_implementation/.storyfence/journal.jsonl", "protected-server-owned"),
    ("env file", ".env", "no-env-files"),
    ("frontend package", "packages/ui/src/Button.ts", "no-frontend-packages"),
    ("backslash path", "packages\\core\\src\\x.ts", "backslash"),
]


async def test_every_attack_is_refused_over_stdio_and_the_disk_is_unchanged(
    hostile: tuple[Path, Path],
) -> None:
    root, outside = hostile
    before_root, before_outside = snapshot(root), snapshot(outside)
    async with connect(root) as client:
        await call(client, "begin_chunk", story=STORY, name="attacks", objective="none of these may land")
        before_root = snapshot(root)  # the journal now exists
        problems: list[str] = []
        for label, raw, expected in ATTACKS:
            path = raw.replace("{outside}", str(outside))
            for tool, args in (
                ("write_file", {"content": "pwned\n"}),
                ("edit_file", {"edits": [{"old_text": "export", "new_text": "pwned"}]}),
                ("delete_file", {}),
            ):
                result = await client.call_tool(tool, {"story": STORY, "path": path, **args})
                text = " ".join(getattr(b, "text", "") for b in result.content)
                if not result.is_error:
                    problems.append(f"{label}: {tool} was NOT refused")
                elif expected not in text:
                    problems.append(f"{label}: {tool} refused without naming {expected!r}: {text}")
        assert problems == []
        # the server kept serving, and nothing on disk moved
        status = await call(client, "story_status", story=STORY)
        assert status["status"] == "open"
    assert snapshot(outside) == before_outside
    after = snapshot(root)
    assert {k: v for k, v in after.items() if ".storyfence" not in k} == {
        k: v for k, v in before_root.items() if ".storyfence" not in k
    }


async def test_a_write_to_a_hard_link_replaces_the_entry_and_never_writes_through(
    hostile: tuple[Path, Path],
) -> None:
    root, outside = hostile
    async with connect(root) as client:
        await call(client, "begin_chunk", story=STORY, name="hard link", objective="detach, never write through")
        await call(
            client,
            "write_file",
            story=STORY,
            path="packages/core/src/hard.ts",
            content="export const h = 1;\n",
        )
    assert (outside / "target.txt").read_text(encoding="utf-8") == "hard-link target\n"
    assert (root / "packages/core/src/hard.ts").read_text(encoding="utf-8") == "export const h = 1;\n"
    assert os.stat(root / "packages/core/src/hard.ts").st_nlink == 1


async def test_reads_follow_no_link_out_of_the_root_and_never_show_secrets(
    hostile: tuple[Path, Path],
) -> None:
    root, _ = hostile
    async with connect(root) as client:
        assert "leads outside the repo root" in await refused(client, "read_file", path="packages/core/src/link.ts")
        assert "leads outside" in await refused(client, "read_file", path="packages/core/src/escape/secret.txt")
        assert "no-secret-reads" in await refused(client, "read_file", path=".env")
        assert "escapes the repo root" in await refused(client, "list_files", path="..")
        aliased = await call(client, "read_file", path="packages/core/src/alias.ts")
        assert aliased["content"] == "export const a = 1;\n"
        found = await call(client, "search_code", pattern="API_PORT")
        assert [m["path"] for m in found["matches"]] == []
        found = await call(client, "search_code", pattern="outside secret")
        assert found["matches"] == []


async def test_a_read_of_a_fifo_or_device_answers_at_once_and_the_server_keeps_serving(
    hostile: tuple[Path, Path],
) -> None:
    """read_file runs on the server's event loop (it is bounded work): a FIFO with no writer, or a device, must
    be refused without waiting on it, or nothing else would be answered again."""
    root, _ = hostile
    os.mkfifo(root / "packages/core/src/pipe.ts")
    os.symlink("/dev/zero", root / "packages/core/src/zero.ts")  # a device, through an in-root link
    async with connect(root) as client:
        assert "not a regular file" in await refused(client, "read_file", path="packages/core/src/pipe.ts")
        await refused(client, "read_file", path="packages/core/src/zero.ts")
        read = await call(client, "read_file", path="packages/core/src/a.ts")
    assert read["content"] == "export const a = 1;\n"


LEGIT = [
    "packages/core/src/orders/cancel-order.ts",
    "packages/backend/src/orders/repo.ts",
    "packages/db/migrations/0002_cancel.sql",
    "apps/api/api/orders/[id]/cancel.ts",
    "__http__/orders-cancel.http",
]


async def test_legitimate_backend_writes_pass_and_land_on_disk(hostile: tuple[Path, Path]) -> None:
    root, _ = hostile
    async with connect(root) as client:
        await call(client, "begin_chunk", story=STORY, name="legit", objective="backend writes must pass")
        for rel in LEGIT:
            result = await call(client, "write_file", story=STORY, path=rel, content=f"// {rel}\n")
            assert result["change"]["kind"] == "created"
        status = await call(client, "story_status", story=STORY)
    for rel in LEGIT:
        assert (root / rel).read_text(encoding="utf-8") == f"// {rel}\n"
    assert [f["path"] for f in status["chunks"][0]["files"]] == LEGIT
