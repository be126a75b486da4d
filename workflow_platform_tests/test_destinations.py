"""Sends to folder destinations for real: every file format and option to a local folder, then S3 (moto server),
SFTP (asyncssh server) and an upload killed half way, all read back and parsed."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import asyncssh
import duckdb
import pytest
from fsspec.implementations.local import LocalFileSystem

from workflow_platform.catalog.models import Destination
from workflow_platform.formats.filenames import render_filename
from workflow_platform.orchestrations.destinations import classify
from workflow_platform.orchestrations.errors import PermanentSendError, SendError, TransientSendError
from workflow_platform.orchestrations.export import template_select
from workflow_platform.orchestrations.send import SendNames, SendSummary, send_rows
from workflow_platform.storage import MissingSecret
from workflow_platform_tests.servers import s3_server, sftp_server  # noqa: F401

NOW = dt.datetime(2026, 3, 1, 5, 30, tzinfo=dt.UTC)  # still 2026-02-28 in Los Angeles
COLUMNS = ["id", "name", "note", "born", "city"]
ROWS = [
    (1, "plain", "a,b", dt.date(2024, 1, 2), "Zoë"),
    (2, 'say "hi"', "line1\nline2", None, "東京"),
    (3, "it's", "", dt.date(1999, 12, 31), None),
    (4, "tab\there", "pipe|semi;colon", dt.date(2024, 2, 29), "São Paulo"),
]
QUERY = "SELECT * FROM audience ORDER BY id"
# DuckDB's CSV for ROWS: minimal quoting, NULL as nothing, the empty string as "", the embedded newline kept as is
CSV_LINES = [
    "id,name,note,born,city",
    '1,plain,"a,b",2024-01-02,Zoë',
    '2,"say ""hi""","line1\nline2",,東京',
    "3,it's,\"\",1999-12-31,",
    "4,tab\there,pipe|semi;colon,2024-02-29,São Paulo",  # a tab is plain in csv (quoted in tsv)
]
TYPED_COLUMNS = "{'id': 'INTEGER', 'name': 'VARCHAR', 'note': 'VARCHAR', 'born': 'DATE', 'city': 'VARCHAR'}"


def text_rows(rows=ROWS) -> list[list[str]]:
    """ROWS as a CSV reader returns them (NULL and the empty string both read as '')."""
    return [[str(i), n, note, born.isoformat() if born else "", city or ""] for i, n, note, born, city in rows]


def json_rows(rows=ROWS) -> list[dict]:
    return [{"id": i, "name": n, "note": note, "born": born.isoformat() if born else None, "city": city}
            for i, n, note, born, city in rows]


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("WORKFLOW_PLATFORM_DATA", str(folder))
    return folder


@pytest.fixture
def conn():
    with duckdb.connect() as connection:
        connection.execute("CREATE TABLE audience (id INTEGER, name VARCHAR, note VARCHAR, born DATE, city VARCHAR)")
        connection.executemany("INSERT INTO audience VALUES (?, ?, ?, ?, ?)", ROWS)
        yield connection


def local(**settings) -> Destination:
    return Destination(name="files", url="out", **settings)


def send(conn, destination: Destination, template: str = "audience.csv", query: str = QUERY,
         now: dt.datetime = NOW) -> SendSummary:
    return send_rows(conn, query, destination, template, SendNames("weekly", campaign="spring", sub_audience="a"),
                     now)


def unpack(path: Path, compression: str) -> bytes:
    """The file's content: gunzipped, or the one member of the zip (named as the file without `.zip`)."""
    raw = path.read_bytes()
    if compression == "gzip":
        assert raw[:2] == b"\x1f\x8b"
        return gzip.decompress(raw)
    if compression == "zip":
        with zipfile.ZipFile(path) as archive:
            assert archive.namelist() == [path.name.removesuffix(".zip")]
            return archive.read(archive.namelist()[0])
    return raw


def parse_csv(text: str, **dialect) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), **dialect))


def duckdb_rows(sql: str, params=None) -> list[tuple]:
    with duckdb.connect() as reader:
        return reader.execute(sql, params or []).fetchall()


def assert_no_leftovers(data: Path, folder: Path) -> None:
    """No `.partial` upload in the destination folder, no scratch folder of the send under `<data>/tmp`."""
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".partial")]
    assert_scratch_clean(data)


