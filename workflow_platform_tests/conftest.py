"""Shared fixtures: a tenant in a temporary folder (catalog, landing files, warehouse) run for real."""

from __future__ import annotations

import datetime as dt
import gzip
import textwrap
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from workflow_platform.automation.runner import RunOutcome, run_workflow
from workflow_platform.catalog.loader import load_catalog
from workflow_platform.catalog.models import Catalog

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


def run_courier_group(defs: dg.Definitions, instance: dg.DagsterInstance, day: str,
                      group: str = "daily") -> dg.ExecuteInProcessResult:
    """The group's job for one day, as the schedule sensor would launch it."""
    return defs.resolve_job_def(f"courier_group__{group}").execute_in_process(
        instance=instance, raise_on_error=False,
        tags={"workflow_platform/date_from": day, "workflow_platform/date_to": day})


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


@pytest.fixture
def tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tenant:
    monkeypatch.setenv("WORKFLOW_PLATFORM_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("WORKFLOW_PLATFORM_WAREHOUSE", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return Tenant(tmp_path)


# real servers on loopback: S3 (moto in server mode), SFTP (asyncssh), a scripted webhook endpoint, Slack's Web API
from workflow_platform_tests.servers import s3_server, sftp_server, slack, webhook_server  # noqa: F401
