"""Dagster resources: the warehouse, a DuckDB file (one writer process at a time) or a DuckLake (many)."""

from __future__ import annotations

import importlib
import os
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster_duckdb import DuckDBResource

from workflow_platform import settings
from workflow_platform.settings import warehouse_memory_limit

WAREHOUSE_POOL = "warehouse"
LAKE_NAME = "warehouse"  # the DuckLake's name in a connection (ATTACH ... AS warehouse; USE warehouse)

# the wheels that ship DuckDB's extension binaries (pip install workflow_platform[ducklake]) and the names DuckDB
# loads them by: the postgres binary's entry point is named after `postgres_scanner`, so it must be found as that
EXTENSION_WHEELS = {"ducklake": "ducklake", "postgres": "postgres_scanner", "sqlite_scanner": "sqlite_scanner"}


def load_pool(feed_or_courier: str) -> str:
    """The pool of a load step (load__<feed>, courier__<c>). A DuckDB file has one writer process: every writing
    step shares the `warehouse` pool (limit 1). On a DuckLake, loads of different feeds commit concurrently, so
    each load step has a pool of its own, `warehouse__<feed>` (limit 1 through the instance's
    `concurrency.pools.default_limit: 1`): two runs never load the same feed at once, which keeps a file from
    being loaded twice (two first loads only insert, and DuckLake lets concurrent inserts both commit)."""
    return WAREHOUSE_POOL if settings.warehouse_kind() == "duckdb" else f"{WAREHOUSE_POOL}__{feed_or_courier}"


class ExtensionsMissing(RuntimeError):
    """The ducklake warehouse needs DuckDB's extension wheels, which are not installed."""


def extension_directory() -> str:
    """A DuckDB extension directory made of links to the binaries of the `duckdb-extension-*` wheels, laid out as
    DuckDB looks for them (v<version>/<platform>/<name>.duckdb_extension), so they load with no download."""
    probe = duckdb.connect()
    platform = probe.execute("PRAGMA platform").fetchone()[0]
    probe.close()
    root = Path(tempfile.gettempdir()) / f"workflow_platform_duckdb_extensions_{os.getuid()}"
    target = root / f"v{duckdb.__version__}" / platform
    target.mkdir(parents=True, exist_ok=True)
    for wheel, name in EXTENSION_WHEELS.items():
        try:
            module = importlib.import_module(f"duckdb_extension_{wheel}")
        except ImportError:
            if wheel == "ducklake":
                raise ExtensionsMissing(
                    "WORKFLOW_PLATFORM_WAREHOUSE_KIND=ducklake needs DuckDB's ducklake extension for DuckDB "
                    f"{duckdb.__version__}: pip install 'workflow_platform[ducklake]'") from None
            continue
        binary = next(Path(module.__path__[0]).rglob(f"v{duckdb.__version__}/*.duckdb_extension"), None)
        if binary is None:
            raise ExtensionsMissing(f"duckdb-extension-{wheel} does not match DuckDB {duckdb.__version__}: "
                                    "pip install 'workflow_platform[ducklake]'")
        link = target / f"{name}.duckdb_extension"
        if not link.exists():
            tmp = target / f".{name}.{os.getpid()}"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(binary)
            tmp.replace(link)  # atomic: processes starting together agree
    return str(root)


class WarehouseTooNew(Exception):
    """The warehouse file was written by a newer DuckDB than the installed one."""


class WarehouseResource(DuckDBResource):
    """The warehouse connection, always closed, so an exception never leaks the file lock.

    `kind` duckdb: the DuckDB file `database`. `kind` ducklake: an in-memory DuckDB (temporary tables, spilling)
    with the DuckLake `lake_catalog` / `lake_data` attached and in use, so the same unqualified SQL (domain.x,
    audit.files) reads and writes the lake; `database` is then unused."""

    lock_wait_seconds: float = 120.0
    kind: str = "duckdb"
    lake_catalog: str = ""
    lake_data: str = ""

    @classmethod
    def from_settings(cls, database: str | None = None) -> WarehouseResource:
        """The warehouse the environment names (settings.py): WORKFLOW_PLATFORM_WAREHOUSE_KIND and its places."""
        kind = settings.warehouse_kind()
        return cls(database=str(database or settings.warehouse_path()), kind=kind,
                   lake_catalog=settings.lake_catalog() if kind == "ducklake" else "",
                   lake_data=settings.lake_data() if kind == "ducklake" else "")

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection, closed however the block ends. While another process holds DuckDB's
        file lock, retry with backoff for up to `lock_wait_seconds`."""
        config = {"custom_user_agent": "workflow_platform", "memory_limit": warehouse_memory_limit(),
                  **self.connection_config}
        if self.kind == "ducklake":
            conn = self._lake_connection(config)
        else:
            conn = self._file_connection(config)
        try:
            yield conn
        finally:
            conn.close()

    def _file_connection(self, config: dict) -> duckdb.DuckDBPyConnection:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        deadline, delay = time.monotonic() + self.lock_wait_seconds, 0.1
        while True:
            try:
                return duckdb.connect(self.database, config=config)
            except duckdb.IOException as exc:
                if "created with an newer version" in str(exc) or "newer version of DuckDB" in str(exc):
                    raise WarehouseTooNew(
                        f"the warehouse {self.database} was written by a newer DuckDB than this platform's "
                        f"({duckdb.__version__}; DuckDB 2.x files cannot be read by 1.5): export it with the DuckDB "
                        "that wrote it (EXPORT DATABASE) and IMPORT DATABASE into a new file, or for the demo start "
                        "over with `make reset`") from None
                if "lock" not in str(exc).lower() or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _lake_connection(self, config: dict) -> duckdb.DuckDBPyConnection:
        catalog, data = self.lake_catalog, self.lake_data
        if catalog.startswith("sqlite:"):
            Path(catalog.removeprefix("sqlite:")).parent.mkdir(parents=True, exist_ok=True)
        if "://" not in data:
            Path(data).mkdir(parents=True, exist_ok=True)
        conn = duckdb.connect(config={**config, "autoinstall_known_extensions": False,
                                      "autoload_known_extensions": True, "extension_directory": extension_directory()})
        try:
            deadline, delay, attempts = time.monotonic() + self.lock_wait_seconds, 0.1, 0
            while True:
                # A SQLite catalog another process is writing waits; so does a fresh catalog that two processes
                # set up at once (the loser's CREATE of DuckLake's tables fails; its next ATTACH finds them).
                try:
                    conn.execute(f"ATTACH {_literal('ducklake:' + catalog)} AS {LAKE_NAME} (DATA_PATH {_literal(data)})")
                    break
                except duckdb.Error as exc:
                    attempts += 1
                    transient = isinstance(exc, duckdb.IOException | duckdb.TransactionException) or attempts <= 3
                    if not transient or time.monotonic() + delay > deadline:
                        raise
                    time.sleep(delay * random.uniform(1, 2))
                    delay = min(delay * 2, 5.0)
            conn.execute(f"USE {LAKE_NAME}")
        except BaseException:
            conn.close()
            raise
        return conn


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