def assert_scratch_clean(data: Path) -> None:
    """The send's scratch folder under `<data>/tmp` is gone (or was never made: credentials are checked first)."""
    scratch = data / "tmp"
    assert not scratch.exists() or list(scratch.iterdir()) == []


# ------------------------------------------------------------------------------------------------ formats, local


def test_csv_bytes_are_exact_and_summary_matches_the_file(conn, data):
    summary = send(conn, local())
    path = data / "out" / "audience.csv"
    assert path.read_bytes() == ("\n".join(CSV_LINES) + "\n").encode()
    assert summary == SendSummary(rows=4, files=1, bytes=path.stat().st_size, urls=[str(path)], attempts=1)
    assert_no_leftovers(data, data / "out")


@pytest.mark.parametrize("compression", ["none", "gzip", "zip"])
@pytest.mark.parametrize(("fmt", "separator"), [("csv", ","), ("tsv", "\t"), ("psv", "|"), ("delimited", ";")])
def test_delimited_text_round_trips(conn, data, tmp_path, fmt, separator, compression):
    name = "audience.txt" + {"none": "", "gzip": ".gz", "zip": ".zip"}[compression]
    settings = {"delimiter": separator} if fmt == "delimited" else {}
    summary = send(conn, local(format=fmt, compression=compression, **settings), template=name)
    path = data / "out" / name
    assert (summary.rows, summary.files, summary.urls) == (4, 1, [str(path)])
    assert summary.bytes == path.stat().st_size
    text = unpack(path, compression).decode("utf-8")
    assert parse_csv(text, delimiter=separator) == [COLUMNS, *text_rows()]
    # a typed reader tells NULL from the empty string and reads the dates back
    plain = tmp_path / "plain.txt"
    plain.write_text(text, encoding="utf-8")
    typed = duckdb_rows(f"SELECT * FROM read_csv(?, delim=?, header=true, allow_quoted_nulls=false, "
                        f"columns={TYPED_COLUMNS})",
                        [str(plain), separator])
    assert typed == ROWS
    assert_no_leftovers(data, data / "out")


@pytest.mark.parametrize("compression", ["none", "gzip", "zip"])
def test_ndjson_round_trips(conn, data, compression):
    name = "audience.ndjson" + {"none": "", "gzip": ".gz", "zip": ".zip"}[compression]
    summary = send(conn, local(format="ndjson", compression=compression), template=name)
    assert summary.rows == 4
    text = unpack(data / "out" / name, compression).decode("utf-8")
    lines = text.split("\n")
    assert lines[-1] == ""  # newline-terminated, one object a line (the embedded newline is escaped)
    assert [json.loads(line) for line in lines[:-1]] == json_rows()


@pytest.mark.parametrize("compression", ["none", "zip"])
def test_parquet_round_trips(conn, data, tmp_path, compression):
    name = "audience.parquet" + (".zip" if compression == "zip" else "")
    summary = send(conn, local(format="parquet", compression=compression), template=name)
    assert summary.rows == 4
    plain = tmp_path / "read.parquet"
    plain.write_bytes(unpack(data / "out" / name, compression))
    assert plain.read_bytes()[:4] == b"PAR1"
    assert duckdb_rows("SELECT * FROM read_parquet(?)", [str(plain)]) == ROWS
    assert [row[0] for row in duckdb_rows("DESCRIBE SELECT * FROM read_parquet(?)", [str(plain)])] == COLUMNS


def test_header_off(conn, data):
    send(conn, local(header=False))
    text = (data / "out" / "audience.csv").read_text(encoding="utf-8")
    assert text == "\n".join(CSV_LINES[1:]) + "\n"
    assert parse_csv(text) == text_rows()


def test_crlf_ends_every_record_and_keeps_embedded_newlines(conn, data):
    send(conn, local(line_ending="CRLF"))
    raw = (data / "out" / "audience.csv").read_bytes()
    assert raw == ("\r\n".join(CSV_LINES) + "\r\n").encode()
    assert raw.count(b"\r\n") == 5 and b'"line1\nline2"' in raw
    assert parse_csv(raw.decode()) == [COLUMNS, *text_rows()]


