"""Where storyfence runs: Linux and macOS. Elsewhere the command says so in one line; on macOS the syncs the
crash guarantees rest on use F_FULLFSYNC (fsync there does not reach the disk). The platform is faked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storyfence import cli
from storyfence.adapters import durable


def test_an_unsupported_platform_gets_one_line_that_names_wsl(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli.sys, "platform", "win32")
    assert cli.main(["serve", "--help"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "not supported" in err
    assert "WSL" in err


@pytest.mark.parametrize("sync", [durable.sync_data, durable.sync_dir])
def test_macos_syncs_ask_the_drive_to_flush(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sync: object) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(durable.sys, "platform", "darwin")
    monkeypatch.setattr(durable.fcntl, "fcntl", lambda fd, op, *_: calls.append((fd, op)) or 0)
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        sync(fd)  # type: ignore[operator]
    finally:
        os.close(fd)
    assert calls == [(fd, durable.F_FULLFSYNC)]
    assert durable.F_FULLFSYNC == 51


def test_linux_syncs_use_fdatasync_and_fsync(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[str] = []
    monkeypatch.setattr(durable.sys, "platform", "linux")
    monkeypatch.setattr(durable.fcntl, "fcntl", lambda *_: seen.append("fcntl"))
    monkeypatch.setattr(durable.os, "fdatasync", lambda fd: seen.append("fdatasync"), raising=False)
    monkeypatch.setattr(durable.os, "fsync", lambda fd: seen.append("fsync"))
    durable.sync_data(3)
    durable.sync_dir(3)
    assert seen == ["fdatasync", "fsync"]
