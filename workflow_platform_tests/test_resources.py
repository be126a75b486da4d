"""The warehouse resource always releases DuckDB's file lock, even when the work inside fails."""

import subprocess
import sys

import pytest

from workflow_platform.resources import WarehouseResource


def test_connection_is_closed_when_the_body_raises(tmp_path):
    path = tmp_path / "nested" / "w.duckdb"
    warehouse = WarehouseResource(database=str(path))
    with pytest.raises(RuntimeError):
        with warehouse.get_connection() as conn:
            conn.execute("CREATE TABLE t AS SELECT 1 AS x")
            raise RuntimeError("boom")
    # another process can open the file for writing right away: the lock was released
    probe = subprocess.run([sys.executable, "-c", f"import duckdb; duckdb.connect({str(path)!r}).execute('SELECT x FROM t')"],
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
