"""Couriers land every supported format through the real run, and say clearly what is missing or broken."""

import io
import json
import zipfile

import duckdb
import pytest

from workflow_platform_tests.support import CUSTOMER_FEED

HEADER = "id,first_name,last_name,email,phone,birth_date,updated_at"
ROWS = [
    "1,Ann,Lee,ann@example.org,5551110000,1990-01-01,2026-01-01 00:00:00",
    "2,Bo,Chu,bo@example.org,5552220000,1985-02-03,2026-01-01 00:00:00",
]


def courier_catalog(pattern: str, file_options: str = "", optional: bool = False) -> str:
    return f"""
couriers:
  - name: shop
    pattern: "{pattern}"
    feed: customers
    optional: {str(optional).lower()}
    {file_options}
""" + CUSTOMER_FEED


def loaded(tenant) -> list[tuple]:
    return tenant.query("SELECT id, first_name, email, birth_date FROM domain.customers ORDER BY id")


def expect_two_rows(tenant):
    rows = loaded(tenant)
    assert [r[0] for r in rows] == ["1", "2"]
    assert rows[0][1] == "ANN" and rows[0][2] == "ann@example.org"
    assert str(rows[1][3]) == "1985-02-03"


@pytest.mark.parametrize(
    "fmt, options, separator",
    [
        ("csv", "", ","),
        ("tsv", "file: {format: tsv}", "\t"),
        ("psv", "file: {format: psv}", "|"),
        ("txt", "file: {format: delimited, delimiter: ';'}", ";"),
    ],
)
def test_delimited_formats(tenant, fmt, options, separator):
    tenant.write_catalog(courier_catalog(f"'in/customers_'yyyyMMdd'.{fmt}'", options))
    lines = [HEADER] + ROWS
    tenant.land(f"in/customers_20260105.{fmt}", "\n".join(line.replace(",", separator) for line in lines) + "\n")
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert outcome.success, outcome.failures
    expect_two_rows(tenant)


def test_gzip_csv_and_line_numbers(tenant):
    tenant.write_catalog(courier_catalog("'in/customers_'yyyyMMdd'.csv.gz'"))
    tenant.land("in/customers_20260105.csv.gz", "\n".join([HEADER] + ROWS) + "\n", gzipped=True)
    assert tenant.run("2026-01-05", ingest_only=True).success
    expect_two_rows(tenant)
    assert tenant.query("SELECT _file, _line FROM domain.customers ORDER BY id") == [
        ("in/customers_20260105.csv.gz", 2), ("in/customers_20260105.csv.gz", 3)]


