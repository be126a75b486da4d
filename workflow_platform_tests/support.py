"""What several test modules share: the tenant under tmp_path, catalog builders, the courier-group and customer
tenants, alert channels, free ports and the real dagster-daemon. Fixtures stay in conftest.py; test modules import
the rest from here, never from each other."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import dagster as dg
import duckdb

from workflow_platform.alerts.model import Alert
from workflow_platform.alerts.resource import AlertChannelsResource
from workflow_platform.automation.jobs import BUILD_JOB
from workflow_platform.catalog.loader import load_catalog
from workflow_platform.catalog.models import Alerts, Catalog, Recipients
from workflow_platform.definitions import build_definitions
from workflow_platform.runner import RunOutcome, run_workflow

REPO = Path(__file__).resolve().parents[1]
BUILD_SENSOR = "courier_groups__build"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], T], timeout: float) -> T | None:
    """The first truthy value of `predicate`, polled every second; None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(1)
    return None


# ---------------------------------------------------------------------------------------------- the tenant


@dataclass
class Tenant:
    """A tenant under tmp_path: `catalog/`, `data/landing/`, `data/warehouse.duckdb`."""

    root: Path

    @property
    def catalog_dir(self) -> Path:
        return self.root / "catalog"

    @property
    def landing(self) -> Path:
        return self.root / "data" / "landing"

    @property
    def warehouse(self) -> Path:
        return self.root / "data" / "warehouse.duckdb"

    def write_catalog(self, text: str, name: str = "catalog.yaml") -> Path:
        path = self.catalog_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def land(self, relative: str, content: str | bytes, gzipped: bool = False, encoding: str = "utf-8") -> Path:
        path = self.landing / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content if isinstance(content, bytes) else textwrap.dedent(content).lstrip().encode(encoding)
        path.write_bytes(gzip.compress(data) if gzipped else data)
        return path

    def catalog(self) -> Catalog:
        return load_catalog(self.catalog_dir)

    def run(self, day: str | dt.date | None = None, until: str | None = None, **options) -> RunOutcome:
        window = None
        if day:
            start = dt.date.fromisoformat(str(day))
            window = (start, dt.date.fromisoformat(until) if until else start)
        with dg.instance_for_test() as instance:
            return run_workflow(self.catalog(), window=window, warehouse=str(self.warehouse), instance=instance,
                                **options)

    def query(self, sql: str, params=None) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as conn:
            return conn.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params=None):
        return self.query(sql, params)[0][0]

    def quarantined(self) -> dict[str, str]:
        """Files in the landing location's quarantine folder (timestamp prefix dropped) -> their reason file."""
        folder = self.landing / "_quarantine"
        found = {}
        for reason in sorted(folder.rglob("*.reason.txt")) if folder.exists() else []:
            moved = reason.with_name(reason.name.removesuffix(".reason.txt"))
            assert moved.exists(), f"{moved} has a reason file but is not there"
            relative = moved.relative_to(folder)
            found[str(relative.with_name(relative.name.split("-", 1)[1]))] = reason.read_text()
        return found

    def manifest(self, courier: str) -> list[tuple]:
        """(file, status, rows_loaded) from audit.files, oldest first."""
        return self.query("SELECT file, status, rows_loaded FROM audit.files WHERE courier = ? ORDER BY recorded_at, "
                          "file", [courier])


@dataclass
class GroupRun:
    """A courier group's workflow run in-process: its load, then the build run that follows it (if any)."""

    load: dg.ExecuteInProcessResult
    build: dg.ExecuteInProcessResult | None

    @property
    def results(self) -> list[dg.ExecuteInProcessResult]:
        return [self.load] + ([self.build] if self.build else [])

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def run_id(self) -> str:
        """The run that completed the workflow (an orchestration group after the group starts on it)."""
        return self.results[-1].run_id

    def get_asset_check_evaluations(self) -> list:
        return [e for r in self.results for e in r.get_asset_check_evaluations()]


