"""The small typed ports between the application and the adapters it drives.

The application depends on these Protocols, not on the classes behind them, so a test can inject a fake:
a typecheck runner that answers at once drives a story to BLOCKED or COMPLETE without pnpm.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from storyfence.core.models import CommandRun

Progress = Callable[[str], Awaitable[None]]
"""Reports a line of progress to the client while a long command runs."""


class RunCommand(Protocol):
    """Runs one typecheck command and classifies it: passed, failed (type errors), tooling_error, timeout."""

    async def __call__(
        self,
        argv: tuple[str, ...],
        *,
        package: str,
        package_dir: str,
        package_dirs: Mapping[str, str] | None = None,
        cwd: Path,
        timeout: float,
        output_cap: int,
        progress: Progress | None = None,
    ) -> CommandRun: ...


@dataclass(frozen=True)
class Staged:
    """A write whose synced content waits in `tmp` (a name in the target's directory) for `commit`."""

    rel: str
    tmp: str
    existed: bool


class WritableFolder(Protocol):
    """The open folder of one file a small write replaces (see StoryFiles.writable): checked once, written into
    once, then closed, so the write lands in the very folder that was checked."""

    existed: bool  # the target was a regular file when the folder was opened (False: nothing there)

    def replace(self, data: bytes, tmp: str) -> None: ...

    def __enter__(self) -> WritableFolder: ...

    def __exit__(self, *exc: object) -> None: ...


class StoryFiles(Protocol):
    """What a story's store needs of the repo's files: confined, atomic, never through a link."""

    def writable(self, rel: str) -> WritableFolder: ...

    def read_current(self, rel: str, *, cap: int) -> bytes | None: ...

    def sync_path(self, rel: str) -> None: ...

    def stage(self, rel: str, data: bytes, tmp: str) -> Staged: ...

    def commit(self, staged: Staged) -> None: ...

    def discard(self, staged: Staged) -> None: ...

    def write_atomic(self, rel: str, data: bytes, tmp: str) -> bool: ...

    def roll_forward(self, rel: str, tmp: str) -> bool: ...

    def identity(self, rel: str) -> str: ...

    def delete(self, rel: str, identity: str, *, durable: bool = True) -> bool: ...

    def remove_stale(self, rel: str, tmp: str) -> bool: ...

    def read_bytes(self, rel: str, *, cap: int) -> bytes: ...
