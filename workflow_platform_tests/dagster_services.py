"""The demo tenant served as an operator runs it: dagster-webserver + dagster-daemon from the repo root on
loopback, a fresh DAGSTER_HOME with the repo's dagster.yaml (or deploy/dagster.yaml, on PostgreSQL), and the
GraphQL calls tests make to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from workflow_platform.demo.generate import DemoSummary, generate_demo_data
from workflow_platform_tests.support import LOCAL_INSTANCE, PRODUCTION_INSTANCE, REPO, free_port, instance_home

LOCATION = "workflow_platform"
IN_PROGRESS = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]
BIN = Path(sys.executable).parent


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                     data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                     headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=10).read())


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def location_loaded(port: int) -> bool:
    """True once the webserver has loaded the code location (it answers before that, with no jobs yet)."""
    entries = graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                            "locationOrLoadError { __typename ... on PythonError { message } } } } } }")["data"]["workspaceOrError"]["locationEntries"]
    entry = next((e for e in entries if e["name"] == LOCATION), None)
    if entry and entry["loadStatus"] == "LOADED":
        assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
        return True
    return False




@dataclass
class Services:
    """dagster-webserver + dagster-daemon on the demo tenant, started from the repo root as `make run` does; on
    the production instance (PostgreSQL) as deploy/ deploys them: a code server of its own, which the webserver
    and the daemon reach through deploy/workspace.yaml, and where the runs execute."""

    root: Path
    summary: DemoSummary | None  # None: a tenant of the test's own (see `env`)
    port: int = 0
    processes: list[subprocess.Popen] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # set for both services last, e.g. WORKFLOW_PLATFORM_CATALOG
    instance_yaml: Path = LOCAL_INSTANCE  # PRODUCTION_INSTANCE: PostgreSQL storage (conftest's `instance_yaml`)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def deployed(self) -> bool:
        return self.instance_yaml == PRODUCTION_INSTANCE

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def logs(self, tail: int = 4000) -> str:
        parts = []
        for name in ("code", "webserver", "daemon") if self.deployed else ("webserver", "daemon"):
            text = self.log(name).read_text(errors="replace") if self.log(name).exists() else "(no log)"
            parts.append(f"----- {name} log ({self.log(name)}, last {tail} chars) -----\n{text[-tail:]}")
        return "\n".join(parts)

    def start(self) -> None:
        home, data = instance_home(self.root / "dagster_home", self.instance_yaml), self.root / "data"
        env = {**os.environ, "DAGSTER_HOME": str(home), "WORKFLOW_PLATFORM_DATA": str(data)}
        env.pop("WORKFLOW_PLATFORM_CATALOG", None)
        env.update(self.env)
        self.port = free_port()
        commands = {"webserver": [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(self.port)],
                    "daemon": [str(BIN / "dagster-daemon"), "run"]}
        if self.deployed:
            workspace = self._start_code_server(env)
            for command in commands.values():
                command += ["-w", str(workspace)]
        for name, command in commands.items():
            self._spawn(name, command, env)
        wait_for(lambda: location_loaded(self.port), 180, "the webserver to load the code location")
        # the "Join the Dagster community" dialog a local webserver shows once would cover the first page
        graphql(self.port, "mutation { setNuxSeen }")

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        with open(self.log(name), "w") as log:
            process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.processes.append(process)
        return process

    def _start_code_server(self, env: dict[str, str]) -> Path:
        """The code server as deploy/docker-compose.yaml starts it (on loopback and a free port), and
        deploy/workspace.yaml pointed at it; returns that workspace file."""
        port = free_port()
        compose = yaml.safe_load((REPO / "deploy" / "docker-compose.yaml").read_text())
        command = compose["services"]["code"]["command"]
        command = [str(BIN / command[0]), *command[1:]]
        command[command.index("-h") + 1], command[command.index("-p") + 1] = "127.0.0.1", str(port)
        self._spawn("code", command, env)
        workspace = yaml.safe_load((REPO / "deploy" / "workspace.yaml").read_text())
        workspace["load_from"][0]["grpc_server"].update(host="127.0.0.1", port=port)
        (self.root / "workspace.yaml").write_text(yaml.safe_dump(workspace))
        health = [str(BIN / "dagster"), "api", "grpc-health-check", "-h", "127.0.0.1", "-p", str(port)]
        wait_for(lambda: subprocess.run(health, check=False, capture_output=True, env=env).returncode == 0, 120,
                 "the code server to serve")
        return self.root / "workspace.yaml"

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

    def run_after(self, run_id: str, timeout: float = 90) -> dict:
        """The run a sensor launched after run `run_id` (tag upstream_run_id), waited for: {runId, jobName, tags}."""
        def launched():
            runs = graphql(self.port, """query($f: RunsFilter) { runsOrError(filter: $f) {
                  ... on Runs { results { runId jobName tags { key value } } } } }""",
                           {"f": {"tags": [{"key": "upstream_run_id", "value": run_id}]}})
            return (runs["data"]["runsOrError"]["results"] or [None])[0]

        return wait_for(launched, timeout, f"a run after {run_id}")

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


def _started(services: Services) -> Services:
    try:
        services.start()
    except BaseException:
        services.stop()
        print(services.logs())
        raise
    return services


def start_services(root: Path, days: int = 2, customers: int = 200, seed: int = 3) -> Services:
    summary = generate_demo_data(root / "data" / "landing", days=days, customers=customers, seed=seed)
    return _started(Services(root, summary))


def start_services_for(root: Path, catalog: Path, env: dict[str, str] | None = None,
                       instance_yaml: Path = LOCAL_INSTANCE) -> Services:
    """The services on the tenant of `catalog`, whose data folder is `<root>/data` (landing files already there),
    on the instance of `instance_yaml`."""
    return _started(Services(root, None, env={"WORKFLOW_PLATFORM_CATALOG": str(catalog), **(env or {})},
                             instance_yaml=instance_yaml))
