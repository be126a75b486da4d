"""Helpers for the browser test: the demo tenant served by dagster-webserver + dagster-daemon on loopback, and a
headless Chromium (Debian's /usr/bin/chromium driven by Playwright) that visits UI pages, saves a full-page
screenshot of each and returns what an operator sees."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from workflow_platform.demo.generate import DemoSummary, generate_demo_data
from workflow_platform_tests.test_daemon import BIN, REPO, graphql, location_loaded, wait_for
from workflow_platform_tests.test_definitions import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCATION = "workflow_platform"


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
        missing.append("the playwright package (pip install playwright)")
    return missing


# --------------------------------------------------------------------------- services


@dataclass
class Services:
    """dagster-webserver + dagster-daemon on the demo tenant, started from the repo root like `make run`."""

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
            parts.append(f"----- {name} log (last {tail} chars) -----\n{text[-tail:]}")
        return "\n".join(parts)

    def start(self) -> None:
        home, data = self.root / "dagster_home", self.root / "data"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
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

    def wait_for_run(self, run_id: str, timeout: float = 90) -> str:
        def finished():
            status = graphql(self.port, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
                             {"id": run_id})["data"]["runOrError"]["status"]
            return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None

        try:
            return wait_for(finished, timeout, f"run {run_id} to finish")
        except AssertionError:
            return "not finished"


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


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


@dataclass
class Seen:
    """One visited page: its address, the screenshot saved of it and its visible text."""

    name: str
    url: str
    screenshot: Path
    text: str

    def excerpt(self, limit: int = 2500) -> str:
        text = re.sub(r"\n\s*\n+", "\n", self.text).strip()
        return text if len(text) <= limit else text[:limit] + f"\n... ({len(text) - limit} more chars)"

    def report(self, problem: str) -> str:
        return (f"{problem}\npage {self.name}: {self.url}\nscreenshot: {self.screenshot}\n"
                f"visible text:\n{self.excerpt()}")

    def missing(self, expected: Iterable[str]) -> list[str]:
        return [e for e in expected if e not in self.text]


class Browser:
    """A headless Chromium with one page; `visit` loads a route, waits until the expected texts render
    (the UI fills pages in after load), saves a full-page screenshot and returns what is visible."""

    def __init__(self, base_url: str, folder: Path, user_data_dir: Path | None = None):
        from playwright.sync_api import sync_playwright

        self.base_url, self.folder = base_url, folder
        self._profile = Path(user_data_dir or tempfile.mkdtemp(prefix="chromium-profile-"))
        self._playwright = sync_playwright().start()
        try:
            self.context = self._playwright.chromium.launch_persistent_context(
                str(self._profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1600, "height": 1000}, base_url=base_url)
        except BaseException:
            self._playwright.stop()
            raise
        self.context.set_default_timeout(20_000)
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        self.seen: list[Seen] = []

    def close(self) -> None:
        try:
            self.context.close()
        finally:
            self._playwright.stop()
            shutil.rmtree(self._profile, ignore_errors=True)

    def visible_text(self) -> str:
        return self.page.evaluate("() => document.body ? document.body.innerText : ''")

    def visit(self, name: str, route: str, expect: Iterable[str] = (), timeout: float = 30,
              before_screenshot=None) -> Seen:
        """Open `route`, wait up to `timeout` s until every text in `expect` is visible in the page (the
        innerText of the body: what an operator reads), then screenshot; returns the page as seen. Does not
        assert: the caller does, with `Seen.report` for the message."""
        expect = list(expect)
        self.page.goto(route, wait_until="domcontentloaded")
        deadline = time.monotonic() + timeout
        text = ""
        while True:
            text = self.visible_text()
            loading = not text.strip() or "Loading" in text and not expect
            if not loading and all(e in text for e in expect):
                break
            if time.monotonic() > deadline:
                break
            self.page.wait_for_timeout(500)
        if before_screenshot:
            before_screenshot(self.page)
            text = self.visible_text()
        self.page.wait_for_timeout(300)  # let the last layout settle before the picture
        shot = self.folder / f"{len(self.seen) + 1:02d}_{slug(name)}.png"
        self.page.screenshot(path=str(shot), full_page=True)
        seen = Seen(name, self.page.url, shot, self.visible_text() or text)
        self.seen.append(seen)
        print(f"screenshot: {shot}")
        return seen
