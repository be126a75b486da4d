"""The warehouse resource always releases DuckDB's file lock, even when the work inside fails, and refuses a file
it cannot read with a way out."""

import gzip
import subprocess
import sys

import pytest

from workflow_platform.resources import WarehouseResource, WarehouseTooNew
from workflow_platform_tests.support import REPO

FILES = REPO / "workflow_platform_tests" / "files"


def test_connection_is_closed_when_the_body_raises(tmp_path):
    path = tmp_path / "nested" / "w.duckdb"
    warehouse = WarehouseResource(database=str(path))
    with pytest.raises(RuntimeError), warehouse.get_connection() as conn:
        conn.execute("CREATE TABLE t AS SELECT 1 AS x")
        raise RuntimeError("boom")
    # another process can open the file for writing right away: the lock was released
    probe = subprocess.run([sys.executable, "-c", f"import duckdb; duckdb.connect({str(path)!r}).execute('SELECT x FROM t')"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert probe.returncode == 0, probe.stderr


def test_a_locked_warehouse_is_waited_for_then_reported(tmp_path):
    path = tmp_path / "w.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", (f"import duckdb, time; c = duckdb.connect({str(path)!r}); "
                               "print('locked', flush=True); time.sleep(3)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with WarehouseResource(database=str(path)).get_connection() as conn:  # waits for the other process
            assert conn.execute("SELECT 42").fetchone() == (42,)
    finally:
        holder.wait(timeout=30)
    holder = subprocess.Popen([sys.executable, "-c", (f"import duckdb, time; c = duckdb.connect({str(path)!r}); "
                               "print('locked', flush=True); time.sleep(20)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        import duckdb

        with (pytest.raises(duckdb.IOException, match="lock"),
              WarehouseResource(database=str(path), lock_wait_seconds=1).get_connection()):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_a_warehouse_written_by_a_newer_duckdb_is_refused_saying_how_to_move_it(tmp_path):
    # a warehouse file DuckDB 2.0.1 wrote (one small table), as a platform installed before the 1.5 pin left it
    written = gzip.decompress((FILES / "warehouse_written_by_duckdb_2.0.1.duckdb.gz").read_bytes())
    path = tmp_path / "warehouse.duckdb"
    path.write_bytes(written)
    with pytest.raises(WarehouseTooNew, match="written by a newer DuckDB") as refused, \
            WarehouseResource(database=str(path), lock_wait_seconds=1).get_connection():
        pass
    assert "EXPORT DATABASE" in str(refused.value) and "make reset" in str(refused.value)
    assert path.read_bytes() == written  # left as it was
