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


@pytest.fixture
def tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tenant:
    monkeypatch.setenv("WORKFLOW_PLATFORM_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("WORKFLOW_PLATFORM_WAREHOUSE", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return Tenant(tmp_path)


# real servers on loopback: S3 (moto in server mode), SFTP (asyncssh), a scripted webhook endpoint
from workflow_platform_tests.servers import s3_server, sftp_server, webhook_server  # noqa: E402, F401
