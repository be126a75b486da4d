"""A courier's ingest SQL between the file and the feed: flatten nested JSON, split and combine columns, filter
rows; refused when the catalog loads if it reaches outside the file, and run where it cannot."""

import json

import duckdb
import pyarrow as pa
import pytest

from workflow_platform.catalog.loader import CatalogInvalid, load_catalog
from workflow_platform.ingest.feeds.ingest_sql import run_ingest_sql
from workflow_platform.ingest.files.reading import UnreadableFile

DAY = "2026-01-05"
FEED = """
feeds:
  - name: people
    source: web
    columns:
      - {name: id, tag: pk}
      - {name: given, tag: given-name}
      - {name: surname, tag: surname}
      - {name: email, tag: email}
      - {name: signed_up, type: date}
"""


def catalog(pattern: str, sql: str, file: str = "{}") -> str:
    indented = "\n".join("      " + line for line in sql.strip().splitlines())
    return f"""
couriers:
  - name: web
    pattern: "{pattern}"
    feed: people
    file: {file}
    ingest_sql: |
{indented}
""" + FEED


def said(outcome) -> str:
    return "\n".join(outcome.refused + outcome.failures)


def test_nested_json_is_flattened_by_the_ingest_sql(tenant):
    tenant.write_catalog(catalog("'in/people_'yyyyMMdd'.ndjson'", """
        SELECT id, name.first AS given, name.last AS surname, contact.email AS email,
               CAST(signed_up AS VARCHAR) AS signed_up
        FROM file
        WHERE NOT coalesce(test_account, false)""", file="{format: ndjson}"))
    records = [
        {"id": 1, "name": {"first": "Ann", "last": "Lee"}, "contact": {"email": "ANN@Example.org"},
         "signed_up": "2025-03-04", "test_account": False},
        {"id": 2, "name": {"first": "Bo", "last": "Chu"}, "contact": {"email": "bo@example.org"},
         "signed_up": "2025-05-06"},
        {"id": 3, "name": {"first": "Test", "last": "User"}, "contact": {"email": "qa@example.org"},
         "signed_up": "2025-05-06", "test_account": True},
    ]
    tenant.land("in/people_20260105.ndjson", "\n".join(json.dumps(r) for r in records) + "\n")
    outcome = tenant.run(DAY, ingest_only=True)
    assert outcome.success, said(outcome)
    assert tenant.query("SELECT id, given, surname, email, signed_up::VARCHAR, _file FROM domain.people ORDER BY id") == [
        ("1", "ANN", "LEE", "ann@example.org", "2025-03-04", "in/people_20260105.ndjson"),
        ("2", "BO", "CHU", "bo@example.org", "2025-05-06", "in/people_20260105.ndjson")]


def test_a_csv_column_is_split_and_a_date_is_combined(tenant):
    tenant.write_catalog(catalog("'in/people_'yyyyMMdd'.csv'", """
        SELECT "Customer No" AS id, split_part("Full Name", ' ', 1) AS given,
               split_part("Full Name", ' ', 2) AS surname, "E-Mail" AS email,
               year || '-' || lpad(month, 2, '0') || '-' || lpad(day, 2, '0') AS signed_up
        FROM file"""))
    tenant.land("in/people_20260105.csv", 'Customer No,Full Name,E-Mail,year,month,day\n'
                                          '7,Ann Lee,ann@example.org,2025,3,4\n8,Bo Chu,bo@example.org,2025,13,1\n')
    outcome = tenant.run(DAY, ingest_only=True)
    assert outcome.success, said(outcome)
    assert tenant.query("SELECT id, given, surname, signed_up::VARCHAR FROM domain.people ORDER BY id") == [
        ("7", "ANN", "LEE", "2025-03-04"), ("8", "BO", "CHU", None)]  # month 13 is not a date: loaded as NULL
    [(column, reason)] = tenant.query("SELECT column_name, reason FROM audit.value_problems")
    assert column == "signed_up" and "not a valid date" in reason