def test_gzip_crlf_psv(conn, data):
    send(conn, local(format="psv", line_ending="CRLF", compression="gzip"), template="a.psv.gz")
    raw = gzip.decompress((data / "out" / "a.psv.gz").read_bytes())
    assert raw.startswith(b"id|name|note|born|city\r\n1|plain|a,b|2024-01-02|Zo\xc3\xab\r\n")
    assert raw.count(b"\r\n") == 5
    assert parse_csv(raw.decode(), delimiter="|") == [COLUMNS, *text_rows()]


def test_quote_mode_all_quotes_every_value_but_not_null(conn, data):
    send(conn, local(quote_mode="all"))
    text = (data / "out" / "audience.csv").read_text(encoding="utf-8")
    expected_lines = [
        '"id","name","note","born","city"',
        '"1","plain","a,b","2024-01-02","Zoë"',
        '"2","say ""hi""","line1\nline2",,"東京"',
        '"3","it\'s","","1999-12-31",',
        '"4","tab\there","pipe|semi;colon","2024-02-29","São Paulo"',
    ]
    assert text == "\n".join(expected_lines) + "\n"
    assert parse_csv(text) == [COLUMNS, *text_rows()]


def test_quote_mode_minimal_quotes_only_what_needs_it(conn, data):
    send(conn, local(quote_mode="minimal"))
    lines = (data / "out" / "audience.csv").read_text(encoding="utf-8").split("\n")
    assert lines[1] == '1,plain,"a,b",2024-01-02,Zoë'  # the comma, not the plain values
    assert lines[-2] == "4,tab\there,pipe|semi;colon,2024-02-29,São Paulo"  # csv: tab, '|' and ';' are plain


def test_custom_quote_and_escape(conn, data):
    conn.execute("INSERT INTO audience VALUES (5, 'back\\slash, comma', 'x', NULL, 'y')")
    send(conn, local(quote="'", escape="\\"))
    text = (data / "out" / "audience.csv").read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[1] == "1,plain,'a,b',2024-01-02,Zoë"
    assert lines[2] == '2,say "hi",\'line1'  # '"' is a plain character now; the newline is inside ' quotes
    assert lines[4] == "3,'it\\'s','',1999-12-31,"  # the quote escaped with the escape character
    assert lines[6] == "5,'back\\\\slash, comma',x,,y"  # and the escape character itself, inside quotes
    rows = parse_csv(text, quotechar="'", escapechar="\\", doublequote=False)
    assert rows == [COLUMNS, *text_rows(), ["5", "back\\slash, comma", "x", "", "y"]]


def test_custom_quote_without_escape_doubles_the_quote(conn, data):
    send(conn, local(quote="'"))
    text = (data / "out" / "audience.csv").read_text(encoding="utf-8")
    assert text.split("\n")[4] == "3,'it''s','',1999-12-31,"
    assert parse_csv(text, quotechar="'") == [COLUMNS, *text_rows()]


def test_row_number_column_comes_first_in_query_order(conn, data):
    send(conn, local(row_number="row_no"), query="SELECT * FROM audience ORDER BY id DESC")
    rows = parse_csv((data / "out" / "audience.csv").read_text(encoding="utf-8"))
    assert rows[0] == ["row_no", *COLUMNS]
    assert rows[1:] == [[str(n), *row] for n, row in enumerate(reversed(text_rows()), start=1)]


def test_row_number_clashing_with_a_column_is_permanent(conn, data):
    with pytest.raises(PermanentSendError, match="row_number column 'name' is already a column"):
        send(conn, local(row_number="name"))
    assert not (data / "out" / "audience.csv").exists()


