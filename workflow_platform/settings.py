"""Where things live: the catalog folder, the data folder, the warehouse file (all from the environment)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEMO_CATALOG = PACKAGE_DIR / "demo" / "catalog"


WAREHOUSE_MEMORY_LIMIT = "1GB"  # DuckDB's buffer pool per connection: larger loads spill to disk, RSS stays flat


def catalog_dir() -> Path:
    """`WORKFLOW_PLATFORM_CATALOG`, or the bundled demo tenant."""
    return Path(os.environ.get("WORKFLOW_PLATFORM_CATALOG") or DEMO_CATALOG)


def data_dir() -> Path:
    """`WORKFLOW_PLATFORM_DATA`, else `data/` of the source checkout, else `~/.workflow_platform`.

    Relative landing locations and local destinations resolve against this folder; it is never inside
    the package."""
    if env := os.environ.get("WORKFLOW_PLATFORM_DATA"):
        return Path(env)
    repo = PACKAGE_DIR.parent
    if (repo / "pyproject.toml").exists():
        return repo / "data"
    return Path.home() / ".workflow_platform"


def warehouse_path() -> Path:
    """`WORKFLOW_PLATFORM_WAREHOUSE`, else `<data dir>/warehouse.duckdb`."""
    return Path(os.environ.get("WORKFLOW_PLATFORM_WAREHOUSE") or data_dir() / "warehouse.duckdb")


WAREHOUSE_KINDS = ("duckdb", "ducklake")


def warehouse_kind() -> str:
    """`WORKFLOW_PLATFORM_WAREHOUSE_KIND`: `duckdb` (default: one DuckDB file, one writer process at a time, every
    writing step in the `warehouse` pool) or `ducklake` (a DuckLake: its catalog in PostgreSQL or SQLite, its data
    as Parquet files in a folder; loads of different feeds commit concurrently; docs/scale-out.md)."""
    value = (os.environ.get("WORKFLOW_PLATFORM_WAREHOUSE_KIND") or "duckdb").strip().lower()
    if value not in WAREHOUSE_KINDS:
        raise ValueError(f"WORKFLOW_PLATFORM_WAREHOUSE_KIND must be one of {', '.join(WAREHOUSE_KINDS)}, got {value!r}")
    return value


def lake_catalog() -> str:
    """`WORKFLOW_PLATFORM_LAKE_CATALOG`: where a DuckLake keeps its catalog, as DuckLake names it:
    `postgres:host=... port=... dbname=... user=...` (many machines; the password from libpq's PGPASSWORD or a
    ~/.pgpass, never here) or `sqlite:/path/catalog.sqlite` (processes of one machine); default
    `sqlite:<data dir>/lake/catalog.sqlite`."""
    return os.environ.get("WORKFLOW_PLATFORM_LAKE_CATALOG") or f"sqlite:{data_dir() / 'lake' / 'catalog.sqlite'}"


def lake_data() -> str:
    """`WORKFLOW_PLATFORM_LAKE_DATA`: the folder (or object-store prefix) of a DuckLake's Parquet files; default
    `<data dir>/lake/data/`. Every process that writes or reads the warehouse must reach the same one."""
    value = os.environ.get("WORKFLOW_PLATFORM_LAKE_DATA") or str(data_dir() / "lake" / "data")
    return value if value.endswith("/") else value + "/"


def resolve_local(url: str) -> str:
    """A location/destination URL: fsspec URLs and absolute paths as they are, relative paths under data_dir()."""
    if "://" in url or Path(url).is_absolute():
        return url
    return str(data_dir() / url)


def warehouse_memory_limit() -> str:
    """`WORKFLOW_PLATFORM_MEMORY_LIMIT` (a DuckDB size such as 4GB), else WAREHOUSE_MEMORY_LIMIT."""
    return os.environ.get("WORKFLOW_PLATFORM_MEMORY_LIMIT") or WAREHOUSE_MEMORY_LIMIT


def sensor_interval_seconds() -> int:
    """How often the courier-group and runtime sensors evaluate (`WORKFLOW_PLATFORM_SENSOR_INTERVAL`, default 30)."""
    value = os.environ.get("WORKFLOW_PLATFORM_SENSOR_INTERVAL") or "30"
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(f"WORKFLOW_PLATFORM_SENSOR_INTERVAL must be a number of seconds, got {value!r}")
    return int(value)


EXECUTORS = ("in_process", "multiprocess", "forkserver")


def executor_choice() -> str:
    """How a run executes its steps (`WORKFLOW_PLATFORM_EXECUTOR`): `in_process` (default: one process per run;
    the steps share the warehouse's single writer anyway), `multiprocess` or `forkserver` (a process per step)."""
    value = (os.environ.get("WORKFLOW_PLATFORM_EXECUTOR") or "in_process").strip().lower()
    if value not in EXECUTORS:
        raise ValueError(f"WORKFLOW_PLATFORM_EXECUTOR must be one of {', '.join(EXECUTORS)}, got {value!r}")
    return value


# --------------------------------------------------------------------------- what a tenant's catalog may reach
# Set by the operator in the environment, never by the catalog (docs/operations.md, "Security").


def _listed(name: str) -> list[str]:
    return [item.strip() for item in (os.environ.get(name) or "").split(",") if item.strip()]


def allowed_roots() -> list[str]:
    """Where landing locations, their quarantine and file destinations may point: the data folder (where relative
    urls resolve), plus `WORKFLOW_PLATFORM_ALLOWED_ROOTS` (comma-separated absolute local folders and remote
    prefixes such as `s3://bucket` or `sftp://host`)."""
    return [str(data_dir()), *_listed("WORKFLOW_PLATFORM_ALLOWED_ROOTS")]


def allowed_hosts() -> list[str]:
    """`WORKFLOW_PLATFORM_ALLOWED_HOSTS`: loopback, private or link-local hosts that webhooks and remote storage may
    reach anyway (comma-separated host names, addresses or CIDR networks); default: none, public addresses only."""
    return _listed("WORKFLOW_PLATFORM_ALLOWED_HOSTS")


SQL_TIMEOUT_SECONDS = 600.0
SQL_MAX_ROWS = 100_000_000


def sql_timeout_seconds() -> float:
    """`WORKFLOW_PLATFORM_SQL_TIMEOUT`: seconds one catalog SQL statement (a segment, a database table) may run."""
    return _positive("WORKFLOW_PLATFORM_SQL_TIMEOUT", SQL_TIMEOUT_SECONDS)


def sql_max_rows() -> int:
    """`WORKFLOW_PLATFORM_SQL_MAX_ROWS`: rows one catalog SQL statement may produce."""
    return int(_positive("WORKFLOW_PLATFORM_SQL_MAX_ROWS", SQL_MAX_ROWS))


def _positive(name: str, default: float) -> float:
    value = (os.environ.get(name) or "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return number
