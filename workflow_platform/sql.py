"""Tiny helpers for building DuckDB SQL safely from catalog names, and for running a catalog's own SELECTs."""

from __future__ import annotations

import random
import re
import threading
import time
from contextlib import contextmanager, nullcontext

import duckdb


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A quoted SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def table_exists(conn, qualified: str) -> bool:
    schema, _, name = qualified.replace('"', "").partition(".")
    return bool(
        conn.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [schema, name]
        ).fetchone()[0]
    )


def is_lake(conn) -> bool:
    """Whether the connection's default database is a DuckLake (docs/scale-out.md): no generated columns, indexes or
    PRIMARY KEY/UNIQUE constraints there, so computed keys are stored and upserts delete, then insert."""
    row = conn.execute("SELECT type FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return bool(row) and row[0] == "ducklake"


@contextmanager
def transaction(conn):
    """BEGIN ... COMMIT, rolled back when the body raises."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


LAKE_COMMIT_ATTEMPTS = 6


def committed(conn, body, attempts: int = LAKE_COMMIT_ATTEMPTS):
    """`body()` inside one transaction; returns what it returns. On a DuckLake a commit fails when a concurrent
    transaction changed the same things (both created `audit.files`, or a SQLite catalog stayed locked through
    DuckLake's own retries): the transaction has rolled back whole, so it runs again, up to `attempts` times, after
    a growing random pause. A DuckDB file has one writer: it never retries."""
    lake = is_lake(conn)
    for attempt in range(1, attempts + 1):
        try:
            with transaction(conn):
                return body()
        except duckdb.TransactionException as exc:
            if not lake or attempt == attempts or "commit" not in str(exc).lower():
                raise
            time.sleep(random.uniform(0.1, 0.5) * 2 ** attempt)
    raise AssertionError("unreachable")


def retry_conflicts(body, attempts: int = LAKE_COMMIT_ATTEMPTS):
    """`body()` for statements that commit one by one (no open transaction), again after a DuckLake conflict: two
    processes that set up the same schema or table at once on a fresh lake (a DuckDB file never conflicts)."""
    for attempt in range(1, attempts + 1):
        try:
            return body()
        except duckdb.TransactionException as exc:
            if attempt == attempts or "conflict" not in str(exc).lower():
                raise
            time.sleep(random.uniform(0.05, 0.25) * 2 ** attempt)
    raise AssertionError("unreachable")


def has_column(conn, schema: str, table: str, column: str) -> bool:
    """Whether the connection's database has `schema.table` with `column` (no DDL needed)."""
    return bool(conn.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = ? "
        "AND table_name = ? AND column_name = ?", [schema, table, column]).fetchone()[0])


def user_select(sql: str) -> str:
    """A catalog SELECT wrapped as a subquery, so DuckDB refuses a data-modifying WITH clause inside it
    (`WITH d AS (DELETE ... RETURNING *) SELECT ...` would otherwise run)."""
    return f"SELECT * FROM (\n{sql.strip().rstrip(';')}\n)"


def sandbox(conn: duckdb.DuckDBPyConnection) -> None:
    """From here on this connection reads and writes the warehouse only: no files, no URLs (one way). A DuckLake's
    tables are Parquet files under its data path: that folder (only) stays reachable, or no table could be written."""
    if is_lake(conn):
        lake = conn.execute("SELECT current_database()").fetchone()[0]
        data_path = conn.execute(f"SELECT value FROM {ident('__ducklake_metadata_' + lake)}.ducklake_metadata "
                                 "WHERE key = 'data_path'").fetchone()[0]
        conn.execute("SET allowed_directories = [?]", [data_path])
    conn.execute("SET enable_external_access = false")


# --------------------------------------------------------------------------- catalog statements within limits
# DuckDB has no statement timeout, and while a statement runs the calling thread is inside DuckDB's C++ code, where
# Python cannot run a signal handler: a run cancelled or timed out by Dagster (SIGTERM/SIGINT to the run worker,
# raised in the main thread as DagsterExecutionInterruptedError) would wait for the statement to finish. So a long
# statement runs on a helper thread while the calling thread waits on an Event, where signals are handled at once;
# a time limit or any exception in the waiting thread interrupts the statement (`conn.interrupt()`).

_POLL_SECONDS = 0.25


class StatementLimitError(Exception):
    """A statement went past a limit set by the operator; `limit` is that limit."""

    def __init__(self, limit: float) -> None:
        super().__init__(limit)
        self.limit = limit


class StatementTimeout(StatementLimitError):
    """The statement ran longer than its time limit and was interrupted."""


class TooManyRows(StatementLimitError):
    """The SELECT returns more rows than its row limit."""


def run_interruptible(conn: duckdb.DuckDBPyConnection, statement: str, *, timeout: float | None = None,
                      memory_bytes: int | None = None):
    """`conn.execute(statement)`, stopped within a moment when `timeout` seconds pass (StatementTimeout) or when
    the calling thread is interrupted (the run is terminated, Ctrl-C: that exception is raised here). With
    `memory_bytes`, the process may grow by at most that much meanwhile (see `address_space_cap`)."""
    outcome: dict = {}
    done = threading.Event()

    def work() -> None:
        try:
            outcome["result"] = conn.execute(statement)
        except BaseException as exc:  # noqa: BLE001 (handed to the waiting thread, raised there)
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=work, name="catalog-sql", daemon=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    timed_out = False
    worker.start()
    try:
        with address_space_cap(memory_bytes) if memory_bytes else nullcontext():
            while not done.wait(_POLL_SECONDS if deadline is None
                                else max(0.0, min(_POLL_SECONDS, deadline - time.monotonic()))):
                if deadline is not None and time.monotonic() >= deadline:
                    timed_out = True
                    break
            if timed_out:
                _interrupt(conn, worker)
    except BaseException:
        _interrupt(conn, worker)
        raise
    if "error" in outcome:
        if timed_out and isinstance(outcome["error"], duckdb.InterruptException):
            raise StatementTimeout(timeout) from None
        raise outcome["error"]
    return outcome["result"]


def _interrupt(conn: duckdb.DuckDBPyConnection, worker: threading.Thread) -> None:
    """Interrupt the statement and wait for its thread (DuckDB stops within milliseconds), so the connection is
    free again before it is rolled back or closed; a second signal meanwhile only interrupts once more."""
    conn.interrupt()
    while worker.is_alive():
        try:
            worker.join()
        except BaseException:  # noqa: BLE001 (a second signal: the first is being raised already)
            conn.interrupt()


@contextmanager
def address_space_cap(extra_bytes: int):
    """While the block runs, this process's address space may grow by at most `extra_bytes` (RLIMIT_AS, soft limit
    only, restored after; Linux). DuckDB's memory_limit bounds its buffer pool, not every allocation: a scalar
    function such as `range(1000000000)` or `repeat('x', 2000000000)` builds one value of gigabytes outside it.
    Under the cap such an allocation fails inside DuckDB as an OutOfMemoryException instead of swapping the machine."""
    try:
        import resource  # Unix only
        with open("/proc/self/status") as status:
            vm_size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    except (ImportError, OSError, StopIteration):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm_size + extra_bytes
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft != resource.RLIM_INFINITY and soft <= cap:
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


_SIZE = re.compile(r"([\d.]+)\s*([KMGTP]?)(i?)B", re.IGNORECASE)


def memory_limit_bytes(conn: duckdb.DuckDBPyConnection) -> int | None:
    """The connection's memory_limit in bytes (DuckDB shows it as e.g. `953.6 MiB`), None when unreadable."""
    shown = conn.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    match = _SIZE.fullmatch(str(shown).strip())
    if not match:
        return None
    number, prefix, binary = match.groups()
    return int(float(number) * (1024 if binary else 1000) ** " KMGTP".index(prefix.upper() or " "))


def create_table_as(conn: duckdb.DuckDBPyConnection, target: str, select_sql: str, *, timeout: float,
                    max_rows: int, memory_bytes: int | None = None) -> int:
    """Replace the table `target` with the rows of a catalog SELECT, within a time limit and a row limit, and
    return its row count. On any failure (StatementTimeout, TooManyRows, an SQL error) the previous table stays.

    The row limit costs nothing on the way: the SELECT runs with `LIMIT max_rows + 1` (DuckDB stops producing rows
    there: `SELECT * FROM range(10^9)` never materializes), and the count of the new table decides. A single value
    of gigabytes (`unnest(range(10^9))` builds its list first) is stopped by `memory_bytes` instead."""
    with transaction(conn):
        run_interruptible(conn, f"CREATE OR REPLACE TABLE {target} AS {user_select(select_sql)} LIMIT {int(max_rows) + 1}",
                          timeout=timeout, memory_bytes=memory_bytes)
        rows = conn.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
        if rows > max_rows:
            raise TooManyRows(max_rows)
    return rows
