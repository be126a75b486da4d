"""Feeds type and standardize by semantic tag; rows that fail typing go to audit.rejects."""

import duckdb
import pytest

from workflow_platform.catalog.models import StitchSettings
from workflow_platform.formats.joda import joda_to_strftime
from workflow_platform.ingest.feeds.semantics import standardize
from workflow_platform_tests.support import people_catalog

SETTINGS = StitchSettings()


def std(tag: str, value: str | None, settings: StitchSettings = SETTINGS):
    with duckdb.connect() as conn:
        return conn.execute(f"SELECT {standardize('v', [tag], settings)} FROM (SELECT ?::VARCHAR AS v)", [value]).fetchone()[0]


@pytest.mark.parametrize("raw, expected", [
    ("  John.Doe@Example.ORG ", "john.doe@example.org"),
    ("test@test.com", None), ("noemail@acme.com", None), ("none@none.com", None), ("someone@example.com", None),
    ("not-an-email", None), ("", None), (None, None),
])
def test_email(raw, expected):
    assert std("email", raw) == expected


def test_email_blocklist_is_configurable():
    custom = StitchSettings(email_blocklist=["devnull@"])
    assert std("email", "devnull@acme.com", custom) is None
    assert std("email", "test@acme.com", custom) == "test@acme.com"


@pytest.mark.parametrize("raw, expected", [
    ("(555) 123-4567", "5551234567"), ("+1 555.123.4567", "5551234567"), ("555-1234", None),
    ("0000000000", None), ("1234567890", None), ("7777777777", None), ("1 (555) 123 4567 ", "5551234567"),
])
def test_phone(raw, expected):
    assert std("phone", raw) == expected


@pytest.mark.parametrize("tag, raw, expected", [
    ("given-name", " José-María ", "JOSE MARIA"), ("surname", "O'Brien", "OBRIEN"), ("surname", "  ", None),
    ("address", "123 Main Street, Apt. 4", "123 MAIN ST APT 4"), ("address", "9 Elm Avenue", "9 ELM AVE"),
    ("address", "1 Streetcar Road", "1 STREETCAR RD"), ("address2", "Suite 200", "STE 200"),
    ("postal", "98101-1234", "98101"), ("postal", "981011234", "98101"), ("postal", "v6b 1a1", "V6B 1A1"),
    ("city", "st. louis", "ST LOUIS"), ("state", "wa", "WA"),
])
def test_names_addresses_postal(tag, raw, expected):
    assert std(tag, raw) == expected


def test_joda_formats():
    assert joda_to_strftime("yyyy-MM-dd HH:mm:ss") == "%Y-%m-%d %H:%M:%S"
    assert joda_to_strftime("MM/dd/yyyy") == "%m/%d/%Y"
    assert joda_to_strftime("yyyyMMdd'T'HHmm") == "%Y%m%dT%H%M"


def feed_catalog(threshold: int) -> str:
    """Feed `people` of every column type, refusing its file past `threshold` percent of rejected rows."""
    return people_catalog([
        "{name: id, type: integer, tag: pk}",
        "{name: email, tag: email}",
        "{name: born, type: date, format: MM/dd/yyyy, tag: birthdate, on_invalid: reject_row}",
        '{name: seen, type: datetime, format: "yyyy-MM-dd HH:mm"}',
        '{name: score, type: "decimal(5,2)"}',
        "{name: ratio, type: float}",
        "{name: active, type: boolean}",
    ], feed_options=[f"error_threshold: {threshold}"])


def people_file(bad_rows: int, good_rows: int = 20) -> str:
    lines = ["id,email,born,seen,score,ratio,active"]
    for i in range(1, good_rows + 1):
        lines.append(f"{i},P{i}@Example.org,01/0{1 + i % 9}/1990,2026-01-05 10:30,{i}.25,0.5,{'yes' if i % 2 else 'no'}")
    for j in range(bad_rows):
        lines.append(f"{100 + j},bad{j}@example.org,1990-13-45,2026-01-05 10:30,1.00,0.5,true")
    return "\n".join(lines) + "\n"


def test_types_are_parsed_and_values_standardized(tenant):
    tenant.write_catalog(feed_catalog(1))
    tenant.land("in/c_20260105.csv", people_file(bad_rows=0))
    assert tenant.run("2026-01-05", ingest_only=True).success
    row = tenant.query("SELECT id, email, born, seen, score, ratio, active FROM domain.people WHERE id = 3")[0]
    assert row[0] == 3 and row[1] == "p3@example.org"
    assert str(row[2]) == "1990-01-04" and str(row[3]) == "2026-01-05 10:30:00"
    assert float(row[4]) == 3.25 and row[5] == 0.5 and row[6] is True
    types = dict(tenant.query("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'people' "
                              "AND schema_name = 'domain'"))
    assert types["score"] == "DECIMAL(5,2)" and types["id"] == "BIGINT" and types["born"] == "DATE"


