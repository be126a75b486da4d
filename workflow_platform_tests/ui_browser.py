"""Helpers for the browser test: the demo tenant served by dagster-webserver + dagster-daemon on loopback, and a
headless Chromium (Debian's /usr/bin/chromium driven by Playwright; no browser download) that opens UI pages,
saves a full-page screenshot of each and returns the text an operator sees."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from workflow_platform.demo.generate import DemoSummary, generate_demo_data
from workflow_platform_tests.test_daemon import BIN, REPO, graphql, location_loaded, wait_for
from workflow_platform_tests.test_definitions import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCATION = "workflow_platform"
VIEWPORT = {"width": 1600, "height": 1200}
MAX_SCREENSHOT_HEIGHT = 8000
IN_PROGRESS = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]
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


# --------------------------------------------------------------------------- services


@dataclass
class Services:
    """dagster-webserver + dagster-daemon on the demo tenant, started from the repo root as `make run` does."""

    root: Path
    summary: DemoSummary
    port: int = 0
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def logs(self, tail: int = 4000) -> str:
        parts = []
        for name in ("webserver", "daemon"):
            text = self.log(name).read_text(errors="replace") if self.log(name).exists() else "(no log)"
            parts.append(f"----- {name} log ({self.log(name)}, last {tail} chars) -----\n{text[-tail:]}")
        return "\n".join(parts)

    def start(self) -> None:
        home, data = self.root / "dagster_home", self.root / "data"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
        # Create the instance's SQLite storages once, here: the webserver, its code server and the daemon each
        # create them on a fresh DAGSTER_HOME, and when they race the schedule storage can end up with two
        # alembic heads ("Version table 'alembic_version' has more than one head present").
        with dg.DagsterInstance.from_config(str(home)):
            pass
        env = {**os.environ, "DAGSTER_HOME": str(home), "WORKFLOW_PLATFORM_DATA": str(data)}
        env.pop("WORKFLOW_PLATFORM_CATALOG", None)
        self.port = free_port()
        commands = {"webserver": [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(self.port)],
                    "daemon": [str(BIN / "dagster-daemon"), "run"]}
        for name, command in commands.items():
            with open(self.log(name), "w") as log:
                self.processes.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=log,
                                                       stderr=subprocess.STDOUT, start_new_session=True))
        wait_for(lambda: location_loaded(self.port), 120, "the webserver to load the code location")
        # the "Join the Dagster community" dialog a local webserver shows once would cover the first page
        graphql(self.port, "mutation { setNuxSeen }")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def launch(self, job: str) -> str:
        """Launch `job` over the generated window through GraphQL (as the Launchpad does); return the run id."""
        launched = graphql(self.port, """
            mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
              __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
            {"p": {"selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__",
                                "jobName": job},
                   "executionMetadata": {"tags": [
                       {"key": "workflow_platform/date_from", "value": self.summary.start.isoformat()},
                       {"key": "workflow_platform/date_to", "value": self.summary.end.isoformat()}]}}})
        assert launched["data"]["launchRun"]["__typename"] == "LaunchRunSuccess", launched
        return launched["data"]["launchRun"]["run"]["runId"]

    def run_status(self, run_id: str) -> str:
        return graphql(self.port, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
                       {"id": run_id})["data"]["runOrError"]["status"]

    def wait_for_run(self, run_id: str, timeout: float = 90) -> str:
        def finished():
            status = self.run_status(run_id)
            return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None

        try:
            return wait_for(finished, timeout, f"run {run_id} to finish")
        except AssertionError:
            return f"not finished after {timeout:.0f} s (status {self.run_status(run_id)})"

    def runs_in_progress(self) -> list[dict]:
        return graphql(self.port, """query($f: RunsFilter) { runsOrError(filter: $f) {
              ... on Runs { results { runId jobName status } } } }""",
                       {"f": {"statuses": IN_PROGRESS}})["data"]["runsOrError"]["results"]

    def latest_materialization(self, key: str) -> dict[str, object]:
        """The latest materialization's metadata of asset `key` ("domain/pos_orders") as the API reports it."""
        answer = graphql(self.port, """query($k: AssetKeyInput!) { assetOrError(assetKey: $k) {
              ... on Asset { assetMaterializations(limit: 1) { runId metadataEntries { label __typename
                ... on IntMetadataEntry { intValue } ... on MarkdownMetadataEntry { mdStr }
                ... on TableSchemaMetadataEntry { schema { columns { name type } } } } } } } }""",
                         {"k": {"path": key.split("/")}})
        materializations = answer["data"]["assetOrError"].get("assetMaterializations") or []
        if not materializations:
            return {}
        values: dict[str, object] = {"run_id": materializations[0]["runId"]}
        for entry in materializations[0]["metadataEntries"]:
            values[entry["label"]] = entry.get("intValue", entry.get("mdStr", entry.get("schema")))
        return values


def start_services(root: Path, days: int = 2, customers: int = 200, seed: int = 3) -> Services:
    summary = generate_demo_data(root / "data" / "landing", days=days, customers=customers, seed=seed)
    services = Services(root, summary)
    try:
        services.start()
    except BaseException:
        services.stop()
        print(services.logs())
        raise
    return services


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
