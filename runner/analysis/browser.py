"""Headless Chromium, for a look at the report as a reader's browser draws it: a screenshot at a given
width (`python -m runner.report --screenshot`) and the DOM after layout (the tests read it back)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

NAMES = ("chromium", "chromium-browser", "google-chrome")
WINDOW = "1400,900"


class BrowserError(RuntimeError):
    """Chromium is missing or did not render the page (one line)."""


def find_chromium() -> Optional[str]:
    return next((path for path in map(shutil.which, NAMES) if path), None)


def _run(args, timeout: float = 120) -> subprocess.CompletedProcess:
    browser = find_chromium()
    if browser is None:
        raise BrowserError("Chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:  # a fresh profile: nothing of a user's browser is read
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   "--no-first-run", f"--user-data-dir={profile}", *args]
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise BrowserError(f"Chromium did not finish within {timeout:.0f} s") from exc
    if out.returncode != 0:
        raise BrowserError(f"Chromium exited {out.returncode}: {out.stderr.strip().splitlines()[-1:]}")
    return out


def screenshot(page: Path, png: Path, window: str = WINDOW) -> Path:
    """The page's first screen at this window size, as a PNG."""
    _run([f"--window-size={window}", f"--screenshot={Path(png).resolve()}", Path(page).resolve().as_uri()])
    if not Path(png).is_file():
        raise BrowserError(f"Chromium wrote no screenshot to {png}")
    return Path(png)


def dump_dom(page: Path, window: str = WINDOW) -> str:
    """The DOM after the page's scripts ran, at this window size."""
    return _run([f"--window-size={window}", "--virtual-time-budget=3000", "--dump-dom",
                 Path(page).resolve().as_uri()]).stdout
