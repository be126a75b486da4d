"""Issue #23: nothing a catalog asks for can exhaust the machine, and a terminated run stops within seconds.

Catalog SQL (segments, custom database tables) runs within a time limit and a row limit (the operator's
WORKFLOW_PLATFORM_SQL_TIMEOUT and WORKFLOW_PLATFORM_SQL_MAX_ROWS, lowered here), and a statement past one fails
with a message naming the limit while the previous table stays. File name templates are refused at catalog load
when they would build a huge text or spin. A run terminated while a long statement runs exits within seconds."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from pydantic import ValidationError

from workflow_platform.catalog.models import Database, DatabaseTable, Orchestration, Segment
from workflow_platform.databases.build import build_custom_table
from workflow_platform.formats.filenames import FilenameTemplateError, render_filename
from workflow_platform.segments.build import SegmentSqlError, build_segment

RECURSIVE = "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM t) SELECT count(*) AS n FROM t"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def conn(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb"), config={"memory_limit": "1GB"}) as connection:
        yield connection


@pytest.fixture
def limits(monkeypatch):
    monkeypatch.setenv("WORKFLOW_PLATFORM_SQL_TIMEOUT", "1.5")
    monkeypatch.setenv("WORKFLOW_PLATFORM_SQL_MAX_ROWS", "1000")


def segment(sql: str) -> Segment:
    return Segment.model_construct(name="probe", sql=sql)


# ------------------------------------------------------------------------- catalog SQL: time and row limits


def test_a_recursive_query_stops_at_the_time_limit_and_the_previous_segment_stays(conn, limits):
    assert build_segment(conn, segment("SELECT 1 AS n UNION ALL SELECT 2")) == 2
    started = time.monotonic()
    with pytest.raises(SegmentSqlError) as error:
        build_segment(conn, segment(RECURSIVE))
    assert time.monotonic() - started < 5
    assert str(error.value) == ("segment 'probe': stopped after 1.5 seconds, the time limit of one catalog SQL "
                                "statement (WORKFLOW_PLATFORM_SQL_TIMEOUT); the previous segment.probe table is kept")
    assert conn.execute("SELECT n FROM segment.probe ORDER BY n").fetchall() == [(1,), (2,)]


def test_a_huge_result_fails_on_the_row_limit_without_materializing(conn, limits):
    assert build_segment(conn, segment("SELECT 1 AS i")) == 1
    for sql in ("SELECT * FROM range(1000000000) t(i)", "SELECT unnest(range(100000)) AS i"):
        started = time.monotonic()
        with pytest.raises(SegmentSqlError) as error:
            build_segment(conn, segment(sql))
        assert time.monotonic() - started < 3
        assert str(error.value) == ("segment 'probe': returns more than 1,000 rows, the row limit of one catalog SQL "
                                    "statement (WORKFLOW_PLATFORM_SQL_MAX_ROWS); the previous segment.probe table "
                                    "is kept")
        assert conn.execute("SELECT i FROM segment.probe").fetchall() == [(1,)]


def test_one_value_of_gigabytes_is_stopped_by_a_limit_not_the_machine(conn, limits):
    """`unnest(range(10^9))` builds a list of 8 GB before the first row (DuckDB's memory_limit does not see it;
    unbounded, it reached 20 GB). While catalog SQL runs the process may grow by at most 2 x memory_limit + 1 GB,
    which stops it at once on a quiet machine; on a busy one the time limit may come first. Either way the step
    fails naming a limit and the previous table stays."""
    assert build_segment(conn, segment("SELECT 1 AS i")) == 1
    with pytest.raises(SegmentSqlError) as error:
        build_segment(conn, segment("SELECT unnest(range(1000000000)) AS i"))
    assert re.fullmatch(r"segment 'probe': (needs more memory than one catalog SQL statement may take .*"
                        r"WORKFLOW_PLATFORM_MEMORY_LIMIT.*|stopped after 1.5 seconds.*WORKFLOW_PLATFORM_SQL_TIMEOUT.*|"
                        r"returns more than 1,000 rows.*WORKFLOW_PLATFORM_SQL_MAX_ROWS.*)"
                        r"; the previous segment.probe table is kept", str(error.value)), str(error.value)
    assert conn.execute("SELECT i FROM segment.probe").fetchall() == [(1,)]


def test_a_custom_table_has_the_same_limits(conn, limits):
    db, table = Database.model_construct(name="c360"), DatabaseTable.model_construct(name="t", sql="SELECT 7 AS x")
    assert build_custom_table(conn, db, table) == 1
    with pytest.raises(SegmentSqlError, match=r"^table c360\.t: stopped after 1\.5 seconds.*the previous c360\.t"):
        build_custom_table(conn, db, DatabaseTable.model_construct(name="t", sql=RECURSIVE))
    with pytest.raises(SegmentSqlError, match=r"^table c360\.t: returns more than 1,000 rows"):
        build_custom_table(conn, db, DatabaseTable.model_construct(name="t", sql="SELECT * FROM range(5000)"))
    assert conn.execute("SELECT x FROM c360.t").fetchall() == [(7,)]


def test_a_legitimate_segment_at_the_limit_still_builds(conn, limits):
    assert build_segment(conn, segment("SELECT * FROM range(1000) t(i) ORDER BY i DESC")) == 1000
    assert conn.execute("SELECT i FROM segment.probe LIMIT 1").fetchone() == (999,)


# ------------------------------------------------------------------------- file name templates

ATTACKS = {
    "{{ ('a'*1000)|replace('a','a'*1000)|replace('a','a'*1000)|length }}": "replace() would be longer than 1024",
    "{{ 'a'.ljust(900000000) }}": "str.ljust() wider than 255",
    "{{ 'x'.zfill(900000000) }}": "str.zfill() wider than 255",
    "{{ '%0900000000d' % 1 }}": "a % format wider than 255",
    "{{ '%*d' % (900000000, 1) }}": "a % format wider than 255",
    "{{ '{:>900000000}'.format(1) }}": "str.format() is not allowed",
    "{{ now.strftime('%0900000000Y') }}": "a strftime width is not allowed",
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}": "{% for %} is not allowed",
    "{% set a = 'a' * 1000 %}{{ a ~ a }}": "{% set %} is not allowed",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}": "{% macro %} is not allowed",
    "{{ range(100000) | length }}": "range() of more than 1000 items",
    "{{ 'a' | center(900000000) }}": "No filter named 'center'",
    "{{ lipsum(900000000) }}": "'lipsum' is undefined",
    "{{ ((10**64)**64)**64 }}": "a number in a file name template is too large",
    "{{ 'a' * 1000 }}{{ 'a' * 1000 }}": "the file name would be longer than 1024 characters",
    "{{ 'a' * 256 }}": "renders to a name of 256 characters: at most 255",
}


@pytest.mark.parametrize("template", list(ATTACKS))
def test_a_file_name_template_that_would_exhaust_the_machine_is_refused_at_catalog_load(template):
    started = time.monotonic()
    with pytest.raises(ValidationError) as error:
        Orchestration.model_validate({"name": "o", "segment": "s", "destination": "d", "filename": template})
    assert time.monotonic() - started < 1
    assert ATTACKS[template] in str(error.value) and "file name template" in str(error.value)
    with pytest.raises(FilenameTemplateError, match="file name template"):
        render_filename(template, dt.datetime(2026, 3, 1, tzinfo=dt.UTC))  # and when a send renders it


def test_a_legitimate_file_name_template_still_renders():
    now = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    template = ("{{ 'A' if now.year > 2000 else 'B' }}_{{ name | upper }}_{{ name.replace('e', 'x') }}_"
                "{{ '%03d' % 7 }}_{{ now | local('America/Los_Angeles') | format('yyyyMMdd') }}_{{ file_number }}.csv")
    Orchestration.model_validate({"name": "o", "segment": "s", "destination": "d", "filename": template})
    assert render_filename(template, now, name="weekly") == "A_WEEKLY_wxxkly_007_20260301_0000001.csv"


# ------------------------------------------------------------------------- a terminated run stops within seconds

RUN = textwrap.dedent("""
    import sys
    import dagster as dg
    from workflow_platform.catalog.models import Segment
    from workflow_platform.resources import WarehouseResource
    from workflow_platform.segments.build import build_segment

    @dg.asset
    def probe(warehouse: WarehouseResource):
        with warehouse.get_connection() as conn:
            print("statement started", flush=True)
            build_segment(conn, Segment.model_construct(name="probe", sql=sys.argv[2]))

    defs = dg.Definitions(assets=[probe], resources={"warehouse": WarehouseResource(database=sys.argv[1])})
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance,
                                                                                 raise_on_error=False)
    print("run ended", result.success, flush=True)
""")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_run_terminated_during_a_long_statement_exits_within_seconds(tmp_path, signum):
    """Dagster terminates a run (cancel, dagster/max_runtime) with SIGTERM/SIGINT to the process running it; the
    handler raises in the main thread, which must not be stuck inside DuckDB until the statement ends."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "WORKFLOW_PLATFORM_SQL_TIMEOUT": "600"}
    process = subprocess.Popen([sys.executable, "-c", RUN, str(tmp_path / "w.duckdb"), RECURSIVE], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        for line in process.stdout:
            if "statement started" in line:
                break
        time.sleep(1.0)  # well inside the statement
        process.send_signal(signum)
        signalled = time.monotonic()
        process.wait(timeout=30)
        assert time.monotonic() - signalled < 5
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