def test_split_rows_numbers_the_parts_and_writes_the_success_file_last(conn, data, monkeypatch):
    conn.execute("CREATE TABLE numbers AS SELECT i AS id, 'n' || i AS label FROM range(1, 11) r(i)")
    seen_when_done = []
    original_pipe_file = LocalFileSystem.pipe_file

    def spy_pipe_file(self, path, value, *args, **kwargs):
        seen_when_done.append(sorted(os.listdir(os.path.dirname(path))))
        return original_pipe_file(self, path, value, *args, **kwargs)

    monkeypatch.setattr(LocalFileSystem, "pipe_file", spy_pipe_file)
    destination = local(split_rows=4, success_file=True, row_number="n")
    summary = send(conn, destination, template="part_{{ file_number }}.csv",
                   query="SELECT * FROM numbers ORDER BY id DESC")
    folder = data / "out"
    names = ["part_0000001.csv", "part_0000002.csv", "part_0000003.csv"]
    assert summary.urls == [str(folder / name) for name in names]
    assert (summary.rows, summary.files) == (10, 3)
    assert summary.bytes == sum((folder / name).stat().st_size for name in names)
    parts = [parse_csv((folder / name).read_text()) for name in names]
    assert all(part[0] == ["n", "id", "label"] for part in parts)
    assert [len(part) - 1 for part in parts] == [4, 4, 2]
    every_row = [row for part in parts for row in part[1:]]
    assert every_row == [[str(n), str(i), f"n{i}"] for n, i in enumerate(range(10, 0, -1), start=1)]
    assert (folder / "part_0000001.csv.DONE").read_bytes() == b""
    assert sorted(os.listdir(folder)) == sorted([*names, "part_0000001.csv.DONE"])
    assert seen_when_done == [names]  # every part had its final name before the success file
    assert_no_leftovers(data, folder)


def test_split_rows_exact_multiple_makes_no_empty_part_and_keeps_query_order(data):
    with duckdb.connect() as conn:
        conn.execute("CREATE TABLE big AS SELECT i AS id, hash(i) AS h FROM range(300000) r(i)")
        expected = [row[0] for row in conn.execute("SELECT id FROM big ORDER BY h").fetchall()]
        summary = send(conn, local(format="parquet", split_rows=100_000), template="big_{{ file_number }}.parquet",
                       query="SELECT id FROM big ORDER BY h")
    assert summary.files == 3 and summary.rows == 300_000
    got = []
    for number in (1, 2, 3):
        part = duckdb_rows("SELECT id FROM read_parquet(?)", [str(data / "out" / f"big_000000{number}.parquet")])
        assert len(part) == 100_000
        got += [row[0] for row in part]
    assert got == expected
    assert sorted(os.listdir(data / "out")) == [f"big_000000{n}.parquet" for n in (1, 2, 3)]


def test_no_rows_still_sends_one_file_with_the_header(conn, data):
    summary = send(conn, local(split_rows=2, success_file=True), template="empty_{{ file_number }}.csv",
                   query=f"{QUERY[:-len(' ORDER BY id')]} WHERE false")
    assert (summary.rows, summary.files) == (0, 1)
    assert (data / "out" / "empty_0000001.csv").read_text() == "id,name,note,born,city\n"
    assert (data / "out" / "empty_0000001.csv.DONE").exists()


def test_data_template_chooses_renames_and_orders_columns(conn, data):
    assert template_select(None, "audience") == "SELECT * FROM audience"
    columns = {"city": "Town", "id": "customer id", "name": 'Full "Name"'}
    query = template_select(columns, "(SELECT * FROM audience ORDER BY id)")
    send(conn, local(), query=query)
    rows = parse_csv((data / "out" / "audience.csv").read_text(encoding="utf-8"))
    assert rows[0] == ["Town", "customer id", 'Full "Name"']
    assert rows[1:] == [[row[4], row[0], row[1]] for row in text_rows()]


def test_data_template_with_an_unknown_column_is_permanent(conn, data):
    query = template_select({"id": "id", "no_such_column": "x"}, "audience")
    with pytest.raises(PermanentSendError, match="weekly: the rows cannot be exported: .*no_such_column"):
        send(conn, local(), query=query)
    assert not (data / "out").exists() or list((data / "out").iterdir()) == []
    assert_scratch_clean(data)