def test_a_result_without_a_feed_column_or_a_failing_sql_quarantines_the_file(tenant):
    tenant.write_catalog(catalog("'in/people_'yyyyMMdd'.csv'", "SELECT id, given, surname, email FROM file"))
    tenant.land("in/people_20260105.csv", "id,given,surname,email\n1,Ann,Lee,ann@example.org\n")
    refused = said(tenant.run(DAY, ingest_only=True))
    assert "missing column(s) signed_up required by feed 'people'" in refused
    assert "(the columns of the courier's ingest_sql result)" in refused

    tenant.write_catalog(catalog("'in/people_'yyyyMMdd'.csv'", """
        SELECT id, given, surname, email, CAST(given AS INTEGER) AS signed_up FROM file"""))
    tenant.land("in/people_20260105.csv", "id,given,surname,email\n1,Zebediah,Lee,ann@example.org\n")
    refused = said(tenant.run(DAY, ingest_only=True))
    assert "in/people_20260105.csv: its courier's ingest_sql failed: Conversion Error" in refused
    assert "Zebediah" not in refused and "in/people_20260105.csv" in tenant.quarantined()


def test_the_ingest_sql_runs_where_it_can_reach_nothing_but_the_file():
    """The second line of defence: what the catalog check would refuse cannot work at run time either."""
    with duckdb.connect() as conn:
        conn.execute("CREATE TABLE secret AS SELECT 'warehouse row' AS x")
        rows = pa.table({"id": ["1"]})
        for sql in ("SELECT * FROM read_text('/etc/hostname')", "SELECT * FROM secret",
                    "SELECT id, (SELECT count(*) FROM glob('/*')) AS n FROM file"):
            with pytest.raises(UnreadableFile) as error:
                run_ingest_sql(conn, rows, sql, "in/x.csv", "wp_ingest_1")
            assert "in/x.csv: its courier's ingest_sql failed" in str(error.value)
        run_ingest_sql(conn, rows, "SELECT id || '!' AS id FROM file", "in/x.csv", "wp_ingest_1")
        assert conn.execute("SELECT id FROM wp_ingest_1").fetchall() == [("1!",)]


@pytest.mark.parametrize("sql, message", [
    ("SELECT * FROM domain.people", "reads 'domain.people': an ingest SQL reads only `file`"),
    ("SELECT * FROM read_csv('/etc/passwd')", "table function read_csv() is not allowed"),
    ("SELECT 1 AS id", "reads no table: select from `file`"),
    ("DELETE FROM file", "must be a single SELECT statement"),
])
def test_an_ingest_sql_that_reaches_outside_its_file_is_refused_when_the_catalog_loads(tmp_path, sql, message):
    (tmp_path / "catalog.yaml").write_text(catalog("'in/people_'yyyyMMdd'.csv'", sql))
    with pytest.raises(CatalogInvalid) as error:
        load_catalog(tmp_path)
    assert "couriers.web.ingest_sql" in str(error.value) and message in str(error.value)


def test_an_ingest_sql_that_keeps_no_row_loads_the_file_empty_and_says_nothing_of_values(tenant):
    tenant.write_catalog(catalog("'in/people_'yyyyMMdd'.csv'", """
        SELECT id, given, surname, email, signed_up FROM file WHERE given = 'nobody'"""))
    tenant.land("in/people_20260105.csv", "id,given,surname,email,signed_up\n1,Ann,Lee,ann@example.org,2025-01-01\n")
    outcome = tenant.run(DAY, ingest_only=True)
    assert outcome.success, said(outcome)
    assert tenant.query("SELECT status, rows_loaded FROM audit.files") == [("loaded", 0)]

    tenant.write_catalog(catalog("'in/people_'yyyyMMdd'.csv'", """
        SELECT id, given, surname, CAST(email::JSON->>'x' AS VARCHAR) AS email, signed_up FROM file"""))
    tenant.land("in/people_20260106.csv", "id,given,surname,email,signed_up\n2,Bo,Chu,secret.bo@example.org,x\n")
    refused = said(tenant.run("2026-01-06", ingest_only=True))
    assert "its courier's ingest_sql failed: Conversion Error (DuckDB's message is not shown" in refused
    assert "secret.bo" not in refused and "example.org" not in refused