def run_courier_group(defs: dg.Definitions, instance: dg.DagsterInstance, day: str,
                      group: str = "daily") -> GroupRun:
    """The group's job for one day, as the schedule sensor would launch it, then the build run that sensor
    courier_groups__build requests after it (the sensor is evaluated against the instance, as the daemon does)."""
    sensor = next((s for s in defs.sensors if s.name == BUILD_SENSOR), None)
    before = evaluate_sensor(defs, instance, BUILD_SENSOR, None).cursor if sensor else None
    load = defs.resolve_job_def(f"courier_group__{group}").execute_in_process(
        instance=instance, raise_on_error=False,
        tags={"workflow_platform/date_from": day, "workflow_platform/date_to": day})
    requests = evaluate_sensor(defs, instance, BUILD_SENSOR, before).run_requests if sensor else []
    build = None
    for request in requests:  # one at most: its run key is the load's run id
        assert request.run_key == load.run_id
        build = defs.resolve_job_def(BUILD_JOB).execute_in_process(
            instance=instance, raise_on_error=False, tags=request.tags, asset_selection=request.asset_selection)
    return GroupRun(load, build)


def evaluate_sensor(defs: dg.Definitions, instance: dg.DagsterInstance, name: str, cursor: str | None,
                    resources: dict | None = None):
    """One tick of sensor `name` against the instance, as the daemon evaluates it."""
    context = dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor, resources=resources)
    return defs.resolve_sensor_def(name).evaluate_tick(context)


# ---------------------------------------------------------------------------------------- catalog builders


def dated_couriers(*names: str, options: dict[str, str] | None = None) -> str:
    """The `couriers:` section: courier `<name>` reads `<name>_<yyyyMMdd>.csv` into feed `<name>`; `options` adds
    a line (e.g. "optional: true") to the courier of that name."""
    lines = ["couriers:"]
    for name in names:
        lines += [f"  - name: {name}", f"    pattern: \"'{name}_'yyyyMMdd'.csv'\"", f"    feed: {name}"]
        if name in (options or {}):
            lines.append(f"    {options[name]}")
    return "\n" + "\n".join(lines) + "\n"


def people_catalog(columns: list[str], feed_options: list[str] = (), rest: str = "") -> str:
    """Courier `shop` (`in/c_<yyyyMMdd>.csv`) into feed `people` with `columns` (YAML flow mappings), then `rest`."""
    return "\n".join([
        "", "couriers:", "  - name: shop", "    pattern: \"'in/c_'yyyyMMdd'.csv'\"", "    feed: people",
        "feeds:", "  - name: people", "    source: shop", *(f"    {option}" for option in feed_options),
        "    columns:", *(f"      - {column}" for column in columns),
    ]) + "\n" + rest


def separation_catalog(phone: bool = False, resolver: str | None = None) -> str:
    """Feeds `web` (with an sk-region separation key) and `club`, both with names and email (and phone), into a
    customer_360; `resolver` sets stitch.resolver."""
    contact = ["      - {name: first, tag: given-name}", "      - {name: last, tag: surname}",
               "      - {name: email, tag: email}", *(["      - {name: phone, tag: phone}"] if phone else [])]
    return "\n".join([
        "", "couriers:",
        "  - {name: web, pattern: \"'web_'yyyyMMdd'.csv'\", feed: web}",
        "  - {name: club, pattern: \"'club_'yyyyMMdd'.csv'\", feed: club}",
        "feeds:",
        "  - name: web", "    source: web", "    columns:", "      - {name: id, tag: pk}", *contact,
        "      - {name: region, tag: sk-region}",
        "  - name: club", "    source: club", "    columns:", "      - {name: member, tag: pk}", *contact,
        *(["stitch:", f"  resolver: {resolver}"] if resolver else []),
        "databases:", "  - {name: c360, type: customer_360}",
    ]) + "\n"


# ------------------------------------------------------------------- the customer tenant (courier `shop`)

