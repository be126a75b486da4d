"""Files the way real exports break: every valid file loads, no value is silently changed, no refusal quotes a
customer. Each file is written here, the way a spreadsheet, a concatenation or a cut-off transfer writes it."""

from __future__ import annotations

import gzip
import io
import json
import logging
import tarfile
import time

import dagster as dg
import pytest
from click.testing import CliRunner

from workflow_platform.cli import main
from workflow_platform.runner import run_workflow

DAY = "2026-01-05"
HEADER = "id,given,surname,email,phone,birth,visits,spend"
CATALOG = """
couriers:
  - name: shop
    pattern: "'in/c_'yyyyMMdd'{suffix}'"
    feed: people
    file: {file}
feeds:
  - name: people
    source: shop
    columns:
      - {{name: id, type: string, tag: pk}}
      - {{name: given, tag: given-name}}
      - {{name: surname, tag: surname}}
      - {{name: email, tag: email}}
      - {{name: phone, tag: phone}}
      - {{name: birth, type: date, tag: birthdate}}
      - {{name: visits, type: integer}}
      - {{name: spend, type: "decimal(7,2)"}}
"""


def catalog(suffix: str = ".csv", file: str = "{}", extra: str = "") -> str:
    return CATALOG.format(suffix=suffix, file=file) + extra


def row(n: int, **values) -> str:
    fields = {"id": str(n), "given": f"Ann{n}", "surname": f"Lee{n}", "email": f"ann{n}@example.org",
              "phone": f"555{n:07d}", "birth": "1990-01-01", "visits": str(n), "spend": f"{n}.50"} | values
    return ",".join(fields.values())


def rows(count: int, first: int = 1) -> list[str]:
    return [row(n) for n in range(first, first + count)]


def said(outcome) -> str:
    """What a run said about refused files: the refusals, and the failure when the only file was refused."""
    return "\n".join(outcome.refused + outcome.failures)


# ----------------------------------------------------------------------------------------- line endings


@pytest.mark.parametrize("ending", ["one CRLF line in an LF file", "alternating LF and CRLF", "CR only"])
def test_any_mix_of_line_endings_loads_every_row_without_a_carriage_return(tenant, ending):
    lines = [HEADER, *rows(100)]
    if ending == "one CRLF line in an LF file":
        text = "".join(line + ("\r\n" if i == 40 else "\n") for i, line in enumerate(lines))
    elif ending == "alternating LF and CRLF":
        text = "".join(line + ("\r\n" if i % 2 else "\n") for i, line in enumerate(lines))
    else:
        text = "\r".join(lines) + "\r"
    tenant.write_catalog(catalog())
    tenant.land(f"in/c_{DAY.replace('-', '')}.csv", text.encode())
    outcome = tenant.run(DAY, ingest_only=True)
    assert outcome.success, outcome.failures + outcome.refused
    assert tenant.scalar("SELECT count(*) FROM domain.people") == 100
    assert tenant.scalar("SELECT count(*) FROM domain.people WHERE contains(CAST(spend AS VARCHAR) || visits || "
                         "given || surname || email, chr(13))") == 0
    assert tenant.query("SELECT id, spend, _line FROM domain.people WHERE id IN ('40', '41') ORDER BY id") == [
        ("40", pytest.approx(40.5), 41), ("41", pytest.approx(41.5), 42)]


# ----------------------------------------------------------------------------------------- rows that cannot be read


def test_a_last_row_cut_inside_a_quoted_value_is_that_rows_reject(tenant):
    tenant.write_catalog(catalog())
    tenant.land("in/c_20260105.csv", "\n".join([HEADER, *rows(99)]) + '\n100,"Ann100,Lee')
    outcome = tenant.run(DAY, ingest_only=True)
    assert outcome.success, outcome.failures + outcome.refused
    assert tenant.scalar("SELECT count(*) FROM domain.people") == 99
    [(line, reason)] = tenant.query("SELECT line, reason FROM audit.rejects")
    assert line == 101 and reason.startswith("the row ends inside a quoted value")


def test_a_huge_value_rejects_its_row_and_the_limit_can_be_raised(tenant):
    huge = "x" * 2_100_000
    text = "\n".join([HEADER, *rows(10), row(11, given=huge), *rows(10, first=12)]) + "\n"
    tenant.write_catalog(catalog(extra="    error_threshold: 10\n"))
    tenant.land("in/c_20260105.csv", text)
    outcome = tenant.run(DAY, ingest_only=True)
    assert outcome.success, outcome.failures + outcome.refused
    assert tenant.scalar("SELECT count(*) FROM domain.people") == 20
    [(line, reason)] = tenant.query("SELECT line, reason FROM audit.rejects")
    assert line == 12 and "longer than file.limits.max_line_bytes" in reason
    # with a longer line allowed, the row loads; the value is longer than a value may be: NULL and recorded
    tenant.write_catalog(catalog(file="{limits: {max_line_bytes: 5000000}}"))
    tenant.land("in/c_20260105.csv", text.replace("Ann1,", "Anna1,"))  # changed content: a new file
    assert tenant.run(DAY, ingest_only=True).success
    assert tenant.query("SELECT given FROM domain.people WHERE id = '11'") == [(None,)]
    assert tenant.query("SELECT line, column_name, reason FROM audit.value_problems") == [
        (12, "given", "longer than 65,536 characters (file.limits.max_value_chars)")]