def test_rejected_rows_are_recorded_and_within_threshold_the_rest_loads(tenant):
    tenant.write_catalog(feed_catalog(10))
    tenant.land("in/c_20260105.csv", people_file(bad_rows=2))
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert outcome.success, outcome.failures
    assert tenant.scalar("SELECT count(*) FROM domain.people") == 20
    rejects = tenant.query("SELECT file, line, column_name, value, reason FROM audit.rejects ORDER BY line")
    assert rejects == [
        ("in/c_20260105.csv", 22, "born", "1990-13-45", "not a valid date in format MM/dd/yyyy"),
        ("in/c_20260105.csv", 23, "born", "1990-13-45", "not a valid date in format MM/dd/yyyy"),
    ]


def test_a_file_over_the_threshold_is_rejected_and_leaves_the_domain_table_unchanged(tenant):
    tenant.write_catalog(feed_catalog(1))
    tenant.land("in/c_20260105.csv", people_file(bad_rows=0))
    assert tenant.run("2026-01-05", ingest_only=True).success
    before = tenant.query("SELECT * FROM domain.people ORDER BY id")
    tenant.land("in/c_20260106.csv", people_file(bad_rows=1, good_rows=5).replace("P1@", "changed@"))
    outcome = tenant.run("2026-01-06", ingest_only=True)
    assert not outcome.success  # the day's only file of a required courier: as if it were missing
    assert "in/c_20260106.csv: 1 of 6 rows rejected (16.67% > 1% error threshold" in "\n".join(outcome.failures)
    assert "in/c_20260106.csv:7: born: not a valid date in format MM/dd/yyyy" in "\n".join(outcome.failures)
    assert tenant.query("SELECT * FROM domain.people ORDER BY id") == before
    assert tenant.scalar("SELECT count(*) FROM audit.rejects WHERE file = 'in/c_20260106.csv'") == 1
    assert tenant.manifest("shop")[-1] == ("in/c_20260106.csv", "rejected", 0)
    # the rejected file stays in the landing folder; later runs skip it instead of rejecting it again
    assert tenant.run("2026-01-06", ingest_only=True).success
    assert tenant.scalar("SELECT count(*) FROM audit.rejects WHERE file = 'in/c_20260106.csv'") == 1


def test_threshold_override_for_one_run(tenant):
    tenant.write_catalog(feed_catalog(1))
    tenant.land("in/c_20260106.csv", people_file(bad_rows=1, good_rows=5))
    assert not tenant.run("2026-01-06", ingest_only=True).success
    assert tenant.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'people'") == 0
    assert tenant.run("2026-01-06", ingest_only=True, error_threshold=50).refused == []
    assert tenant.scalar("SELECT count(*) FROM domain.people") == 5
    assert [s for _, s, _ in tenant.manifest("shop")] == ["rejected", "loaded"]
    assert tenant.catalog().feed("people").error_threshold == 1  # the saved catalog is unchanged


def test_empty_primary_key_and_malformed_lines_are_rejected(tenant):
    tenant.write_catalog(feed_catalog(50))
    tenant.land("in/c_20260105.csv", "id,email,born,seen,score,ratio,active\n"
                ",a@example.org,01/01/1990,,,,\n"
                "2,b@example.org,01/01/1990,,,,\n"
                "3,c@example.org,01/01/1990,,,,,extra,columns\n"
                "4,d@example.org,01/01/1990,,,,\n")
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert outcome.success, outcome.failures
    assert [r[0] for r in tenant.query("SELECT id FROM domain.people ORDER BY id")] == [2, 4]
    reasons = tenant.query("SELECT line, reason FROM audit.rejects ORDER BY line")
    assert reasons[0] == (2, "primary key is empty")
    assert reasons[1][0] == 4 and "too many fields" in reasons[1][1]


def test_line_numbers_stay_exact_after_malformed_lines(tenant):
    tenant.write_catalog(feed_catalog(60))
    tenant.land("in/c_20260105.csv", "id,email,born,seen,score,ratio,active\n"
                "1,a@example.org,01/01/1990,,,,\n"
                "2,b@example.org,01/01/1990,,,,,extra\n"
                "3,c@example.org,01/01/1990,,,,,extra\n"
                "4,d@example.org,01/01/1990,,,,\n"
                "5,e@example.org,01/01/1990,,,,,extra\n"
                "6,f@example.org,01/01/1990,,notanumber,,\n"
                "7,g@example.org,01/01/1990,,,,\n")
    outcome = tenant.run("2026-01-05", ingest_only=True)
    assert outcome.success, outcome.failures
    assert tenant.query("SELECT id, _line, score FROM domain.people ORDER BY id") == [
        (1, 2, None), (4, 5, None), (6, 7, None), (7, 8, None)]
    assert [r[0] for r in tenant.query("SELECT line FROM audit.rejects ORDER BY line")] == [3, 4, 6]
    # an optional value that does not fit is loaded as NULL and recorded on its line (the value policy)
    assert tenant.query("SELECT line, column_name FROM audit.value_problems") == [(7, "score")]
