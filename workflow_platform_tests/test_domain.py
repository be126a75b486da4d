"""Domain tables: upsert on the primary key with Amperity's tie-breaks, truncate then upsert, land only."""

import datetime as dt

import duckdb
import pytest

from workflow_platform.catalog.models import Feed
from workflow_platform.ingest.domain.merge import merge_staged
from workflow_platform.sql import transaction

CATALOG = """
couriers:
  - name: shop
    pattern: "'in/'yyyyMMdd'/c-*.csv'"
    feed: people
    load: {load}
feeds:
  - name: people
    source: shop
    {last_updated}
    columns:
      - {{name: id, tag: pk}}
      - {{name: region, tag: pk}}
      - {{name: name}}
      - {{name: changed, type: integer}}
"""


def setup(tenant, load="upsert", last_updated=True):
    tenant.write_catalog(CATALOG.format(load=load, last_updated="last_updated: changed" if last_updated else ""))


def people(tenant) -> dict:
    return {(r[0], r[1]): r[2] for r in tenant.query("SELECT id, region, name FROM domain.people")}


def test_upsert_composite_key_and_system_columns(tenant):
    setup(tenant)
    tenant.land("in/20260105/c-1.csv", "id,region,name,changed\n1,eu,Ann,1\n1,us,Bob,1\n")
    assert tenant.run("2026-01-05", ingest_only=True).success
    tenant.land("in/20260106/c-1.csv", "id,region,name,changed\n1,eu,Ann B,2\n2,eu,Cy,1\n")
    assert tenant.run("2026-01-06", ingest_only=True).success
    assert people(tenant) == {("1", "eu"): "Ann B", ("1", "us"): "Bob", ("2", "eu"): "Cy"}
    pk, file, file_date, line, updated = tenant.query(
        "SELECT _pk, _file, _file_date, _line, _updated FROM domain.people WHERE name = 'Ann B'")[0]
    assert (pk, file, str(file_date), line) == ('["1","eu"]', "in/20260106/c-1.csv", "2026-01-06", 2)
    assert isinstance(updated, dt.datetime)


def test_composite_keys_never_collide(tenant):
    setup(tenant)
    tenant.land("in/20260105/c-1.csv", "id,region,name,changed\nx|y,z,first,1\nx,y|z,second,1\n")
    assert tenant.run("2026-01-05", ingest_only=True).success
    assert people(tenant) == {("x|y", "z"): "first", ("x", "y|z"): "second"}


def test_truncate_upsert_keeps_the_table_when_no_file_arrives(tenant):
    tenant.write_catalog(CATALOG.format(load="truncate_upsert", last_updated="").replace(
        "    load: truncate_upsert", "    load: truncate_upsert\n    optional: true"))
    tenant.land("in/20260105/c-1.csv", "id,region,name,changed\n1,eu,Ann,1\n")
    assert tenant.run("2026-01-05", ingest_only=True).success
    assert tenant.run("2026-01-06", ingest_only=True).success
    assert people(tenant) == {("1", "eu"): "Ann"}


def test_newer_last_updated_wins_over_later_file(tenant):
    setup(tenant)
    tenant.land("in/20260105/c-1.csv", "id,region,name,changed\n1,eu,Newest,9\n")
    assert tenant.run("2026-01-05", ingest_only=True).success
    tenant.land("in/20260106/c-1.csv", "id,region,name,changed\n1,eu,Stale,3\n")
    outcome = tenant.run("2026-01-06", ingest_only=True)
    assert outcome.success
    assert people(tenant) == {("1", "eu"): "Newest"}


def test_tie_breaks_without_last_updated(tenant):
    setup(tenant, last_updated=False)
    # same day: the later file of the load wins; within a file the later row wins
    tenant.land("in/20260105/c-1.csv", "id,region,name,changed\n1,eu,first file,\n2,eu,row 1,\n2,eu,row 2,\n")
    tenant.land("in/20260105/c-2.csv", "id,region,name,changed\n1,eu,second file,\n")
    assert tenant.run("2026-01-05", ingest_only=True).success
    assert people(tenant) == {("1", "eu"): "second file", ("2", "eu"): "row 2"}
    # a later file date wins within one load; an older date loaded later does not replace newer data
    tenant.land("in/20260107/c-1.csv", "id,region,name,changed\n1,eu,day 7,\n")
    tenant.land("in/20260106/c-1.csv", "id,region,name,changed\n1,eu,day 6,\n")
    assert tenant.run("2026-01-06", until="2026-01-07", ingest_only=True).success
    assert people(tenant)[("1", "eu")] == "day 7"
    assert tenant.run("2026-01-06", ingest_only=True).success
    assert people(tenant)[("1", "eu")] == "day 7"
    # the same date again: new data beats existing data
    tenant.land("in/20260107/c-1.csv", "id,region,name,changed\n1,eu,day 7 resent,\n")
    assert tenant.run("2026-01-07", ingest_only=True).success
    assert people(tenant)[("1", "eu")] == "day 7 resent"