@pytest.mark.parametrize(("template", "now", "expected"), [
    ("C360_{{ now | local('America/Los_Angeles') | format('MM-dd-yyyy') }}.csv.gz", NOW, "C360_02-28-2026.csv.gz"),
    ("C360_{{now|local:'America/Los_Angeles'|format:'MM-dd-yyyy'}}.csv.gz", NOW, "C360_02-28-2026.csv.gz"),
    ("C360_{{ now | local('America/Los_Angeles') | next_day | format('MM-dd-yyyy') }}.csv", NOW,
     "C360_03-01-2026.csv"),
    ("{{ now | format('yyyyMMdd') }}.csv", NOW, "20260301.csv"),
    ("{{ now }}.csv", NOW, "2026-03-01.csv"),
    # `now` is taken in UTC whatever zone it comes in
    ("{{ now | format('yyyyMMdd-HHmm') }}.csv", NOW.astimezone(dt.timezone(dt.timedelta(hours=-8))),
     "20260301-0530.csv"),
    # one second before a UTC midnight: next_day is the new month
    ("{{ now | next_day | format('yyyy-MM-dd') }}.csv", dt.datetime(2026, 2, 28, 23, 59, 59, tzinfo=dt.UTC),
     "2026-03-01.csv"),
    ("{{ now | local('America/Los_Angeles') | next_day | format('yyyy-MM-dd') }}.csv",
     dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC), "2026-03-01.csv"),
    ("{{ campaign }}_{{ sub_audience }}_{{ name }}_{{ file_number }}.csv", NOW, "spring_a_weekly_0000001.csv"),
])
def test_filename_template_names_the_file(conn, data, template, now, expected):
    assert render_filename(template, now, name="weekly", campaign="spring", sub_audience="a") == expected
    summary = send(conn, local(), template=template, now=now)
    assert summary.urls == [str(data / "out" / expected)]
    assert sorted(os.listdir(data / "out")) == [expected]


def test_folder_option_creates_the_sub_folder(conn, data, tmp_path):
    summary = send(conn, local(folder="/crm//daily/"))
    path = data / "out" / "crm" / "daily" / "audience.csv"
    assert summary.urls == [str(path)]
    assert parse_csv(path.read_text(encoding="utf-8")) == [COLUMNS, *text_rows()]
    # an absolute folder URL is used as it is, not under the data folder
    absolute = Destination(name="files", url=str(tmp_path / "elsewhere"), folder="x")
    send(conn, absolute)
    assert parse_csv((tmp_path / "elsewhere" / "x" / "audience.csv").read_text()) == [COLUMNS, *text_rows()]


def test_second_send_replaces_the_file(conn, data):
    send(conn, local())
    send(conn, local(), query="SELECT * FROM audience WHERE id = 4")
    assert parse_csv((data / "out" / "audience.csv").read_text()) == [COLUMNS, text_rows()[3]]
    assert sorted(os.listdir(data / "out")) == ["audience.csv"]


# ------------------------------------------------------------------------------------------------------------- S3


def s3_destination(server, **settings) -> Destination:
    return Destination(
        name="s3_out", type="s3", url=server.url("exports"),
        storage_options={"endpoint_url": server.endpoint_url, "client_kwargs": {"region_name": server.region}},
        storage_options_env={"key": "TEST_S3_KEY", "secret": "TEST_S3_SECRET"}, **settings,
    )


def s3_objects(server) -> dict[str, bytes]:
    client = server.client()
    listed = client.list_objects_v2(Bucket=server.bucket).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=server.bucket, Key=o["Key"])["Body"].read() for o in listed}