# ----------------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(("column", "text", "stored"), [
    ("visits", "12", 12), ("visits", "-3", -3), ("visits", "12.0", 12), ("visits", " 7 ", 7),
    ("visits", "1.234", None), ("visits", '"1,234"', None), ("visits", "1 234", None), ("visits", "$12", None),
    ("visits", "9223372036854775808", None), ("visits", "1e3", None),
    ("spend", "99.5", 99.5), ("spend", "0.25", 0.25), ("spend", "-12345.67", -12345.67), ("spend", "1.230", 1.23),
    ("spend", "1.234", None), ("spend", '"12,345.67"', None), ("spend", '"1.234,56"', None), ("spend", "$99.50", None),
    ("spend", "123456.5", None), ("spend", "1 000.00", None),
])
def test_a_number_loads_only_as_the_one_number_it_is(tenant, column, text, stored):
    tenant.write_catalog(catalog())
    tenant.land("in/c_20260105.csv", "\n".join([HEADER, *rows(200), row(201, **{column: text})]) + "\n")
    outcome = tenant.run(DAY, ingest_only=True)
    assert outcome.success, outcome.failures + outcome.refused
    [(value,)] = tenant.query(f"SELECT {column} FROM domain.people WHERE id = '201'")
    problems = tenant.query("SELECT line, column_name, value, reason FROM audit.value_problems")
    if stored is None:
        assert value is None
        assert [(p[0], p[1], p[2]) for p in problems] == [(202, column, text.strip('"'))]
        assert "no thousands separators" in problems[0][3]
    else:
        assert float(value) == stored and problems == []


# ----------------------------------------------------------------------------------------- headers and encodings


def test_a_header_naming_a_column_twice_is_refused_by_name_or_read_by_position(tenant):
    header = "id,given,surname,email,phone,phone,birth,visits,spend"
    body = "\n".join([header] + [f"{n},Ann{n},Lee{n},a{n}@x.org,555000{n:04d},555999{n:04d},1990-01-01,1,1.00"
                                 for n in range(1, 6)]) + "\n"
    tenant.write_catalog(catalog())
    tenant.land("in/c_20260105.csv", body)
    refused = said(tenant.run(DAY, ingest_only=True))
    assert "the header names 'phone' (columns 5, 6) more than once" in refused
    # declared by position, both load under their own names
    tenant.write_catalog(catalog(file="{header: false}").replace(
        "      - {name: phone, tag: phone}\n", "      - {name: phone, tag: phone}\n      - {name: mobile}\n"))
    tenant.land("in/c_20260105.csv", "\n".join(body.splitlines()[1:]) + "\n")
    assert tenant.run(DAY, ingest_only=True).success
    assert tenant.query("SELECT phone, mobile FROM domain.people WHERE id = '2'") == [("5550000002", "5559990002")]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_utf16_file_with_a_byte_order_mark_is_decoded(tenant, encoding):
    text = "\n".join([HEADER, *rows(5), row(6, given="José", surname="Löw")]) + "\n"
    bom = "\ufeff".encode(encoding)
    tenant.write_catalog(catalog())
    tenant.land("in/c_20260105.csv", bom + text.encode(encoding))
    outcome = tenant.run(DAY, ingest_only=True)
    assert outcome.success, outcome.failures + outcome.refused
    assert tenant.query("SELECT given, surname, visits FROM domain.people WHERE id = '6'") == [("JOSE", "LOW", 6)]


def test_a_utf32_file_is_refused_naming_its_encoding(tenant):
    tenant.write_catalog(catalog())
    tenant.land("in/c_20260105.csv", ("\n".join([HEADER, *rows(5)]) + "\n").encode("utf-32"))
    refused = said(tenant.run(DAY, ingest_only=True))
    assert "the file is UTF-32 (byte-order mark); export it as UTF-8 or UTF-16" in refused


# ----------------------------------------------------------------------------------------- hostile compression


