"""Nothing lost, nothing doubled, bad input refused clearly: the file manifest, quarantine and schema drift,
through the real load step of a two-courier group."""

import datetime as dt
import gzip
import io
import subprocess
import sys
import zipfile

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workflow_platform.runner import run_workflow
from workflow_platform_tests.support import CUSTOMER_FEED, CUSTOMER_HEADER

DAY = "2026-01-05"
ALERTS = '\nalerts:\n  courier_groups:\n    slack: ["#data-alerts"]\n'


def group_catalog(stop: bool = False, strict: bool = False, shop_format: str = "") -> str:
    """`shop` (customers, several files a day) and `crm` (contacts) in courier group `daily`."""
    feed = CUSTOMER_FEED + ("    strict: true\n" if strict else "")
    return f"""
couriers:
  - name: shop
    pattern: "'in/c_'yyyyMMdd'_'*"
    feed: customers
    {shop_format}
  - name: crm
    pattern: "'crm/k_'yyyyMMdd'.csv'"
    feed: contacts
{feed}
  - name: contacts
    source: crm
    columns:
      - {{name: id, tag: pk}}
      - {{name: email, tag: email}}
courier_groups:
  - name: daily
    couriers:
      - {{courier: shop, stop_when_missing: {str(stop).lower()}}}
      - crm
""" + ALERTS


def rows(first: int, count: int) -> str:
    """customers rows with ids first .. first + count - 1."""
    return "".join(f"{n},Ann{n},Lee{n},ann{n}@example.org,555{n:07d},1990-01-01,2026-01-01 00:00:00\n"
                   for n in range(first, first + count))


def land_good(tenant) -> None:
    tenant.land("in/c_20260105_a.csv", CUSTOMER_HEADER + "\n" + rows(1, 5))
    tenant.land("crm/k_20260105.csv", "id,email\nk1,k1@example.org\nk2,k2@example.org\n")


@pytest.fixture
def alerting(tenant, slack, monkeypatch):
    monkeypatch.setenv("WORKFLOW_PLATFORM_SLACK_TOKEN", "xoxb-test")
    monkeypatch.setenv("WORKFLOW_PLATFORM_SLACK_API_URL", slack.url)
    return slack


def test_an_identical_file_delivered_again_adds_nothing_and_a_changed_one_loads(tenant):
    tenant.write_catalog(group_catalog())
    land_good(tenant)
    assert tenant.run(DAY, group="daily").success
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 5
    # the same content again, under another name and under the same name: duplicates, 0 rows
    tenant.land("in/c_20260105_b.csv", CUSTOMER_HEADER + "\n" + rows(1, 5))
    outcome = tenant.run(DAY, group="daily")
    assert outcome.success and outcome.refused == []
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 5
    assert tenant.manifest("shop") == [("in/c_20260105_a.csv", "loaded", 5), ("in/c_20260105_b.csv", "duplicate", 0)]
    shop = next(r for r in outcome.rows if r.key == "courier/shop")
    assert "files_loaded=0" in shop.detail
    # a file still sitting in the landing folder is noted once, however many runs see it
    assert tenant.run(DAY, group="daily").success
    assert len(tenant.manifest("shop")) == 2
    # the same name with changed content is new data
    tenant.land("in/c_20260105_a.csv", CUSTOMER_HEADER + "\n" + rows(1, 5).replace("ann3@", "new3@") + rows(6, 2))
    assert tenant.run(DAY, group="daily").success
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 7
    assert tenant.scalar("SELECT email FROM domain.customers WHERE id = '3'") == "new3@example.org"
    assert tenant.manifest("shop")[-1] == ("in/c_20260105_a.csv", "loaded", 7)
    assert tenant.scalar("SELECT count(DISTINCT sha256) FROM audit.files WHERE courier = 'shop'") == 2


