"""The user's path: generate the demo tenant's files, run the whole workflow with the CLI, check the result
against the ground truth."""

import csv
import datetime as dt
import os
import subprocess
import sys
from collections import defaultdict

import duckdb
import pytest

END = dt.date(2026, 11, 20)
DAYS = 5


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> dict:
    data = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "WORKFLOW_PLATFORM_DATA": str(data)}
    env.pop("WORKFLOW_PLATFORM_CATALOG", None)
    env.pop("WORKFLOW_PLATFORM_WAREHOUSE", None)
    cli = [sys.executable, "-m", "workflow_platform.cli"]
    generated = subprocess.run(cli + ["demo-data", "--days", str(DAYS), "--customers", "800", "--seed", "7",
                                      "--end", END.isoformat()], env=env, capture_output=True, text=True, timeout=300,
                               check=False)
    assert generated.returncode == 0, generated.stderr
    start = END - dt.timedelta(days=DAYS - 1)
    run = subprocess.run(cli + ["run", "--from", start.isoformat(), "--to", (END + dt.timedelta(days=1)).isoformat()],
                         env=env, capture_output=True, text=True, timeout=600, check=False)
    return {"data": data, "generated": generated, "run": run}


def query(demo_run, sql: str) -> list[tuple]:
    with duckdb.connect(str(demo_run["data"] / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def truth(demo_run) -> list[dict]:
    with open(demo_run["data"] / "landing" / "ground_truth.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_run_succeeds_and_prints_the_summary(demo_run):
    run = demo_run["run"]
    assert run.returncode == 0, run.stdout + run.stderr
    for key in ("courier/pos_orders", "domain/loyalty_members", "stitch/identity", "database/c360/customer_360",
                "segment/high_value_customers", "orchestration/high_value_to_crm"):
        assert key in run.stdout
    assert "Traceback" not in run.stdout + run.stderr


def test_every_source_record_is_loaded(demo_run):
    records = truth(demo_run)
    for feed in ("ecommerce_customers", "loyalty_members"):
        expected = {r["pk"] for r in records if r["source"] == feed}
        loaded = {row[0] for row in query(demo_run, f"SELECT _pk FROM domain.{feed}")}
        assert loaded == expected, feed
    pos_files = sorted((demo_run["data"] / "landing" / "pos").rglob("orders-*.csv"))
    pos_lines = sum(len(f.read_text().splitlines()) - 1 for f in pos_files)  # every line but the header
    assert [r[0] for r in query(demo_run, "SELECT _file FROM raw.pos_orders__files ORDER BY _seq")] == [
        str(f.relative_to(demo_run["data"] / "landing")) for f in pos_files]
    rejected = query(demo_run, "SELECT count(*) FROM audit.rejects WHERE feed = 'pos_orders'")[0][0]
    assert query(demo_run, "SELECT count(*) FROM domain.pos_orders")[0][0] == pos_lines - rejected
    assert rejected < pos_lines * 0.01  # the generator spoils ~0.2% of lines on purpose


def test_same_people_share_an_id_and_households_do_not(demo_run):
    records = truth(demo_run)
    ids = {(source, pk): cid for source, pk, cid in
           query(demo_run, "SELECT source, pk, customer_id FROM c360.unified_coalesced")}
    assert len(ids) == len(records)
    people, customers = defaultdict(set), defaultdict(set)
    for r in records:
        customer = ids[(r["source"], r["pk"])]
        people[r["person_id"]].add(customer)
        customers[customer].add(r["person_id"])
    # precision: a customer id never holds two real people (households and junk values stay apart)
    assert all(len(persons) == 1 for persons in customers.values())
    # recall: the generator makes ~90%+ of multi-record people linkable by the exact rules
    multi = [p for p, _ in people.items() if sum(1 for r in records if r["person_id"] == p) > 1]
    linked = sum(1 for p in multi if len(people[p]) == 1)
    assert linked / len(multi) >= 0.9
    households = defaultdict(set)
    for r in records:
        households[r["household_id"]].add(r["person_id"])
    shared = [h for h, persons in households.items() if len(persons) > 1]
    assert shared, "the demo data has multi-person households"
    for household in shared:
        members = households[household]
        member_ids = [people[p] for p in members]
        assert all(a.isdisjoint(b) for i, a in enumerate(member_ids) for b in member_ids[i + 1:])


def test_customer_360_and_activation(demo_run):
    customers = query(demo_run, "SELECT count(*) FROM c360.customer_360")[0][0]
    assert customers == query(demo_run, "SELECT count(DISTINCT customer_id) FROM c360.unified_coalesced")[0][0]
    with_orders = query(demo_run, "SELECT count(*) FROM c360.customer_360 WHERE order_count > 0")[0][0]
    assert 0 < with_orders < customers
    high_value = query(demo_run, "SELECT count(*) FROM segment.high_value_customers")[0][0]
    exports = list((demo_run["data"] / "exports").glob("high_value_customers_*.csv"))
    assert len(exports) == 1
    lines = exports[0].read_text().splitlines()
    assert lines[0] == "customer_id,email,first_name,last_name"
    assert len(lines) - 1 == high_value > 0


def test_rerun_keeps_every_customer_id(demo_run):
    before = dict(query(demo_run, "SELECT record_key, customer_id FROM stitch.customer_ids"))
    env = {**os.environ, "WORKFLOW_PLATFORM_DATA": str(demo_run["data"])}
    again = subprocess.run([sys.executable, "-m", "workflow_platform.cli", "run", "--date", END.isoformat()],
                           env=env, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    after = dict(query(demo_run, "SELECT record_key, customer_id FROM stitch.customer_ids"))
    assert after == before


def test_cli_group_run_with_ingest_only_and_a_skipped_courier(demo_run):
    env = {**os.environ, "WORKFLOW_PLATFORM_DATA": str(demo_run["data"])}
    cli = [sys.executable, "-m", "workflow_platform.cli", "run", "--group", "daily_sources", "--date", END.isoformat()]
    run = subprocess.run(cli + ["--ingest-only", "--skip-courier", "ecommerce_orders"], env=env, capture_output=True,
                         text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "domain/pos_orders" in run.stdout
    assert "stitch/identity" not in run.stdout and "segment/" not in run.stdout  # ingest only
    unknown = subprocess.run(cli + ["--group", "nightly"], env=env, capture_output=True, text=True, timeout=600,
                             check=False)
    assert unknown.returncode == 2 and "unknown courier group 'nightly'; groups: daily_sources" in unknown.stderr
