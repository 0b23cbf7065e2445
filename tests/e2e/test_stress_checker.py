"""The stress checker (scripts/stress.py) judges the disk after each kill: it must not call a write lost when the
server did what write-ahead promises, and must still call it lost when it did not. Each kill here is a real
process dying with os._exit at one step of the real code path, so the checker sees what a SIGKILL leaves."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from scripts.stress import PATHS, STORY, Call, Checker, StoryCopy, Summary

from storyfence.cli import make_service
from storyfence.core.story_paths import TMP_PREFIX
from tests.support.paths import EXAMPLES
from tests.support.repos import copy_example

TARGET = "packages/core/src/orders/stress-1.ts"
OTHER = "packages/core/src/orders/stress-2.ts"
V1 = b"// written by scripts/stress.py\nexport const stress_stress_1: number = 1;\n"
V2 = b"// written by scripts/stress.py\nexport const stress_stress_1: number = 2;\n"


@pytest.fixture
def copy(tmp_path: Path) -> StoryCopy:
    if not (EXAMPLES / "STORY-042").is_dir():
        pytest.skip("examples/ is missing")
    return StoryCopy.of(copy_example(tmp_path / "repo-000", node_modules=False))


def acked_write(copy: StoryCopy, path: str, data: bytes) -> None:
    """A write the server answered (in this process: a server life that ends cleanly)."""
    make_service(copy.root, None).write_file(STORY, path, data.decode())
    copy.sent[path].add(data)
    copy.current[path] = data


def killed_after_record(copy: StoryCopy, path: str, data: bytes) -> Call:
    """A server life killed inside write_file after the journal (and its write-ahead segment) recorded the write,
    with the temp file written but not yet renamed."""
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from storyfence.adapters.files import Folder
        from storyfence.cli import make_service

        def dying_replace(self, data, tmp):
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=self._fd)
            os.write(fd, data)
            os._exit(9)

        Folder.replace = dying_replace
        make_service(Path({str(copy.root)!r}), None).write_file({STORY!r}, {path!r}, {data.decode()!r})
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 9, proc.stderr
    copy.sent[path].add(data)
    return Call("write_file", {"story": STORY, "path": path, "content": data.decode()}, path, data)


def staged_beside(copy: StoryCopy, path: str) -> list[Path]:
    return sorted((copy.root / path).parent.glob(f"{TMP_PREFIX}*"))


@pytest.fixture
def killed_mid_write(copy: StoryCopy) -> tuple[StoryCopy, Checker]:
    """V1 acknowledged, then V2 recorded and a kill before its rename: the disk holds V1, the journal says V2."""
    checker = Checker(Summary())
    make_service(copy.root, None).begin_chunk(STORY, "stress chunk 1", "survive SIGKILL")
    acked_write(copy, TARGET, V1)
    checker.after_life(copy, None)
    inflight = killed_after_record(copy, TARGET, V2)
    assert (copy.root / TARGET).read_bytes() == V1
    assert len(staged_beside(copy, TARGET)) == 1
    checker.after_life(copy, inflight)
    assert checker.s.problems == []
    return copy, checker


def test_a_life_killed_before_its_first_transaction_leaves_a_recorded_write_unfinished_and_that_is_no_loss(
    killed_mid_write: tuple[StoryCopy, Checker],
) -> None:
    copy, checker = killed_mid_write
    # the next server is killed while it starts (or during story_status, which is read-only): no transaction ran,
    # so nothing finished the recorded write yet and the disk still holds the acknowledged V1
    make_service(copy.root, None).story_status(STORY)
    checker.after_life(copy, None)
    assert checker.s.problems == []
    assert checker.s.lost == 0
    # the next transaction finishes it, and the checker then holds the disk to the journal
    acked_write(copy, OTHER, b"export const stress_stress_2: number = 3;\n")
    checker.reconciled(copy)
    assert (copy.root / TARGET).read_bytes() == V2
    assert checker.s.problems == []
    checker.after_life(copy, None)
    assert checker.s.problems == []


def test_the_checker_still_reports_a_recorded_write_the_next_transaction_did_not_finish(
    killed_mid_write: tuple[StoryCopy, Checker],
) -> None:
    copy, checker = killed_mid_write
    for tmp in staged_beside(copy, TARGET):
        tmp.unlink()  # what a broken roll-forward would amount to: the recorded V2 never lands
    (copy.root / PATHS.wal).write_bytes(b"")  # nor can the write-ahead segment finish it
    make_service(copy.root, None).story_status(STORY)
    checker.after_life(copy, None)
    assert checker.s.problems == []  # no transaction yet: V1 is still right
    acked_write(copy, OTHER, b"export const stress_stress_2: number = 3;\n")
    checker.reconciled(copy)
    assert checker.s.lost == 1
    assert "not finished" in checker.s.problems[0]
    checker.s.problems.clear()
    checker.after_life(copy, None)  # after a transaction the old content is a loss again
    assert any("went back to an older content" in p for p in checker.s.problems)
