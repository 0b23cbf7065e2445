"""Headless Chromium (Debian's package) for the tests that look at a page the way a reviewer's browser would:
the DOM after the page loaded and any script had its chance to run, and a screenshot. Never a request out: every
host name resolves to nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT = 120.0


def chromium() -> str | None:
    """The first Chromium on PATH, if any."""
    return next((found for name in NAMES if (found := shutil.which(name))), None)


def require_chromium() -> str:
    found = chromium()
    if found is None:
        pytest.skip(
            "headless Chromium is not installed: `make setup` installs Debian's `chromium` when run as root "
            "(else: apt-get install chromium)"
        )
    return found


def _run(page: Path, profile: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    argv = [
        require_chromium(),
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
        *(["--no-sandbox"] if os.geteuid() == 0 else []),  # Chromium refuses to sandbox as root
        *flags,
        page.resolve().as_uri(),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def dump_dom(page: Path, profile: Path) -> str:
    """The page's DOM as Chromium serializes it once the page loaded and its timers and events ran (a virtual
    time budget, so an `onerror` or a timeout a script set fires before the dump)."""
    return _run(page, profile, "--virtual-time-budget=5000", "--dump-dom").stdout


def screenshot(page: Path, out: Path, profile: Path, *, width: int = 1280, height: int = 1600) -> Path:
    """A PNG of the page's first `height` pixels at `width`."""
    _run(page, profile, "--hide-scrollbars", f"--window-size={width},{height}", f"--screenshot={out}")
    return out


class Page(HTMLParser):
    """A page's markup as a browser builds it: its elements with their attributes, and its text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def attributes(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]