def test_a_dropped_domain_table_loads_its_files_again(tenant, monkeypatch):
    tenant.write_catalog(group_catalog())
    land_good(tenant)
    assert tenant.run(DAY, group="daily").success
    cli = [sys.executable, "-m", "workflow_platform.cli", "truncate", "customers", "--catalog",
           str(tenant.catalog_dir), "--yes"]
    monkeypatch.setenv("WORKFLOW_PLATFORM_WAREHOUSE", str(tenant.warehouse))
    done = subprocess.run(cli, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert tenant.run(DAY, group="daily").success
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 5
    assert [s for _, s, _ in tenant.manifest("shop")] == ["dropped", "loaded"]


def corrupt_gzip() -> bytes:
    return gzip.compress((CUSTOMER_HEADER + "\n" + rows(10, 50)).encode())[:-30] + b"\x00" * 30


def bad_zip() -> bytes:
    return b"PK\x03\x04" + bytes(range(256)) * 4


def zip_with(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("c.csv", text)
    return buffer.getvalue()


LONG = CUSTOMER_HEADER + "\n" + rows(10, 30_000)
BAD_INPUTS = {
    # name: (file name, content, expected words of the reason)
    "missing columns": ("in/c_20260105_b.csv", "id,first_name\n9,Al\n", "missing column(s) last_name, email"),
    "empty": ("in/c_20260105_b.csv", b"", "file is empty (0 bytes)"),
    "header only": ("in/c_20260105_b.csv", CUSTOMER_HEADER + "\n", "has a header and no rows"),
    "corrupt gzip": ("in/c_20260105_b.csv.gz", corrupt_gzip(), "the gzip data ends before its end marker"),
    "corrupt zip": ("in/c_20260105_b.csv.zip", bad_zip(), "not a readable zip archive"),
    "wrong encoding": ("in/c_20260105_b.csv", (CUSTOMER_HEADER + "\n" + rows(10, 3) + "13,Jos\xe9,L\xf6w,j@x.org,"
                                               "5550000013,1990-01-01,2026-01-01 00:00:00\n").encode("latin-1"),
                       "line 5 is not valid utf-8; the file is in another encoding"),
    "unterminated quote": ("in/c_20260105_b.csv", LONG.replace("\n25000,", '\n25000,"', 1),
                           "has a value with an unterminated quote"),
    "binary junk": ("in/c_20260105_b.csv", bytes(range(256)) * 64, "not a csv text file: it looks like binary data"),
    "glob characters in the name": ("in/c_20260105_[b].csv", CUSTOMER_HEADER + "\n" + rows(10, 2),
                                    "file names with any of * ? [ ] { } cannot be read safely"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_a_bad_file_is_quarantined_with_a_reason_alerted_and_the_rest_loads(tenant, alerting, case):
    name, content, reason = BAD_INPUTS[case]
    tenant.write_catalog(group_catalog(shop_format="file: {compression: auto}"))
    land_good(tenant)
    tenant.land(name, content)
    outcome = tenant.run(DAY, group="daily")
    assert outcome.success, outcome.failures
    [refused] = outcome.refused
    assert refused.startswith(f"{name} (quarantined): ") and reason in refused
    assert not (tenant.landing / name).exists()
    reason_file = tenant.quarantined()[name]
    assert f"file: {name}\n" in reason_file and reason in reason_file and "courier: shop" in reason_file
    # the good file of the same courier and the other courier of the group loaded
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 5
    assert tenant.scalar("SELECT count(*) FROM domain.contacts") == 2
    assert ("in/c_20260105_a.csv", "loaded", 5) in tenant.manifest("shop")
    assert (name, "quarantined", 0) in tenant.manifest("shop")
    assert tenant.scalar("SELECT count(*) FROM audit.rejects") == 0  # a refused file leaves no partial rejects
    [alert] = [m["text"] for m in alerting.messages if "file refused" in m["text"]]
    assert alert.startswith("[ERROR] courier group daily: file refused") and name in alert and reason in alert
    assert "ann1@example.org" not in alert  # file names and reasons, never row values


def test_a_directory_where_a_file_belongs_is_refused(tenant):
    tenant.write_catalog(group_catalog())
    land_good(tenant)
    (tenant.landing / "in" / "c_20260105_dir.csv").mkdir()
    (tenant.landing / "in" / "c_20260105_dir.csv" / "x.csv").write_text(CUSTOMER_HEADER + "\n" + rows(10, 1))
    outcome = tenant.run(DAY, group="daily")
    assert outcome.success
    assert outcome.refused == [
        "in/c_20260105_dir.csv (quarantined): in/c_20260105_dir.csv: is a directory, not a file"]
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 5


def test_a_refused_file_stops_the_load_when_the_group_says_stop(tenant, alerting):
    tenant.write_catalog(group_catalog(stop=True))
    land_good(tenant)
    tenant.land("in/c_20260105_b.csv", "id,first_name\n9,Al\n")
    outcome = tenant.run(DAY, group="daily")
    assert not outcome.success
    [failure] = [f for f in outcome.failures if f.startswith("load__customers")]
    assert "nothing loaded: courier 'shop' stops when a file is refused (stop_when_missing)" in failure
    assert "in/c_20260105_b.csv: missing column(s)" in failure
    assert tenant.scalar("SELECT count(*) FROM domain.contacts") == 2  # the other courier continues
    assert tenant.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'customers'") == 0
    assert list(tenant.quarantined()) == ["in/c_20260105_b.csv"]
    [alert] = [m["text"] for m in alerting.messages if "file refused" in m["text"]]
    assert "the load stopped" in alert
    # once the bad file is out of the way, a re-run loads the good one
    assert tenant.run(DAY, group="daily").success
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 5


def test_an_unterminated_quote_on_the_last_line_is_counted_as_a_reject(tenant):
    """DuckDB's store_rejects reads up to an unterminated quote; on the last line nothing follows it, so the row is
    refused and counted (a quote that swallows later lines refuses the file: see BAD_INPUTS)."""
    tenant.write_catalog(group_catalog())
    land_good(tenant)
    tenant.land("in/c_20260105_b.csv", LONG + '40010,"Bo,Chu,b@x.org,5552220000,1985-02-03,2026-01-01 00:00:00\n')
    outcome = tenant.run(DAY, group="daily")
    assert outcome.success and outcome.refused == []
    source_rows = 30_000 + 1
    loaded = tenant.scalar("SELECT count(*) FROM domain.customers WHERE _file = 'in/c_20260105_b.csv'")
    rejected = tenant.query("SELECT line, reason FROM audit.rejects WHERE file = 'in/c_20260105_b.csv'")
    assert loaded == 30_000 and len(rejected) == 1 and loaded + len(rejected) == source_rows
    assert rejected[0][0] == 30_002 and "ends inside a quoted value" in rejected[0][1]
    assert ("in/c_20260105_b.csv", "loaded", 30_000) in tenant.manifest("shop")


def test_a_new_column_is_reported_and_a_strict_feed_refuses_it(tenant, alerting):
    tenant.write_catalog(group_catalog())
    land_good(tenant)
    tenant.land("in/c_20260105_b.csv", CUSTOMER_HEADER + ",loyalty_tier\n" + rows(10, 2).replace("\n", ",gold\n"))
    outcome = tenant.run(DAY, group="daily")
    assert outcome.success and outcome.refused == []
    drift = tenant.scalar("SELECT columns FROM audit.files WHERE file = 'in/c_20260105_b.csv'")
    assert "loyalty_tier" in drift  # the file's columns are kept in the manifest
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 7
    assert not [m for m in alerting.messages if "file refused" in m["text"]]

    tenant.write_catalog(group_catalog(strict=True))
    tenant.land("in/c_20260105_c.csv", CUSTOMER_HEADER + ",loyalty_tier\n" + rows(20, 2).replace("\n", ",gold\n"))
    outcome = tenant.run(DAY, group="daily")
    assert any("column(s) loyalty_tier are not declared by feed 'customers', which is strict" in r
               for r in outcome.refused)
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 7


def test_schema_drift_is_in_the_courier_metadata(tenant):
    tenant.write_catalog(group_catalog())
    land_good(tenant)
    tenant.land("in/c_20260105_b.csv", CUSTOMER_HEADER + ",loyalty_tier\n" + rows(10, 2).replace("\n", ",gold\n"))
    with dg.instance_for_test() as instance:
        outcome = run_workflow(tenant.catalog(), window=(dt.date(2026, 1, 5), dt.date(2026, 1, 5)), group="daily",
                               warehouse=str(tenant.warehouse), instance=instance)
        assert outcome.success
        event = instance.get_latest_materialization_event(dg.AssetKey(["courier", "shop"]))
        metadata = event.asset_materialization.metadata
        assert metadata["new_columns"].value == {"in/c_20260105_b.csv": ["loyalty_tier"]}
        warnings = [r.user_message for r in instance.all_logs(outcome.run_id) if "schema drift" in r.user_message]
        assert warnings and "loyalty_tier" in warnings[0]


def test_a_parquet_column_that_changes_type_is_a_clear_error(tenant):
    tenant.write_catalog(group_catalog(shop_format="file: {format: parquet}"))
    land_good(tenant)
    tenant.landing.joinpath("in/c_20260105_a.csv").unlink()

    def parquet(first: int, birth_type: pa.DataType, value) -> bytes:
        values = dict(zip(CUSTOMER_HEADER.split(","), rows(first, 1).strip().split(","), strict=True))
        table = pa.table({c: [value if c == "birth_date" else v] for c, v in values.items()},
                         schema=pa.schema([(c, birth_type if c == "birth_date" else pa.string()) for c in values]))
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        return buffer.getvalue()

    tenant.land("in/c_20260105_a.parquet", parquet(1, pa.date32(), dt.date(1990, 1, 1)))
    assert tenant.run(DAY, group="daily").refused == []
    tenant.land("in/c_20260105_b.parquet", parquet(2, pa.string(), "01/02/1990"))
    outcome = tenant.run(DAY, group="daily")
    [refused] = outcome.refused
    assert ("in/c_20260105_b.parquet: column type changed: birth_date was DATE in in/c_20260105_a.parquet, "
            "now VARCHAR") in refused
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 1


def test_rejects_of_a_load_are_recorded_once_whatever_the_retries(tenant):
    """A load that fails after staging (here: the domain table's schema changed) records no rejects and no value
    problems; the successful re-run records them once."""
    tenant.write_catalog(group_catalog())
    land_good(tenant)
    bad = (rows(10, 99) + "109,Ann,Lee,a@x.org,5550000109,not-a-date,2026-01-01 00:00:00\n"
           + ",Bo,Chu,b@x.org,5550000110,1990-01-01,2026-01-01 00:00:00\n")  # an empty key rejects its row
    tenant.land("in/c_20260105_b.csv", CUSTOMER_HEADER + "\n" + bad)
    with duckdb.connect(str(tenant.warehouse)) as conn:  # an old table of another schema
        conn.execute("CREATE SCHEMA domain; CREATE TABLE domain.customers (id VARCHAR)")
    outcome = tenant.run(DAY, group="daily")
    assert not outcome.success and "no longer matches feed 'customers'" in "\n".join(outcome.failures)
    assert tenant.scalar("SELECT count(*) FROM audit.rejects") == 0
    assert tenant.scalar("SELECT count(*) FROM audit.value_problems") == 0
    assert tenant.scalar("SELECT count(*) FROM audit.files WHERE status = 'loaded' AND courier = 'shop'") == 0
    with duckdb.connect(str(tenant.warehouse)) as conn:
        conn.execute("DROP TABLE domain.customers")
    assert tenant.run(DAY, group="daily").success
    assert tenant.run(DAY, group="daily").success
    assert tenant.query("SELECT file, line FROM audit.rejects") == [("in/c_20260105_b.csv", 102)]
    assert tenant.query("SELECT file, line, column_name FROM audit.value_problems") == [
        ("in/c_20260105_b.csv", 101, "birth_date")]
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 5 + 100


def remote_catalog(s3_server, sftp_server) -> str:
    """`shop` lands from S3 (moto) and `crm` from SFTP (asyncssh), secrets from the environment."""
    return f"""
locations:
  - name: bucket
    url: {s3_server.url("landing")}
    storage_options: {{endpoint_url: "{s3_server.endpoint_url}", client_kwargs: {{region_name: {s3_server.region}}}}}
    storage_options_env: {{key: TEST_S3_KEY, secret: TEST_S3_SECRET}}
  - name: partner
    url: {sftp_server.url("drop")}
    storage_options: {{host: {sftp_server.host}, port: {sftp_server.port}, username: {sftp_server.username},
                      client_keys: [], known_hosts: null}}
    storage_options_env: {{password: TEST_SFTP_PASSWORD}}
""" + group_catalog().replace("feed: customers\n", "feed: customers\n    location: bucket\n", 1).replace(
        "feed: contacts\n", "feed: contacts\n    location: partner\n", 1)


def test_remote_couriers_load_exactly_once_and_quarantine_on_the_server(tenant, s3_server, sftp_server, monkeypatch):
    monkeypatch.setenv("TEST_S3_KEY", s3_server.key)
    monkeypatch.setenv("TEST_S3_SECRET", s3_server.secret)
    monkeypatch.setenv("TEST_SFTP_PASSWORD", sftp_server.password)
    tenant.write_catalog(remote_catalog(s3_server, sftp_server))
    s3 = s3_server.client()
    s3.put_object(Bucket=s3_server.bucket, Key="landing/in/c_20260105_a.csv",
                  Body=(CUSTOMER_HEADER + "\n" + rows(1, 5)).encode())
    s3.put_object(Bucket=s3_server.bucket, Key="landing/in/c_20260105_b.csv", Body=b"id,first_name\n9,Al\n")
    (sftp_server.root / "drop" / "crm").mkdir(parents=True)
    (sftp_server.root / "drop" / "crm" / "k_20260105.csv").write_text("id,email\nk1,k1@example.org\nk2,k2@x.org\n")
    outcome = tenant.run(DAY, group="daily")
    assert outcome.success, outcome.failures
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 5
    assert tenant.scalar("SELECT count(*) FROM domain.contacts") == 2
    assert [r.split(" (")[0] for r in outcome.refused] == ["in/c_20260105_b.csv"]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=s3_server.bucket)["Contents"])
    assert keys[0] == "landing/_quarantine/in/" + keys[0].split("/")[-1] and keys[0].endswith("-c_20260105_b.csv")
    assert keys[1] == keys[0] + ".reason.txt" and keys[2:] == ["landing/in/c_20260105_a.csv"]
    # a second run finds the same files: nothing is loaded twice
    assert tenant.run(DAY, group="daily").success
    assert tenant.query("SELECT courier, file, status FROM audit.files ORDER BY courier, file") == [
        ("crm", "crm/k_20260105.csv", "loaded"), ("shop", "in/c_20260105_a.csv", "loaded"),
        ("shop", "in/c_20260105_b.csv", "quarantined")]
    assert tenant.scalar("SELECT count(*) FROM domain.customers") == 5


def test_a_required_courier_whose_only_file_is_refused_fails_as_if_it_were_missing(tenant, alerting):
    tenant.write_catalog(group_catalog())
    tenant.land("in/c_20260105_a.csv", "id,first_name\n9,Al\n")
    tenant.land("crm/k_20260105.csv", "id,email\nk1,k1@example.org\n")
    outcome = tenant.run(DAY, group="daily")
    assert not outcome.success
    [failure] = [f for f in outcome.failures if f.startswith("load__customers")]
    assert "required courier 'shop' has no loadable file left" in failure and "missing column(s)" in failure
    assert tenant.scalar("SELECT count(*) FROM domain.contacts") == 1  # the other courier of the group loaded
    assert [m["text"] for m in alerting.messages if "file refused" in m["text"]]
    # with the run skipping missing files, the load goes on without it
    tenant.land("in/c_20260105_b.csv", "id,first_name\n9,Al\n")
    assert tenant.run(DAY, group="daily", skip_missing=True).success


def test_a_land_only_courier_quarantines_and_alerts_too(tenant, alerting):
    tenant.write_catalog(group_catalog().replace("feed: contacts\n", "feed: contacts\n    load: land_only\n", 1))
    land_good(tenant)
    tenant.land("crm/k_20260105.csv", b"\x00\x01binary" * 500)
    outcome = tenant.run(DAY, group="daily")
    assert outcome.success, outcome.failures
    assert [r.split(" (")[0] for r in outcome.refused] == ["crm/k_20260105.csv"]
    assert "crm/k_20260105.csv" in tenant.quarantined()
    [alert] = [m["text"] for m in alerting.messages if "file refused" in m["text"]]
    assert "crm/k_20260105.csv" in alert


def test_the_cli_run_prints_refused_files(tenant):
    tenant.write_catalog(group_catalog())
    land_good(tenant)
    tenant.land("in/c_20260105_b.csv", b"")
    done = subprocess.run([sys.executable, "-m", "workflow_platform.cli", "run", "--catalog", str(tenant.catalog_dir),
                           "--group", "daily", "--date", DAY], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "refused in/c_20260105_b.csv (quarantined): in/c_20260105_b.csv: file is empty (0 bytes)" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("problem", ["wrong secret", "secret not set"])
def test_a_remote_landing_auth_problem_fails_fast_without_retries(tenant, s3_server, sftp_server, monkeypatch,
                                                                  problem):
    monkeypatch.setenv("TEST_S3_KEY", s3_server.key)
    if problem == "wrong secret":
        monkeypatch.setenv("TEST_S3_SECRET", "not-the-secret")
    else:
        monkeypatch.delenv("TEST_S3_SECRET", raising=False)
    monkeypatch.setenv("TEST_SFTP_PASSWORD", sftp_server.password)
    tenant.write_catalog(remote_catalog(s3_server, sftp_server))
    s3_server.client().put_object(Bucket=s3_server.bucket, Key="landing/in/c_20260105_a.csv",
                                  Body=(CUSTOMER_HEADER + "\n" + rows(1, 5)).encode())
    with dg.instance_for_test() as instance:
        outcome = run_workflow(tenant.catalog(), window=(dt.date(2026, 1, 5), dt.date(2026, 1, 5)), group="daily",
                               warehouse=str(tenant.warehouse), instance=instance)
        retries = [r for r in instance.all_logs(outcome.run_id) if r.dagster_event
                   and r.dagster_event.event_type_value == "STEP_UP_FOR_RETRY"]
    [failure] = [f for f in outcome.failures if f.startswith("load__customers")]
    assert "permanent error, not retried: check the credentials and permissions" in failure
    assert "not-the-secret" not in failure and retries == []