def test_truncate_upsert_replaces_the_table(tenant):
    setup(tenant, load="truncate_upsert")
    tenant.land("in/20260105/c-1.csv", "id,region,name,changed\n1,eu,Ann,1\n2,eu,Bo,1\n")
    assert tenant.run("2026-01-05", ingest_only=True).success
    tenant.land("in/20260106/c-1.csv", "id,region,name,changed\n3,eu,Cy,1\n3,eu,Cy newer,2\n")
    assert tenant.run("2026-01-06", ingest_only=True).success
    assert people(tenant) == {("3", "eu"): "Cy newer"}


def test_land_only_records_the_files_and_builds_no_domain_table(tenant):
    setup(tenant, load="land_only")
    tenant.land("in/20260105/c-1.csv", "id,region,name,changed\n1,eu,Ann,1\n")
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert outcome.success
    assert [r.key for r in outcome.rows] == ["courier/shop"]
    assert tenant.query("SELECT _seq, _file, _file_date FROM raw.shop__files") == [
        (1, "in/20260105/c-1.csv", dt.date(2026, 1, 5))]
    assert tenant.scalar("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'domain'") == 0


def test_a_failing_merge_leaves_the_previous_table(tmp_path):
    feed = Feed.model_validate({"name": "people", "source": "s", "columns": [{"name": "id", "tag": "pk"},
                                                                             {"name": "n", "type": "integer"}]})

    def stage(conn, value: str, file: str) -> None:
        conn.execute(f"CREATE OR REPLACE TEMP TABLE staging_people AS SELECT '1' AS id, {value} AS n, '1' AS _pk, "
                     f"'{file}' AS _file, DATE '2026-01-01' AS _file_date, 1 AS _seq, NULL AS _reject, 2 AS _line")

    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        stage(conn, "5::BIGINT", "f")
        with transaction(conn):  # as the load step runs it: merge, rejects and audit.files in one transaction
            merge_staged(conn, feed, "upsert", dt.datetime(2026, 1, 1))
        # a staged value that cannot be stored in the domain column makes the insert fail mid-merge
        stage(conn, "'x'", "g")
        with pytest.raises(duckdb.Error), transaction(conn):
            merge_staged(conn, feed, "truncate_upsert", dt.datetime(2026, 1, 2))
        assert conn.execute("SELECT id, n, _file FROM domain.people").fetchall() == [("1", 5, "f")]


def test_schema_change_is_a_clear_error_until_the_table_is_truncated(tenant):
    import subprocess
    import sys

    setup(tenant, last_updated=False)
    tenant.land("in/20260105/c-1.csv", "id,region,name,changed\n1,eu,Ann,1\n")
    assert tenant.run("2026-01-05", ingest_only=True).success
    catalog = tenant.catalog_dir / "catalog.yaml"
    catalog.write_text(catalog.read_text().replace("{name: changed, type: integer}", "{name: changed, type: float}"))
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert not outcome.success
    assert "changed types: ['changed BIGINT -> DOUBLE']" in "\n".join(outcome.failures)
    assert tenant.query("SELECT name FROM domain.people") == [("Ann",)]
    cli = subprocess.run([sys.executable, "-m", "workflow_platform.cli", "truncate", "people", "--yes",
                          "--catalog", str(tenant.catalog_dir)], capture_output=True, text=True, check=False)
    assert cli.returncode == 0, cli.stderr
    assert "dropped domain.people (1 rows)" in cli.stdout
    assert tenant.run("2026-01-05", ingest_only=True).success
    assert tenant.query("SELECT changed FROM domain.people") == [(1.0,)]


def test_a_domain_table_with_a_stored_key_column_asks_for_a_truncate(tenant):
    setup(tenant, last_updated=False)
    tenant.warehouse.parent.mkdir(parents=True)
    with duckdb.connect(str(tenant.warehouse)) as conn:  # as an older version made it: _pk stored, not computed
        conn.execute("CREATE SCHEMA domain")
        conn.execute("CREATE TABLE domain.people (id VARCHAR, region VARCHAR, name VARCHAR, changed BIGINT, "
                     "_pk VARCHAR, _updated TIMESTAMP, _file VARCHAR, _file_date DATE, _line BIGINT)")
    tenant.land("in/20260105/c-1.csv", "id,region,name,changed\n1,eu,Ann,1\n")
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert not outcome.success
    assert "_pk VARCHAR (stored, now computed) -> VARCHAR" in "\n".join(outcome.failures)


def test_a_key_of_spaces_is_refused(tenant):
    setup(tenant, last_updated=False)
    tenant.land("in/20260105/c-1.csv", "id,region,name,changed\n1,eu,Ann,1\n  ,eu,Blank,1\n")
    catalog = tenant.catalog_dir / "catalog.yaml"
    catalog.write_text(catalog.read_text().replace("    columns:", "    error_threshold: 50\n    columns:"))
    assert tenant.run("2026-01-05", ingest_only=True).success
    assert people(tenant) == {("1", "eu"): "Ann"}
    assert tenant.query("SELECT line, reason FROM audit.rejects") == [(3, "primary key is empty")]