CUSTOMER_FEED = """
feeds:
  - name: customers
    source: shop
    last_updated: updated_at
    columns:
      - {name: id, type: string, tag: pk}
      - {name: first_name, tag: given-name}
      - {name: last_name, tag: surname}
      - {name: email, tag: email}
      - {name: phone, tag: phone}
      - {name: birth_date, type: date, tag: birthdate}
      - {name: updated_at, type: datetime}
"""


# a tenant with customers, Stitch and a customer_360: `shop` files `in/c_<yyyyMMdd>.csv`, courier group `daily`
CUSTOMER_SOURCE = f"""
couriers:
  - name: shop
    pattern: "'in/c_'yyyyMMdd'.csv'"
    feed: customers
{CUSTOMER_FEED}
databases:
  - name: c360
    type: customer_360
courier_groups:
  - name: daily
    couriers: [shop]
"""
CUSTOMER_HEADER = "id,first_name,last_name,email,phone,birth_date,updated_at"


def customer_file(rows: int) -> str:
    """A `shop` file of `rows` different people."""
    lines = [f"{n},Ann{n},Lee{n},ann{n}@example.org,555{n:07d},1990-01-01,2026-01-01 00:00:00"
             for n in range(1, rows + 1)]
    return "\n".join([CUSTOMER_HEADER, *lines]) + "\n"


def tenant_catalog(activations: str, segment_options: str = "") -> str:
    """The customer tenant with segment `everyone` (every customer) and the activations YAML `activations`."""
    return f"""
{CUSTOMER_SOURCE}
segments:
  - name: everyone
    sql: SELECT customer_id, given_name, surname, email FROM c360.customer_360
    {segment_options}
alerts:
  courier_groups:
    slack: ["#data-alerts"]
{activations}
"""


def build_audience(tenant: Tenant, rows: int, activations: str, segment_options: str = ""):
    """Write the catalog, land `rows` customers and run the courier group: segment `everyone` is ready."""
    tenant.write_catalog(tenant_catalog(activations, segment_options))
    tenant.land("in/c_20260105.csv", customer_file(rows))
    defs = build_definitions(tenant.catalog(), str(tenant.warehouse))
    with dg.instance_for_test() as instance:
        return defs, run_courier_group(defs, instance, "2026-01-05")


def run_job(defs, name: str, *keys: str) -> dg.ExecuteInProcessResult:
    selection = [dg.AssetKey(k.split("/")) for k in keys] or None
    with dg.instance_for_test() as instance:
        return defs.resolve_job_def(name).execute_in_process(instance=instance, raise_on_error=False,
                                                             asset_selection=selection)


def step_events(result: dg.ExecuteInProcessResult, kind: dg.DagsterEventType) -> list:
    return [e for e in result.all_events if e.event_type == kind]


# ------------------------------------------------- the courier group `daily` of couriers `web` and `club`

COURIER_GROUP_CATALOG = dated_couriers("web", "club", options={"club": "optional: {club_optional}"}) + """\
feeds:
  - name: web
    source: web
    columns: [{{name: id, tag: pk}}]
  - name: club
    source: club
    columns: [{{name: id, tag: pk}}]
courier_groups:
  - name: daily
    schedule: "{schedule}"
    active: {active}
    couriers:
      - {{courier: web, wait: 2 hours, stop_when_missing: {stop}}}
      - {{courier: club, wait: 0 seconds}}
alerts:
  courier_groups:
    slack: ["#data-alerts"]
"""
TICK = dt.datetime(2026, 1, 6, 6, 0, tzinfo=dt.UTC)  # window of a 1-day look-back: 2026-01-05


def group(tenant: Tenant, stop=False, club_optional=False, schedule="0 6 * * *", active=True):
    """Write COURIER_GROUP_CATALOG: (the catalog, its group `daily`)."""
    tenant.write_catalog(COURIER_GROUP_CATALOG.format(
        stop=str(stop).lower(), club_optional=str(club_optional).lower(), schedule=schedule,
        active=str(active).lower()))
    catalog = tenant.catalog()
    return catalog, catalog.courier_groups[0]