def test_zip_archive_members_load(tenant):
    tenant.write_catalog(courier_catalog("'in/customers_'yyyyMMdd'.zip'"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("part1.csv", "\n".join([HEADER, ROWS[0]]) + "\n")
        archive.writestr("part2.csv", "\n".join([HEADER, ROWS[1]]) + "\n")
    tenant.land("in/customers_20260105.zip", buffer.getvalue())
    assert tenant.run("2026-01-05", ingest_only=True).success
    expect_two_rows(tenant)
    assert {r[0] for r in tenant.query("SELECT _file FROM domain.customers")} == {
        "in/customers_20260105.zip!part1.csv", "in/customers_20260105.zip!part2.csv"}


def test_corrupt_zip_is_quarantined_with_the_file_named(tenant):
    tenant.write_catalog(courier_catalog("'in/customers_'yyyyMMdd'.zip'"))
    tenant.land("in/customers_20260105.zip", b"PK\x03\x04 this is not a zip")
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert not outcome.success  # the required courier's only file: as if it were missing
    [failure] = outcome.failures
    assert "required courier 'shop' has no loadable file left" in failure
    assert "in/customers_20260105.zip: not a readable zip archive" in failure
    assert "not a readable zip archive" in tenant.quarantined()["in/customers_20260105.zip"]


def records():
    names = HEADER.split(",")
    return [dict(zip(names, row.split(","), strict=True)) for row in ROWS]


def test_json_array_and_ndjson(tenant):
    tenant.write_catalog("""
couriers:
  - name: shop_json
    pattern: "'in/a_'yyyyMMdd'.json'"
    feed: customers
    file: {format: json}
  - name: shop_ndjson
    pattern: "'in/b_'yyyyMMdd'.ndjson'"
    feed: customers
    file: {format: ndjson}
""" + CUSTOMER_FEED)
    first, second = records()
    tenant.land("in/a_20260105.json", json.dumps([first]))
    tenant.land("in/b_20260105.ndjson", json.dumps(second) + "\n")
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert outcome.success, outcome.failures
    expect_two_rows(tenant)


def test_parquet(tenant):
    tenant.write_catalog(courier_catalog("'in/customers_'yyyyMMdd'.parquet'", "file: {format: parquet}"))
    path = tenant.landing / "in" / "customers_20260105.parquet"
    path.parent.mkdir(parents=True)
    with duckdb.connect() as conn:
        conn.execute(
            "COPY (SELECT * FROM (VALUES ('1','Ann','Lee','ann@example.org','5551110000',DATE '1990-01-01',"
            "TIMESTAMP '2026-01-01'), ('2','Bo','Chu','bo@example.org','5552220000',DATE '1985-02-03',"
            "TIMESTAMP '2026-01-01')) t(id, first_name, last_name, email, phone, birth_date, updated_at)) "
            f"TO '{path}' (FORMAT parquet)")
    assert tenant.run("2026-01-05", ingest_only=True).success
    expect_two_rows(tenant)


def test_no_header_quotes_escapes_latin1_and_bom(tenant):
    tenant.write_catalog(courier_catalog(
        "'in/customers_'yyyyMMdd'.csv'", "file: {header: false, encoding: latin-1, quote: \"'\", escape: '\\'}"))
    body = "1,'Zoë','O\\'Neil, Jr',ann@example.org,5551110000,1990-01-01,2026-01-01 00:00:00\n" + ROWS[1] + "\n"
    tenant.land("in/customers_20260105.csv", body, encoding="latin-1")
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert outcome.success, outcome.failures
    assert tenant.query("SELECT first_name, last_name FROM domain.customers WHERE id = '1'") == [("ZOE", "ONEIL JR")]

    tenant.write_catalog(courier_catalog("'in/bom_'yyyyMMdd'.csv'"))
    tenant.land("in/bom_20260106.csv", "\ufeff" + "\n".join([HEADER] + ROWS) + "\n")
    assert tenant.run("2026-01-06", ingest_only=True).success


def test_several_files_load_in_day_then_name_order(tenant):
    tenant.write_catalog(courier_catalog("'in/'yyyy'/'MM'/'dd'/customers-*.csv'"))
    newer = "1,Ann,Lee,ann.new@example.org,5551110000,1990-01-01,2026-01-01 00:00:00"
    tenant.land("in/2026/01/05/customers-b.csv", "\n".join([HEADER, ROWS[0]]) + "\n")
    tenant.land("in/2026/01/05/customers-a.csv", "\n".join([HEADER, ROWS[1]]) + "\n")
    tenant.land("in/2026/01/06/customers-a.csv", f"{HEADER}\n{newer}" + "\n")
    tenant.land("in/2026/01/06/customers.csv", "\n".join([HEADER, ROWS[0]]) + "\n")  # does not match
    outcome = tenant.run("2026-01-05", until="2026-01-06", ingest_only=True)
    assert outcome.success, outcome.failures
    assert tenant.query("SELECT _file, _seq FROM raw.shop__files ORDER BY _seq") == [
        ("in/2026/01/05/customers-a.csv", 1), ("in/2026/01/05/customers-b.csv", 2), ("in/2026/01/06/customers-a.csv", 3)]
    assert tenant.scalar("SELECT email FROM domain.customers WHERE id = '1'") == "ann.new@example.org"


def test_missing_required_file_fails_naming_pattern_and_date(tenant):
    tenant.write_catalog(courier_catalog("'in/customers_'yyyyMMdd'.csv'"))
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert not outcome.success
    text = "\n".join(outcome.failures)
    assert "no file matching in/customers_20260105.csv for 2026-01-05" in text
    assert "required" in text


def test_missing_optional_file_warns_and_continues(tenant):
    tenant.write_catalog(courier_catalog("'in/customers_'yyyyMMdd'.csv'", optional=True))
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert outcome.success, outcome.failures
    courier = next(r for r in outcome.rows if r.key == "courier/shop")
    assert "missing: in/customers_20260105.csv for 2026-01-05" in courier.detail
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 0


def test_skip_missing_files_option(tenant):
    tenant.write_catalog(courier_catalog("'in/customers_'yyyyMMdd'.csv'"))
    assert tenant.run("2026-01-05", ingest_only=True, skip_missing=True).success


def test_missing_column_is_a_clear_error_and_domain_table_is_kept(tenant):
    tenant.write_catalog(courier_catalog("'in/customers_'yyyyMMdd'.csv'"))
    tenant.land("in/customers_20260105.csv", "\n".join([HEADER] + ROWS) + "\n")
    assert tenant.run("2026-01-05", ingest_only=True).success
    tenant.land("in/customers_20260106.csv", "id,first_name,email\n3,Cy,cy@example.org\n")
    outcome = tenant.run("2026-01-06", ingest_only=True)
    text = "\n".join(outcome.failures)
    assert "in/customers_20260106.csv: missing column(s) last_name, phone, birth_date, updated_at" in text
    assert "missing column(s)" in tenant.quarantined()["in/customers_20260106.csv"]
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 2


def test_a_file_name_with_glob_characters_is_refused_not_misread(tenant):
    tenant.write_catalog(courier_catalog("'in/c-*.csv'"))
    tenant.land("in/c-a.csv", "\n".join([HEADER, ROWS[0]]) + "\n")
    tenant.land("in/c-[a].csv", "\n".join([HEADER, ROWS[1]]) + "\n")
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert "in/c-[a].csv: file names with any of * ? [ ] { } cannot be read safely" in "\n".join(outcome.refused)
    assert [r[0] for r in loaded(tenant)] == ["1"]  # the other file loads
    assert list(tenant.quarantined()) == ["in/c-[a].csv"]


def test_json_dates_follow_the_declared_format(tenant):
    tenant.write_catalog("""
couriers:
  - name: events
    pattern: "'in/e_'yyyyMMdd'.ndjson'"
    feed: events
    file: {format: ndjson}
feeds:
  - name: events
    source: app
    columns:
      - {name: id, tag: pk}
      - {name: at, type: datetime, format: "yyyy-MM-dd'T'HH:mm:ss"}
      - {name: day, type: date, format: dd.MM.yyyy}
""")
    tenant.land("in/e_20260105.ndjson", '{"id": 1, "at": "2026-01-05T10:00:00", "day": "05.01.2026", "x": {"a": 1}}\n')
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert outcome.success, outcome.failures
    assert tenant.query('SELECT id, CAST("at" AS VARCHAR), CAST("day" AS VARCHAR) FROM domain.events') == [
        ("1", "2026-01-05 10:00:00", "2026-01-05")]


def test_parquet_text_dates_follow_the_format_and_typed_dates_need_none(tenant):
    tenant.write_catalog("""
couriers:
  - name: shop
    pattern: "'in/p_'yyyyMMdd'.parquet'"
    feed: orders
    file: {format: parquet}
feeds:
  - name: orders
    source: shop
    columns:
      - {name: id, tag: pk}
      - {name: typed_day, type: date, format: MM/dd/yyyy}
      - {name: text_day, type: date, format: MM/dd/yyyy}
""")
    path = tenant.landing / "in" / "p_20260105.parquet"
    path.parent.mkdir(parents=True)
    with duckdb.connect() as conn:
        conn.execute(f"COPY (SELECT '1' AS id, DATE '2026-01-04' AS typed_day, '03/04/2024' AS text_day) TO '{path}'")
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert outcome.success, outcome.failures
    assert tenant.query("SELECT CAST(typed_day AS VARCHAR), CAST(text_day AS VARCHAR) FROM domain.orders") == [
        ("2026-01-04", "2024-03-04")]


def test_cli_output_keeps_brackets_and_colons_literal(tenant, tmp_path):
    import os
    import subprocess
    import sys

    tenant.write_catalog(courier_catalog("'in/customers_'yyyyMMdd'.csv'"))
    data = tmp_path / "wp[x]:100:"
    env = {**os.environ, "WORKFLOW_PLATFORM_DATA": str(data)}
    out = subprocess.run([sys.executable, "-m", "workflow_platform.cli", "run", "--catalog", str(tenant.catalog_dir),
                          "--date", "2026-01-05", "--ingest-only"], env=env, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 1
    assert "wp[x]:100:" in out.stderr + out.stdout  # the path as it is: no markup, no emoji
    assert "contains * ? [ ] { }" in out.stderr
    assert "Traceback" not in out.stderr


def test_an_unterminated_quote_refuses_the_file_instead_of_losing_its_rest(tenant):
    tenant.write_catalog(courier_catalog("'in/customers_'yyyyMMdd'.csv'").replace(
        "    source: shop", "    source: shop\n    error_threshold: 50"))
    tenant.land("in/customers_20260105.csv", "\n".join([HEADER] + ROWS) + "\n")
    assert tenant.run("2026-01-05", ingest_only=True).success
    lines = [HEADER] + [f"{i},N,L,n{i}@example.org,5551110000,1990-01-01,2026-01-01 00:00:00" for i in range(3, 30003)]
    lines[29000] = '29000,"Unterminated,L,x@example.org,5551110000,1990-01-01,2026-01-01 00:00:00'
    tenant.land("in/customers_20260106.csv", "\n".join(lines) + "\n")
    outcome = tenant.run("2026-01-06", ingest_only=True)
    assert ("in/customers_20260106.csv: line 29001 has a value with an unterminated quote"
            in "\n".join(outcome.failures))
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 2  # the previous state, nothing half-loaded
    assert tenant.scalar("SELECT count(*) FROM audit.rejects") == 0  # the refused file leaves no partial rejects
    assert "unterminated quote" in tenant.quarantined()["in/customers_20260106.csv"]


def test_a_file_that_does_not_parse_gets_one_clear_line(tenant):
    tenant.write_catalog(courier_catalog("'in/customers_'yyyyMMdd'.csv'"))
    tenant.land("in/customers_20260105.csv", HEADER + '\n1,"Ann,Lee\n2,Bo,Chu\n')
    outcome = tenant.run("2026-01-05", ingest_only=True)
    [failure] = outcome.failures
    refused = failure.splitlines()[-1]
    assert ("in/customers_20260105.csv: line 2 has a value with an unterminated quote; the rest of the file cannot "
            "be read reliably") in refused
    assert "strict_mode" not in refused


def test_file_column_names_can_differ_from_feed_names(tenant):
    tenant.write_catalog(courier_catalog("'in/customers_'yyyyMMdd'.csv'").replace(
        "{name: first_name, tag: given-name}", "{name: first_name, source: First Name, tag: given-name}"))
    tenant.land("in/customers_20260105.csv", "\n".join([HEADER.replace("first_name", " FIRST NAME ")] + ROWS) + "\n")
    assert tenant.run("2026-01-05", ingest_only=True).success
    expect_two_rows(tenant)


def test_an_empty_file_is_named_as_empty(tenant):
    tenant.write_catalog(courier_catalog("'in/customers_'yyyyMMdd'.csv'"))
    tenant.land("in/customers_20260105.csv", b"")
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert "in/customers_20260105.csv: file is empty (0 bytes)" in "\n".join(outcome.failures)


def test_a_closed_quote_followed_by_text_rejects_only_its_line(tenant):
    tenant.write_catalog(courier_catalog("'in/customers_'yyyyMMdd'.csv'").replace(
        "    source: shop", "    source: shop\n    error_threshold: 50"))
    lines = [HEADER] + [f"{i},N,L,n{i}@example.org,5551110000,1990-01-01,2026-01-01 00:00:00" for i in range(1, 30001)]
    lines[29000] = '29000,"Ann"x,L,x@example.org,5551110000,1990-01-01,2026-01-01 00:00:00'
    tenant.land("in/customers_20260105.csv", "\n".join(lines) + "\n")
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert outcome.success, outcome.failures
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 29999
    assert tenant.query("SELECT line FROM audit.rejects") == [(29001,)]


def test_a_courier_can_be_skipped_for_one_run(tenant):
    tenant.write_catalog(courier_catalog("'in/customers_'yyyyMMdd'.csv'"))
    outcome = tenant.run("2026-01-05", ingest_only=True, skip_couriers=["shop"])  # its file is missing: no failure
    assert outcome.success, outcome.failures
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 0