def gzip_bomb(line: bytes, gigabytes: int) -> bytes:
    """A gzip of many identical members (valid: gzip files concatenate), each 1 MiB of `line` repeated."""
    member = gzip.compress((line * ((1 << 20) // len(line)))[: 1 << 20], compresslevel=9)
    return member * (gigabytes * 1024)


@pytest.mark.parametrize("content", [b"x", b"\n"], ids=["one endless line", "endless blank lines"])
def test_a_decompression_bomb_is_refused_quickly_saying_why(tenant, content):
    tenant.write_catalog(catalog(suffix=".csv.gz"))
    tenant.land("in/c_20260105.csv.gz", gzip.compress(("\n".join([HEADER, *rows(3)]) + "\n").encode())
                + gzip_bomb(content, 3))
    assert (tenant.landing / "in/c_20260105.csv.gz").stat().st_size < 4_000_000
    started = time.monotonic()
    outcome = tenant.run(DAY, ingest_only=True)
    assert time.monotonic() - started < 60
    refused = said(outcome)
    assert "unpacks to over 250 times its compressed size (file.limits.max_expansion_ratio)" in refused


def test_a_tar_archive_landed_as_csv_is_named_as_one(tenant):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = ("\n".join([HEADER, *rows(3)]) + "\n").encode()
        info = tarfile.TarInfo("customers.csv")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    tenant.write_catalog(catalog(suffix=".csv.gz"))
    tenant.land("in/c_20260105.csv.gz", buffer.getvalue())
    refused = said(tenant.run(DAY, ingest_only=True))
    assert "not a csv text file: it looks like a tar archive" in refused and "\x00" not in refused


def test_zip_members_are_unpacked_within_the_limits(tenant):
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("people.csv", "\n".join([HEADER, *rows(3)]) + "\n" + "\n" * 300_000_000)
    tenant.write_catalog(catalog(suffix=".zip"))
    tenant.land("in/c_20260105.zip", buffer.getvalue())
    refused = said(tenant.run(DAY, ingest_only=True))
    assert "people.csv: unpacks to over 250 times its compressed size" in refused


# ----------------------------------------------------------------------------------------- the value policy


def test_an_impossible_optional_value_loads_the_row_with_null_and_is_recorded(tenant):
    tenant.write_catalog(catalog())
    tenant.land("in/c_20260105.csv", "\n".join([HEADER, *rows(50), row(51, birth="1990-02-30"),
                                                row(52, visits="lots")]) + "\n")
    outcome = tenant.run(DAY, ingest_only=True)
    assert outcome.success, outcome.failures + outcome.refused
    assert tenant.scalar("SELECT count(*) FROM domain.people") == 52  # nobody lost
    assert tenant.query("SELECT id, birth, visits FROM domain.people WHERE id IN ('51', '52') ORDER BY id") == [
        ("51", None, 51), ("52", dt_date(1990, 1, 1), None)]
    assert tenant.query("SELECT file, line, column_name, value, reason FROM audit.value_problems ORDER BY line") == [
        ("in/c_20260105.csv", 52, "birth", "1990-02-30", "not a valid date"),
        ("in/c_20260105.csv", 53, "visits", "lots",
         "not an integer (digits with an optional sign; no thousands separators, spaces or currency symbols)")]
    assert tenant.scalar("SELECT count(*) FROM audit.rejects") == 0
    assert tenant.query("SELECT rows_loaded, rows_rejected, values_nulled FROM audit.files") == [(52, 0, 2)]
    feed = next(r for r in outcome.rows if r.key == "feed/people")
    assert "values_nulled=2" in feed.detail
    # a column can keep the old rule: the whole row is rejected
    tenant.write_catalog(catalog().replace("type: date, tag: birthdate}", "type: date, tag: birthdate, "
                                                                          "on_invalid: reject_row}"))
    tenant.land("in/c_20260106.csv", "\n".join([HEADER, *rows(200, first=100), row(400, birth="1990-02-30")]) + "\n")
    assert tenant.run("2026-01-06", ingest_only=True).success
    assert tenant.query("SELECT line, column_name, reason FROM audit.rejects") == [(202, "birth", "not a valid date")]
    assert tenant.scalar("SELECT count(*) FROM domain.people WHERE id = '400'") == 0


def dt_date(*parts):
    import datetime as dt

    return dt.date(*parts)


def test_key_values_are_trimmed_so_whitespace_never_splits_a_key(tenant):
    extra = "      - {name: ssn, tag: fk-ssn}\n"
    tenant.write_catalog(catalog().replace("    columns:\n", "    columns:\n" + extra, 1))
    tenant.land("in/c_20260105.csv", "\n".join(["ssn," + HEADER, " 123 ," + row(7), "\t456," + row(8)]) + "\n")
    tenant.land("in/c_20260106.csv", "\n".join(["ssn," + HEADER, "123," + row(7, id=" 7 ", given="Anna")]) + "\n")
    assert tenant.run(DAY, until="2026-01-06", ingest_only=True).success
    assert tenant.query("SELECT id, ssn, given FROM domain.people ORDER BY id") == [("7", "123", "ANNA"),
                                                                                   ("8", "456", "ANN8")]


# ----------------------------------------------------------------------------------------- reasons quote nobody


PLANTED = {"given": "Zebediah", "surname": "Quaternion", "email": "zeb.quaternion@example.org",
           "phone": "5557771234", "birth": "1971-07-17", "id": "PLANTED991"}


def planted_row() -> str:
    return row(991, **PLANTED, visits="3", spend="1.00")


def hostile_files() -> dict[str, bytes]:
    """Files whose refusals used to quote their first row or their bytes."""
    body = "\n".join([planted_row(), *rows(5)]) + "\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = f"{HEADER}\n{planted_row()}\n".encode()
        info = tarfile.TarInfo(f"{PLANTED['surname']}.csv")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return {
        "in/c_20260105_headerless.csv": body.encode(),
        "in/c_20260105_utf16.csv": ("\n".join([HEADER.replace("given", "first"), planted_row()]) + "\n").encode(
            "utf-16-le"),  # no byte-order mark: read as UTF-8, it is NUL bytes
        "in/c_20260105_tar.csv": buffer.getvalue(),
        "in/c_20260105_strict.csv": ("\n".join([HEADER + "," + PLANTED["email"], planted_row() + ",x"]) + "\n").encode(),
        "in/c_20260105_quote.csv": ("\n".join([HEADER, planted_row().replace("Zebediah", '"Zebediah'),
                                               *rows(5)]) + "\n").encode(),
        "in/c_20260105_latin1.csv": ("\n".join([HEADER, *rows(3), planted_row().replace("Zebediah", "Zébédiah")])
                                     + "\n").encode("latin-1"),
    }


def test_no_refusal_quotes_a_customer_value_anywhere(tenant, slack, monkeypatch, caplog):
    """CLI output, audit.files reasons, .reason.txt files, Slack alerts, Dagster's event log and metadata, and
    Python logs: none holds a planted value, for every way a file is refused here."""
    monkeypatch.setenv("WORKFLOW_PLATFORM_SLACK_TOKEN", "xoxb-test")
    monkeypatch.setenv("WORKFLOW_PLATFORM_SLACK_API_URL", slack.url)
    text = catalog(suffix="*.csv").replace("    source: shop\n", "    source: shop\n    strict: true\n") + """
courier_groups:
  - name: daily
    couriers: [{courier: shop}]
alerts:
  courier_groups:
    slack: ["#data-alerts"]
"""
    tenant.write_catalog(text)
    files = hostile_files()
    for name, data in files.items():
        tenant.land(name, data)
    cli = CliRunner().invoke(main, ["run", "--catalog", str(tenant.catalog_dir), "--date", DAY, "--group", "daily"],
                             env={"WORKFLOW_PLATFORM_WAREHOUSE": str(tenant.warehouse)})
    for name, data in files.items():  # again, for a run whose event log is kept
        tenant.land(name, data)
    tenant.land("in/c_20260105_good.csv", "\n".join([HEADER, *rows(5, first=20)]) + "\n")
    with dg.instance_for_test() as instance, caplog.at_level(logging.INFO):
        outcome = run_workflow(tenant.catalog(), window=(dt_date(2026, 1, 5),) * 2, group="daily",
                               warehouse=str(tenant.warehouse), instance=instance)
        events = "\n".join(dg.serialize_value(e) for e in instance.all_logs(outcome.run_id))
    reasons = "\n".join(r[0] for r in tenant.query("SELECT reason FROM audit.files WHERE reason <> ''"))
    reason_files = "\n".join(tenant.quarantined().values())
    alerts = json.dumps(slack.messages)
    # the refusals happened, and say what is wrong
    assert sorted(tenant.quarantined()) == sorted(files)  # each refused whole, in both runs
    assert "the header looks like a data row (8 fields" in reasons
    assert "looks like a tar archive" in reasons and "binary data (NUL bytes)" in reasons
    assert "1 column(s) are not declared by feed 'people', which is strict" in reasons
    assert "has a value with an unterminated quote" in reasons and "is not valid utf-8" in reasons
    assert "file_refused" in alerts or "refused" in alerts
    places = {"CLI output": cli.output, "audit.files reasons": reasons, ".reason.txt files": reason_files,
              "Slack alerts": alerts, "event log and metadata": events, "python logs": caplog.text,
              "run failures": "\n".join(outcome.failures + outcome.refused)}
    for where, text in places.items():
        for value in [*PLANTED.values(), "Zébédiah"]:
            assert value not in text, f"customer value {value!r} appears in the {where}"
        assert "\x00" not in text and "\\u0000" not in text, f"NUL bytes in the {where}"