def land(tenant: Tenant, *names: str, day: str = "20260105") -> None:
    """One-row files `<name>_<day>.csv` for the couriers of COURIER_GROUP_CATALOG."""
    for name in names:
        tenant.land(f"{name}_{day}.csv", "id\n1\n")


# ----------------------------------------------------------------------------------------------- alerts

# the catalog refuses an address outside allowed_email_domains; delivery filters again in case one gets through
SETTINGS = Alerts.model_construct(
    allowed_email_domains=["acme.example"],
    courier_groups=Recipients(email=["data@acme.example", "someone@elsewhere.example"], slack=["#data-alerts"]),
    orchestration_groups=Recipients(), campaigns=Recipients(),
)
ALERT = Alert(kind="missing_files", severity="error", audience="courier_groups", group="daily",
              cause="no file matching pos/2026/01/05/orders-*.csv for 2026-01-05", action="drop the file", run_id="abc")


class Inbox:
    """An aiosmtpd handler that keeps (recipients, content) of every message."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


def channels(slack, smtp: Inbox | None) -> AlertChannelsResource:
    """Alert channels to a servers.SlackServer and an Inbox's SMTP port (None: that channel is off)."""
    return AlertChannelsResource(slack_token="xoxb-test" if slack else None,
                                 slack_api_url=slack.url if slack else "http://127.0.0.1:9/",
                                 smtp_host="127.0.0.1" if smtp else None, smtp_port=smtp.port if smtp else 25)


# ------------------------------------------------------------------------------- the real dagster-daemon


LOCAL_INSTANCE = REPO / ".dagster_home" / "dagster.yaml"  # SQLite storage, as `make run` uses it
PRODUCTION_INSTANCE = REPO / "deploy" / "dagster.yaml"  # PostgreSQL storage (conftest's `instance_yaml`)


def instance_home(home: Path, instance_yaml: Path = LOCAL_INSTANCE) -> Path:
    """`home` as a DAGSTER_HOME with `instance_yaml` as its dagster.yaml, and its storages created here, once: the
    webserver, its code server and the daemon each create them on a fresh instance, and when they race the
    schedule storage can end up with two alembic heads ("Version table 'alembic_version' has more than one head
    present")."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(instance_yaml, home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)):
        pass
    return home


def daemon_tenant(root: Path, instance_yaml: Path = LOCAL_INSTANCE) -> tuple[Path, Path, Path]:
    """(DAGSTER_HOME with `instance_yaml` and its storages created, data folder with `landing/`, catalog folder)
    under `root`."""
    home, data, catalog = instance_home(root / "home", instance_yaml), root / "data", root / "catalog"
    for folder in (data / "landing", catalog):
        folder.mkdir(parents=True)
    return home, data, catalog


def daemon_env(home: Path, data: Path, catalog: Path, slack_url: str, **extra: str) -> dict[str, str]:
    """The daemon's environment: the tenant, 5-second sensors, Slack at `slack_url`, and `extra`."""
    return {**os.environ, "DAGSTER_HOME": str(home), "WORKFLOW_PLATFORM_DATA": str(data),
            "WORKFLOW_PLATFORM_CATALOG": str(catalog), "WORKFLOW_PLATFORM_SENSOR_INTERVAL": "5",
            "WORKFLOW_PLATFORM_SLACK_TOKEN": "xoxb-test", "WORKFLOW_PLATFORM_SLACK_API_URL": slack_url, **extra}


@contextmanager
def dagster_daemon(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run` from the repo root with `env`, its output in `log_path`; stopped on leaving (SIGTERM to
    its process group, SIGKILL when it has not stopped within a minute)."""
    with open(log_path, "w") as log:
        daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run"], cwd=REPO, env=env,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield daemon
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait(timeout=30)