def test_s3_send_lands_whole_files(conn, data, s3_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TEST_S3_KEY", s3_server.key)
    monkeypatch.setenv("TEST_S3_SECRET", s3_server.secret)
    destination = s3_destination(s3_server, folder="crm", split_rows=3, success_file=True, compression="gzip")
    summary = send(conn, destination, template="aud_{{ file_number }}.csv.gz")
    prefix = "exports/crm/"
    objects = s3_objects(s3_server)
    assert sorted(objects) == [f"{prefix}aud_0000001.csv.gz", f"{prefix}aud_0000001.csv.gz.DONE",
                               f"{prefix}aud_0000002.csv.gz"]  # no .partial object left
    assert objects[f"{prefix}aud_0000001.csv.gz.DONE"] == b""
    parts = [parse_csv(gzip.decompress(objects[f"{prefix}aud_000000{n}.csv.gz"]).decode()) for n in (1, 2)]
    assert [part[0] for part in parts] == [COLUMNS, COLUMNS]
    assert parts[0][1:] + parts[1][1:] == text_rows()
    assert summary.urls == [f"s3://{s3_server.bucket}/{prefix}aud_000000{n}.csv.gz" for n in (1, 2)]
    assert (summary.rows, summary.files) == (4, 2)
    assert summary.bytes == sum(len(objects[f"{prefix}aud_000000{n}.csv.gz"]) for n in (1, 2))
    assert s3_server.key not in repr(summary) and s3_server.secret not in repr(summary)
    assert_scratch_clean(data)


@pytest.mark.parametrize("credentials", ["user without permission", "wrong secret"])
def test_s3_bad_credentials_fail_fast_and_permanently(conn, data, s3_server, monkeypatch, credentials):  # noqa: F811
    key, secret = {"user without permission": (s3_server.denied_key, s3_server.denied_secret),
                   "wrong secret": (s3_server.key, "WrongSecretValue0123456789abcdefWRONG")}[credentials]
    monkeypatch.setenv("TEST_S3_KEY", key)
    monkeypatch.setenv("TEST_S3_SECRET", secret)
    started = time.monotonic()
    with pytest.raises(PermanentSendError, match="^destination 's3_out'") as raised:
        send(conn, s3_destination(s3_server))
    assert time.monotonic() - started < 5
    assert secret not in str(raised.value) and s3_server.secret not in str(raised.value)
    assert s3_objects(s3_server) == {}
    assert_scratch_clean(data)


def test_s3_missing_secret_variable_is_permanent_and_named(conn, data, s3_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TEST_S3_KEY", s3_server.key)
    monkeypatch.delenv("TEST_S3_SECRET", raising=False)
    with pytest.raises(PermanentSendError, match="environment variable TEST_S3_SECRET is not set") as raised:
        send(conn, s3_destination(s3_server))
    assert "storage option secret" in str(raised.value)
    assert s3_server.key not in str(raised.value)
    assert s3_objects(s3_server) == {}


def test_s3_missing_bucket_is_permanent_not_created(conn, data, s3_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TEST_S3_KEY", s3_server.key)
    monkeypatch.setenv("TEST_S3_SECRET", s3_server.secret)
    destination = s3_destination(s3_server).model_copy(update={"url": "s3://no-such-bucket-typo/exports"})
    try:
        with pytest.raises(PermanentSendError):
            send(conn, destination)
    finally:
        buckets = [b["Name"] for b in s3_server.client().list_buckets()["Buckets"]]
    assert buckets == [s3_server.bucket]


# ----------------------------------------------------------------------------------------------------------- SFTP


def sftp_destination(server, **settings) -> Destination:
    return Destination(name="sftp_out", type="sftp", url=server.url("outbound"),
                       storage_options={"username": server.username, "client_keys": [str(server.client_key)],
                                        "known_hosts": None}, **settings)


def test_sftp_send_lands_files_and_overwrites(conn, data, sftp_server):  # noqa: F811
    outbound = sftp_server.root / "outbound"
    destination = sftp_destination(sftp_server, success_file=True)
    first = send(conn, destination)
    assert parse_csv((outbound / "audience.csv").read_text(encoding="utf-8")) == [COLUMNS, *text_rows()]
    assert (outbound / "audience.csv.DONE").read_bytes() == b""
    assert (first.rows, first.files, first.bytes) == (4, 1, (outbound / "audience.csv").stat().st_size)
    assert first.urls[0].startswith("sftp://") and first.urls[0].endswith("/outbound/audience.csv")
    assert sftp_server.username not in first.urls[0] and str(sftp_server.client_key) not in repr(first)

    # a second send renames its upload over the existing file (a new inode, not the old file rewritten in place)
    first_inode = (outbound / "audience.csv").stat().st_ino
    second = send(conn, destination, query="SELECT * FROM audience WHERE id IN (2, 3) ORDER BY id")
    assert (outbound / "audience.csv").stat().st_ino != first_inode
    assert second.rows == 2
    assert parse_csv((outbound / "audience.csv").read_text(encoding="utf-8")) == [COLUMNS, *text_rows()[1:3]]
    assert sorted(os.listdir(outbound)) == ["audience.csv", "audience.csv.DONE"]
    assert_scratch_clean(data)


def test_sftp_split_parts_in_a_sub_folder(conn, data, sftp_server):  # noqa: F811
    destination = sftp_destination(sftp_server, folder="crm/daily", split_rows=2, format="ndjson", success_file=True)
    summary = send(conn, destination, template="aud_{{ file_number }}.json")
    folder = sftp_server.root / "outbound" / "crm" / "daily"
    assert sorted(os.listdir(folder)) == ["aud_0000001.json", "aud_0000001.json.DONE", "aud_0000002.json"]
    got = [json.loads(line) for n in (1, 2) for line in (folder / f"aud_000000{n}.json").read_text().splitlines()]
    assert got == json_rows()
    assert summary.files == 2


def test_sftp_url_in_the_summary_names_the_server(conn, data, sftp_server):  # noqa: F811
    summary = send(conn, sftp_destination(sftp_server))
    assert summary.urls == [f"sftp://127.0.0.1:{sftp_server.port}/outbound/audience.csv"]


def test_sftp_wrong_password_is_permanent(conn, data, sftp_server):  # noqa: F811
    destination = Destination(name="sftp_out", type="sftp", url=sftp_server.url("outbound"),
                              storage_options={"username": sftp_server.username, "password": "not-the-password",
                                               "client_keys": [], "known_hosts": None})
    with pytest.raises(PermanentSendError, match="^destination 'sftp_out': PermissionError") as raised:
        send(conn, destination)
    assert "not-the-password" not in str(raised.value)
    assert not (sftp_server.root / "outbound").exists()


def test_sftp_server_down_is_transient(conn, data):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    destination = Destination(name="sftp_out", type="sftp", url=f"sftp://127.0.0.1:{port}/outbound",
                              storage_options={"username": "u", "password": "p", "client_keys": [],
                                               "known_hosts": None})
    with pytest.raises(TransientSendError, match="ConnectionRefusedError"):
        send(conn, destination)


# ----------------------------------------------------------------------------------------------------- atomicity

BIG_ROWS = 1_000_000
BIG_TABLE = ("CREATE TABLE big AS SELECT i AS id, md5(i::VARCHAR) || md5((i + 7)::VARCHAR) AS h "
             f"FROM range({BIG_ROWS}) r(i)")
CHILD = textwrap.dedent("""
    import datetime as dt, sys
    import duckdb
    from workflow_platform.catalog.models import Destination
    from workflow_platform.orchestrations.send import SendNames, send_rows
    conn = duckdb.connect()
    conn.execute(sys.argv[2])
    send_rows(conn, "SELECT * FROM big ORDER BY id", Destination.model_validate_json(sys.argv[1]), "big.csv",
              SendNames("big"), dt.datetime.now(dt.UTC))
""")


def test_killed_upload_never_shows_a_final_file(data, sftp_server, tmp_path):  # noqa: F811
    destination = sftp_destination(sftp_server)
    outbound = sftp_server.root / "outbound"
    partial, final = outbound / ".big.csv.partial", outbound / "big.csv"
    stderr = tmp_path / "child.err"
    with stderr.open("wb") as err:
        child = subprocess.Popen([sys.executable, "-c", CHILD, destination.model_dump_json(), BIG_TABLE],
                                 stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 20
        while not (partial.exists() and partial.stat().st_size > 0):
            assert child.poll() is None, f"the child ended before uploading: {stderr.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "no .partial upload appeared"
            time.sleep(0.002)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert not final.exists()  # a consumer never sees half a file
    time.sleep(0.2)  # let the server notice the dead connection and close the upload
    half = partial.stat().st_size
    assert 0 < half
    assert [p.name for p in outbound.iterdir()] == [".big.csv.partial"]

    # the next send (in this process) uploads the whole file and renames it over; the stale partial is gone
    with duckdb.connect() as conn:
        conn.execute(BIG_TABLE)
        expected = conn.execute("SELECT count(*), sum(id), sum(hash(h)) FROM big").fetchone()
        summary = send(conn, destination, template="big.csv", query="SELECT * FROM big ORDER BY id")
    assert summary.rows == BIG_ROWS and summary.bytes == final.stat().st_size > half
    assert [p.name for p in outbound.iterdir()] == ["big.csv"]
    assert duckdb_rows("SELECT count(*), sum(id), sum(hash(h)) FROM read_csv(?)", [str(final)]) == [expected]
    assert duckdb_rows("SELECT id FROM read_csv(?) LIMIT 3", [str(final)]) == [(0,), (1,), (2,)]


# ------------------------------------------------------------------------------------------------------ classify


@pytest.mark.parametrize(("error", "kind"), [
    (ConnectionError("connection reset"), TransientSendError),
    (ConnectionRefusedError(111, "Connection refused"), TransientSendError),
    (ConnectionResetError(104, "reset by peer"), TransientSendError),
    (TimeoutError("timed out"), TransientSendError),
    (OSError("something else"), TransientSendError),
    (RuntimeError("anything unknown"), TransientSendError),
    (PermissionError("Access Denied"), PermanentSendError),
    (FileNotFoundError("no such folder"), PermanentSendError),
    (NotADirectoryError("not a folder"), PermanentSendError),
    (IsADirectoryError("a folder"), PermanentSendError),
    (MissingSecret("environment variable X is not set"), PermanentSendError),
    (asyncssh.PermissionDenied("bad key"), PermanentSendError),
    (asyncssh.HostKeyNotVerifiable("unknown host key"), PermanentSendError),
])
def test_classify_maps_errors_to_transient_or_permanent(error, kind):
    result = classify(error, "destination 'x'")
    assert type(result) is kind
    assert str(result) == f"destination 'x': {type(error).__name__}: {error!s}"


def test_classify_keeps_send_errors_and_only_the_first_line():
    already = PermanentSendError("destination 'x': already classified")
    assert classify(already, "ignored") is already
    assert str(classify(TimeoutError("first line\nsecond line"), "w")) == "w: TimeoutError: first line"
    assert str(classify(TimeoutError(), "w")) == "w: TimeoutError: TimeoutError"
    assert isinstance(classify(ValueError("x"), "w"), SendError)


@pytest.mark.parametrize(("settings", "message"), [
    ({"format": "delimited", "delimiter": "\n"}, "the delimiter cannot be a line break"),
    ({"quote": ","}, "the delimiter ',' cannot also be the quote or escape character"),
    ({"format": "parquet", "line_ending": "CRLF"}, "line_ending CRLF is for delimited text"),
    ({"type": "s3", "url": "exports"}, "does not fit type 's3'"),
    ({"folder": "../outside"}, "must stay under the destination"),
])
def test_destination_settings_that_cannot_work_are_catalog_errors(settings, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Destination.model_validate({"name": "d", **settings})


def test_milliseconds_in_file_names():
    now = dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
    assert render_filename("x_{{ now | format('HHmmss.SSS') }}.csv", now) == "x_120000.123.csv"


def test_file_name_templates_are_checked_for_what_they_can_refer_to():
    from workflow_platform.catalog.models import Campaign, Orchestration

    base = {"name": "o", "segment": "s", "destination": "d"}
    with pytest.raises(ValueError, match=re.escape("{date} is not a template variable; write {{ now }}")):
        Orchestration.model_validate({**base, "filename": "audience_{date}.csv"})
    with pytest.raises(ValueError, match="'campaign' is undefined"):  # only campaign sends have a campaign
        Orchestration.model_validate({**base, "filename": "{{ campaign }}.csv"})
    campaign = {"name": "c", "segment": "s", "filename": "{{ campaign }}.csv", "sub_audiences": [
        {"name": "a", "percent": 50, "destinations": ["d"]}, {"name": "b", "percent": 50, "destinations": ["d"]}]}
    with pytest.raises(ValueError, match=re.escape("needs {{ sub_audience }} or one would overwrite the other")):
        Campaign.model_validate(campaign)
    Campaign.model_validate({**campaign, "filename": "{{ campaign }}_{{ sub_audience }}.csv"})


def test_a_webhook_url_from_the_environment_never_shows_its_secret_path(conn, webhook_server, monkeypatch):
    secret_url = webhook_server.base_url + "/services/T000/B000/s3cr3tPathToken"
    monkeypatch.setenv("CRM_WEBHOOK_URL", secret_url)
    destination = Destination(name="hook", type="webhook", url_env="CRM_WEBHOOK_URL", batch_size=2, max_attempts=2)
    summary = send(conn, destination)
    assert summary.rows == len(ROWS) and {r.path for r in webhook_server.requests} == {
        "/services/T000/B000/s3cr3tPathToken"}
    assert summary.urls == [webhook_server.base_url] and "s3cr3t" not in str(summary)
    webhook_server.script([500, 500], retry_after=0)
    with pytest.raises(TransientSendError) as failed:
        send(conn, destination)
    assert "s3cr3t" not in str(failed.value) and webhook_server.base_url in str(failed.value)
    monkeypatch.delenv("CRM_WEBHOOK_URL")
    with pytest.raises(PermanentSendError, match="environment variable CRM_WEBHOOK_URL is not set"):
        send(conn, destination)
