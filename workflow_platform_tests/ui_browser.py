"""Helpers for the browser test: the demo tenant served by dagster-webserver + dagster-daemon on loopback, and a
headless Chromium (Debian's /usr/bin/chromium driven by Playwright; no browser download) that opens UI pages,
saves a full-page screenshot of each and returns the text an operator sees."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from workflow_platform_tests.dagster_services import REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1600, "height": 1200}
MAX_SCREENSHOT_HEIGHT = 8000
# texts the UI shows while it is still fetching: a page is not settled while one is visible
BUSY = ("Loading", "fetching statuses", "Refreshing data")


def artifacts_dir() -> Path:
    """Where screenshots go: $WORKFLOW_PLATFORM_TEST_ARTIFACTS, else <repo>/test-artifacts/ui."""
    folder = Path(os.environ.get("WORKFLOW_PLATFORM_TEST_ARTIFACTS") or REPO / "test-artifacts" / "ui")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def missing_browser_pieces() -> list[str]:
    """What the browser test needs and this machine lacks (empty when it can run)."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (pip install playwright)")
    return missing


# --------------------------------------------------------------------------- browser

# the height a page needs to show everything: the UI scrolls inside elements, not the document, so a
# "full page" screenshot of the document alone would stop at the viewport
CONTENT_HEIGHT = """() => {
  let height = document.documentElement.scrollHeight;
  for (const el of document.querySelectorAll('*')) {
    const style = getComputedStyle(el);
    if ((style.overflowY === 'auto' || style.overflowY === 'scroll') && el.scrollHeight > el.clientHeight + 2) {
      const box = el.getBoundingClientRect();
      height = Math.max(height, box.top + el.scrollHeight + (window.innerHeight - box.bottom));
    }
  }
  return Math.ceil(height);
}"""


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def steady(text: str) -> str:
    """Visible text without what changes by itself: refresh countdowns ("0:59"), relative times ("13 seconds ago")."""
    text = re.sub(r"(?m)^\s*\d{1,2}:\d\d\s*$", "", text)
    return re.sub(r"\b(?:\d+|an?) (?:second|minute|hour|day)s? ago\b", "ago", text)


@dataclass
class Seen:
    """One visited page: its address, the screenshot saved of it and its visible text."""

    name: str
    url: str
    screenshot: Path
    text: str

    def excerpt(self, limit: int = 3000) -> str:
        """The visible text on a few lines: the UI's short labels joined with " | "."""
        text = " | ".join(line.strip() for line in self.text.splitlines() if line.strip(" \t\u200b"))
        return text if len(text) <= limit else text[:limit] + f"\n... ({len(text) - limit} more characters)"

    def missing(self, expected: Iterable[str]) -> list[str]:
        return [e for e in expected if e not in self.text]

    def report(self, problem: str) -> str:
        return (f"{problem}\npage '{self.name}': {self.url}\nscreenshot: {self.screenshot}\n"
                f"visible text (excerpt):\n{self.excerpt()}")


class Browser:
    """Headless Chromium with one tab. `visit` opens a route, waits until the expected texts are visible,
    lets the page settle, saves a full-page screenshot under `folder` and returns what is visible."""

    def __init__(self, base_url: str, folder: Path):
        from playwright.sync_api import sync_playwright

        self.base_url, self.folder = base_url, folder
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))  # a fresh user-data-dir
        self._playwright = sync_playwright().start()
        try:
            self.context = self._playwright.chromium.launch_persistent_context(
                str(self.profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
                viewport=VIEWPORT, base_url=base_url, timezone_id="UTC")
        except BaseException:
            self._playwright.stop()
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        self.context.set_default_timeout(20_000)
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()

    def close(self) -> None:
        try:
            self.context.close()
        finally:
            self._playwright.stop()
            shutil.rmtree(self.profile, ignore_errors=True)

    def visible_text(self) -> str:
        return self.page.evaluate("() => document.body ? document.body.innerText : ''")

    def wait_for_texts(self, expected: Iterable[str], timeout: float) -> str:
        expected = list(expected)
        deadline = time.monotonic() + timeout
        while True:
            text = self.visible_text()
            if text.strip() and all(e in text for e in expected) or time.monotonic() > deadline:
                return text
            self.page.wait_for_timeout(250)

    def settle(self, quiet: float = 1.0, timeout: float = 10) -> None:
        """Wait until the visible text stops changing for `quiet` s and no loading marker is left."""
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            text = steady(self.visible_text())
            if text != last:
                last, since = text, time.monotonic()
            elif time.monotonic() - since >= quiet and not any(marker in text for marker in BUSY):
                return
            self.page.wait_for_timeout(250)

    def fit_to_content(self) -> bool:
        """Grow the viewport to the page's content; True if it changed."""
        height = min(max(self.page.evaluate(CONTENT_HEIGHT), VIEWPORT["height"]), MAX_SCREENSHOT_HEIGHT)
        if abs(height - self.page.viewport_size["height"]) <= 16:  # a few pixels of overflow: nothing hidden
            return False
        self.page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
        self.page.wait_for_timeout(300)
        return True

    def snapshot(self, name: str, fit: bool = True) -> Seen:
        """Screenshot of the page as it is now (grown to its content when `fit`), and its visible text."""
        try:
            if fit and self.fit_to_content():
                self.settle(quiet=0.5, timeout=5)  # lists render the rows that now fit
                self.fit_to_content()
            shot = self.folder / f"{slug(name)}.png"
            self.page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
            return Seen(name, self.page.url, shot, self.visible_text())
        finally:
            if self.page.viewport_size != VIEWPORT:
                self.page.set_viewport_size(VIEWPORT)

    def visit(self, name: str, route: str, expect: Iterable[str] = (), ready: Iterable[str] = (),
              action: Callable | None = None, fit: bool = True, timeout: float = 30) -> Seen:
        """Open `route`; wait for the `ready` texts, run `action(page)` if given, wait for the `expect` texts
        and for the page to settle; then screenshot. Asserts nothing: check `Seen.missing(...)`."""
        self.page.goto(route, wait_until="domcontentloaded")
        deadline = time.monotonic() + timeout
        self.wait_for_texts(ready, timeout)
        if action:
            action(self.page)
        self.wait_for_texts(expect, max(deadline - time.monotonic(), 2))
        self.settle()
        if fit and self.fit_to_content():  # rows of virtualized lists below the fold exist once they fit
            self.wait_for_texts(expect, max(deadline - time.monotonic(), 2))
            self.settle(quiet=0.5, timeout=5)
        return self.snapshot(name, fit=fit)
