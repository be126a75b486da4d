"""The demo data generator writes deterministic files that fit the demo catalog, and a truthful ground truth."""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import gzip
import io
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import workflow_platform
from workflow_platform.catalog.loader import load_catalog
from workflow_platform.catalog.models import Catalog, Courier
from workflow_platform.demo.generate import DemoSummary, generate_demo_data
from workflow_platform.formats.patterns import FilePattern
from workflow_platform.ingest.feeds.semantics import clean_text, email, phone

CATALOG_DIR = Path(workflow_platform.__file__).parent / "demo" / "catalog"
END = dt.date(2026, 11, 5)  # the window 2026-11-01 (a Sunday) .. 2026-11-05
DAYS = 5
FORMATS = {"yyyy-MM-dd": "%Y-%m-%d", "MM/dd/yyyy": "%m/%d/%Y", "yyyy-MM-dd HH:mm:ss": "%Y-%m-%d %H:%M:%S"}
ORDER_FEEDS = ("pos_orders", "ecommerce_orders")


@dataclass
class Demo:
    out: Path
    summary: DemoSummary
    catalog: Catalog

    def courier_of(self, relative: str) -> tuple[Courier, dt.date]:
        """The one courier (and day) whose pattern matches a written file."""
        matches = [(c, day) for c in self.catalog.couriers for day in window()
                   if FilePattern.parse(c.pattern).matches(relative, day)]
        assert len(matches) == 1, f"{relative} matches {[(c.name, str(d)) for c, d in matches]}"
        return matches[0]

    def files_of(self, feed: str) -> list[tuple[str, dt.date]]:
        return [(rel, day) for rel in self.summary.files for c, day in [self.courier_of(rel)] if c.feed == feed]


def window() -> list[dt.date]:
    return [END - dt.timedelta(days=DAYS - 1 - i) for i in range(DAYS)]


def read_table(path: Path) -> tuple[list[str], list[dict]]:
    """Header and rows of a written CSV, gzip TSV or NDJSON file."""
    if path.name.endswith(".ndjson"):
        objects = [json.loads(line) for line in path.read_text().splitlines()]
        return (list(objects[0]) if objects else []), objects
    text = gzip.decompress(path.read_bytes()).decode() if path.name.endswith(".gz") else path.read_text()
    header, *rows = list(csv.reader(io.StringIO(text), delimiter="\t" if ".tsv" in path.name else ","))
    return header, [dict(zip(header, row, strict=True)) for row in rows]


def read_truth(path: Path) -> list[dict]:
    return read_table(path)[1]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CATALOG_DIR)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Demo:
    out = tmp_path_factory.mktemp("demo") / "landing"
    return Demo(out, generate_demo_data(out, days=DAYS, customers=300, seed=7, end=END), catalog)


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path):
    runs = [generate_demo_data(tmp_path / name, days=3, customers=200, seed=seed, end=END)
            for name, seed in (("a", 1), ("b", 1), ("c", 2))]
    assert runs[0].files == runs[1].files and runs[0].rows == runs[1].rows
    for relative in runs[0].files + ["ground_truth.csv"]:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes(), relative
    first_day = "ecommerce/customers_20261103.csv"
    assert (tmp_path / "a" / first_day).read_bytes() != (tmp_path / "c" / first_day).read_bytes()


def test_every_file_matches_one_catalog_pattern_and_each_day_is_covered(demo: Demo):
    assert (demo.summary.start, demo.summary.end) == (window()[0], END)
    found = defaultdict(set)
    for relative in demo.summary.files:
        assert (demo.out / relative).is_file()
        courier, day = demo.courier_of(relative)
        found[courier.name].add(day)
    for courier in demo.catalog.couriers:
        expected = {window()[0], END} if courier.optional else set(window())
        assert expected <= found[courier.name], courier.name
    sunday_files = [rel for rel, day in demo.files_of("pos_orders") if day == dt.date(2026, 11, 1)]
    assert len(sunday_files) >= 2 and not any(rel.endswith("orders-S05.csv") for rel in sunday_files)
    truth = demo.summary.truth_path
    assert truth == demo.out / "ground_truth.csv" and truth.is_file()
    relative_truth = truth.relative_to(demo.out).as_posix()
    assert not any(FilePattern.parse(c.pattern).matches(relative_truth, day)
                   for c in demo.catalog.couriers for day in window())


def test_headers_equal_feed_columns_and_values_fit_their_types(demo: Demo):
    from workflow_platform.demo.generate import HISTORY_DAYS

    for relative in demo.summary.files:
        courier, day = demo.courier_of(relative)
        feed = demo.catalog.feed(courier.feed)
        header, rows = read_table(demo.out / relative)
        columns = [c.name for c in feed.columns]
        if relative.endswith(".ndjson"):
            assert all(list(row) == columns for row in rows), relative
        else:
            assert header == columns, relative
        for column in feed.columns:
            if column.type not in ("date", "datetime"):
                continue
            default = "%Y-%m-%d" if column.type == "date" else "%Y-%m-%d %H:%M:%S"
            values = [row[column.name] for row in rows if row[column.name]]
            parsed = [dt.datetime.strptime(v, FORMATS.get(column.format or "", default)) for v in values]
            if column.type == "datetime" and day == window()[0] and courier.feed in ORDER_FEEDS:
                # the first day's order files also hold the order history before the window
                first = day - dt.timedelta(days=HISTORY_DAYS)
                assert all(first <= p.date() <= day for p in parsed), (relative, column.name)
            elif column.type == "datetime":  # updated_at, order_ts and ordered_at fall on the file's day
                assert all(p.date() == day for p in parsed), (relative, column.name)


def test_orders_reference_known_customers_and_members(demo: Demo):
    members = {row["member_id"] for rel, _ in demo.files_of("loyalty_members")
               for row in read_table(demo.out / rel)[1]}
    customers = {row["customer_id"] for rel, _ in demo.files_of("ecommerce_customers")
                 for row in read_table(demo.out / rel)[1]}
    lines = [row for rel, _ in demo.files_of("pos_orders") for row in read_table(demo.out / rel)[1]]
    assert len({row["order_line_id"] for row in lines}) == len(lines)
    with_member = [row for row in lines if row["member_id"]]
    assert 0.5 < len(with_member) / len(lines) < 0.9
    assert {row["member_id"] for row in with_member} <= members
    assert {row["is_return"] for row in lines} == {"true", "false"}
    orders = [row for rel, _ in demo.files_of("ecommerce_orders") for row in read_table(demo.out / rel)[1]]
    assert orders and {row["customer_id"] for row in orders} <= customers
    assert {row["channel"] for row in orders} == {"web", "app"}
    assert all(isinstance(row["total"], float) and round(row["total"], 2) == row["total"] for row in orders)


def test_summary_counts_equal_rows_written(demo: Demo):
    written = Counter()
    for relative in demo.summary.files:
        courier, _ = demo.courier_of(relative)
        written[courier.feed] += len(read_table(demo.out / relative)[1])
    assert demo.summary.rows == dict(written)
    truth = read_truth(demo.summary.truth_path)
    assert demo.summary.people == len({row["person_id"] for row in truth})


def test_ground_truth_covers_every_customer_and_member_once(demo: Demo):
    truth = read_truth(demo.summary.truth_path)
    assert list(truth[0]) == ["source", "pk", "person_id", "household_id"]
    keys = [(row["source"], row["pk"]) for row in truth]
    assert len(keys) == len(set(keys))
    sources = (("ecommerce_customers", "customer_id"), ("loyalty_members", "member_id"))
    written = {(feed, row[pk]) for feed, pk in sources for rel, _ in demo.files_of(feed)
               for row in read_table(demo.out / rel)[1]}
    assert set(keys) == written
    first, *deltas = [read_table(demo.out / rel)[1] for rel, _ in demo.files_of("ecommerce_customers")]
    assert all(0 < len(delta) < len(first) / 5 for delta in deltas)  # a full load, then small deltas
    initial = {row["customer_id"] for row in first}
    assert any(row["customer_id"] in initial for delta in deltas for row in delta)  # updates are re-sent


def test_households_share_address_and_surname_but_are_different_people(demo: Demo):
    truth = {(row["source"], row["pk"]): row for row in read_truth(demo.summary.truth_path)}
    households = defaultdict(list)  # household -> (person, surname, (street number + name, zip5))
    for feed, pk, surname, street, zip_code in (
        ("ecommerce_customers", "customer_id", "last_name", "address", "zip"),
        ("loyalty_members", "member_id", "surname", "street", "postal_code"),
    ):
        for rel, _ in demo.files_of(feed):
            for row in read_table(demo.out / rel)[1]:
                who = truth[(feed, row[pk])]
                place = " ".join(row[street].upper().split()[:2]), row[zip_code][:5]
                households[who["household_id"]].append((who["person_id"], row[surname].upper(), place))
    shared = {h: rows for h, rows in households.items() if len({r[0] for r in rows}) > 1}
    assert len(shared) >= 5
    for rows in shared.values():
        assert len({r[2] for r in rows}) == 1, rows
        common = Counter(r[1] for r in rows).most_common(1)[0][0]
        assert all(difflib.SequenceMatcher(None, r[1], common).ratio() >= 0.7 for r in rows), rows  # typos allowed


def test_identity_keys_link_most_people_and_never_two_people(demo: Demo):
    """Under Stitch's own normalization, no email, phone + surname or name + birthdate is shared by two
    people, and at least 90% of people with several records have them linked."""
    truth = {(row["source"], row["pk"]): row["person_id"] for row in read_truth(demo.summary.truth_path)}
    latest: dict[tuple[str, str], dict] = {}
    for feed, columns, birth_format in (
        ("ecommerce_customers", ("customer_id", "first_name", "last_name", "email", "phone", "birth_date"), "%Y-%m-%d"),
        ("loyalty_members", ("member_id", "given_name", "surname", "email", "mobile", "dob"), "%m/%d/%Y"),
    ):
        for rel, _ in demo.files_of(feed):  # in day order: a later file, and a later updated_at, wins
            for row in sorted(read_table(demo.out / rel)[1], key=lambda r: r.get("updated_at", "")):
                pk, given, surname, mail, tel, birth = (row[c] for c in columns)
                born = dt.datetime.strptime(birth, birth_format).date() if birth else None
                latest[(feed, pk)] = {"person": truth[(feed, pk)], "given": given, "surname": surname, "email": mail,
                                      "phone": tel, "birth": born}
    records = pd.DataFrame(latest.values())  # noqa: F841 - read by DuckDB below
    settings = demo.catalog.stitch
    normalized = duckdb.sql(
        f"SELECT person, {clean_text('given')} AS g, {clean_text('surname')} AS s, {email('email', settings)} AS e, "
        f"{phone('phone', settings)} AS p, CAST(birth AS DATE) AS b FROM records"
    ).fetchall()
    owners = defaultdict(set)
    person_keys = defaultdict(list)
    for person, given, surname, mail, tel, birth in normalized:
        keys = set()
        if mail:
            keys.add(("email", mail))
        if tel and surname:
            keys.add(("phone_surname", tel, surname))
        if given and surname and birth:
            keys.add(("name_birthdate", given, surname, birth))
        for key in keys:
            owners[key].add(person)
        person_keys[person].append(keys)
    assert not [key for key, people in owners.items() if len(people) > 1]
    several = [groups for groups in person_keys.values() if len(groups) > 1]
    linked = 0
    for joined, *pending in several:
        while pending and any(joined & keys for keys in pending):
            joined = joined.union(*(keys for keys in pending if joined & keys))
            pending = [keys for keys in pending if not joined & keys]
        linked += not pending
    assert len(several) > 50
    assert 0.9 <= linked / len(several) < 1  # the rest are the deliberately hard cases


def test_pos_files_have_a_few_bad_values_never_over_one_percent(tmp_path: Path):
    summary = generate_demo_data(tmp_path, days=2, customers=2000, seed=3, end=END)
    bad_total = lines_total = 0
    for relative in summary.files:
        if relative.startswith("pos/"):
            rows = read_table(tmp_path / relative)[1]
            bad = sum(row["revenue"] == "N/A" or row["quantity"] == "two" for row in rows)
            assert bad <= len(rows) / 100, relative
            bad_total += bad
            lines_total += len(rows)
    assert 0 < bad_total <= 0.005 * lines_total


def test_defaults_progress_and_truth_path(tmp_path: Path):
    truth = tmp_path / "elsewhere" / "truth.csv"
    summary = generate_demo_data(tmp_path / "landing", days=1, customers=20, truth_path=truth, progress=True)
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)  # the days of the scheduled windows are UTC
    assert summary.start == summary.end == yesterday and summary.truth_path == truth and truth.is_file()
    assert f"ecommerce/customers_{yesterday:%Y%m%d}.csv" in summary.files
    assert f"ecommerce/orders_{yesterday:%Y%m%d}.ndjson" in summary.files
    assert summary.late == [] and summary.late_dir is None and summary.left_out == []  # one day: no inner day
    with pytest.raises(ValueError):
        generate_demo_data(tmp_path, days=0)


# --------------------------------------------------------------------------- the demo's story (issue #21)
def people_orders(out: Path, files: list[str], truth_path: Path) -> dict[str, list[dt.date]]:
    """person -> the days of the orders the files give them (store lines through the member id, web orders through
    the customer id)."""
    truth = {(row["source"], row["pk"]): row["person_id"] for row in read_truth(truth_path)}
    days = defaultdict(list)
    for relative in files:
        if relative.startswith("pos/"):
            for row in read_table(out / relative)[1]:
                if row["member_id"]:
                    days[truth["loyalty_members", row["member_id"]]].append(dt.date.fromisoformat(row["order_ts"][:10]))
        elif relative.startswith("ecommerce/orders_"):
            for row in read_table(out / relative)[1]:
                days[truth["ecommerce_customers", row["customer_id"]]].append(
                    dt.date.fromisoformat(row["ordered_at"][:10]))
    return days


def test_the_lapsed_threshold_is_the_one_the_demo_segment_asks_for(catalog: Catalog):
    """The history is built around the demo segment's own cutoff (`current_date - INTERVAL 90 DAY`)."""
    from workflow_platform.demo.generate import HISTORY_DAYS, LAPSED_AFTER_DAYS

    [sql] = [s.sql for s in catalog.segments if s.name == "lapsed_customers"]
    [days] = re.findall(r"last_order_date\s*<\s*current_date\s*-\s*INTERVAL\s+(\d+)\s+DAY", sql, re.IGNORECASE)
    assert int(days) == LAPSED_AFTER_DAYS
    assert HISTORY_DAYS > LAPSED_AFTER_DAYS
    [campaign] = [c for c in catalog.campaigns if c.name == "winback_offer"]
    assert campaign.segment == "lapsed_customers"


def test_order_history_gives_a_plausible_lapsed_audience(demo: Demo):
    """Some people last ordered more than 90 days before the day after the window (what the segment selects): a
    share of those with orders, derived from their orders, and the summary counts them."""
    from workflow_platform.demo.generate import LAPSED_AFTER_DAYS

    first = window()[0]
    history = [rel for rel in demo.summary.files if rel.endswith("orders-history.csv")]
    assert history == [f"pos/{first:%Y/%m/%d}/orders-history.csv"]
    orders = people_orders(demo.out, demo.summary.files, demo.summary.truth_path)
    cutoff = END + dt.timedelta(days=1 - LAPSED_AFTER_DAYS)
    lapsed = {person for person, days in orders.items() if max(days) < cutoff}
    assert demo.summary.lapsed == len(lapsed)
    assert 0.15 <= len(lapsed) / len(orders) <= 0.6, (len(lapsed), len(orders))
    assert min(min(days) for days in orders.values()) < cutoff <= first
    recent = {person for person, days in orders.items() if max(days) >= first}
    assert len(recent) / len(orders) > 0.3  # the rest still shop, in the window


def test_one_optional_file_is_missing_for_one_inner_day(demo: Demo):
    [left_out] = demo.summary.left_out
    pattern = FilePattern.parse(demo.catalog.courier("ecommerce_orders").pattern)
    [day] = [d for d in window() if pattern.matches(left_out, d)]
    assert window()[0] < day < END and demo.catalog.courier("ecommerce_orders").optional
    assert not (demo.out / left_out).exists() and left_out not in demo.summary.files
    others = {c.name for rel in demo.summary.files for c, d in [demo.courier_of(rel)] if d == day}
    assert others == {"ecommerce_customers", "loyalty_members", "pos_orders"}  # only the optional file is missing


@pytest.fixture(scope="module")
def late_demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The fixture `demo` again, with the customer file of the day before END held back."""
    data = tmp_path_factory.mktemp("late") / "data"
    summary = generate_demo_data(data / "landing", days=DAYS, customers=300, seed=7, end=END,
                                 late_day=END - dt.timedelta(days=1))
    return Demo(data / "landing", summary, load_catalog(CATALOG_DIR))


def test_a_late_file_waits_outside_the_landing_folder_and_changes_nothing_else(demo: Demo, late_demo: Demo):
    late = f"ecommerce/customers_{END - dt.timedelta(days=1):%Y%m%d}.csv"
    assert late_demo.summary.late == [late] and late_demo.summary.late_dir == late_demo.out.parent / "late"
    assert not (late_demo.out / late).exists() and late not in late_demo.summary.files
    assert late_demo.summary.files == [rel for rel in demo.summary.files if rel != late]
    for relative in demo.summary.files:  # the same bytes, the late one in late/
        folder = late_demo.summary.late_dir if relative == late else late_demo.out
        assert (folder / relative).read_bytes() == (demo.out / relative).read_bytes(), relative
    assert late_demo.summary.rows == demo.summary.rows and late_demo.summary.left_out == demo.summary.left_out
    with pytest.raises(ValueError, match="outside the demo days"):
        generate_demo_data(late_demo.out.parent / "other", days=2, customers=10, end=END, late_day=END + dt.timedelta(1))


def test_the_sensor_stops_for_the_late_file_then_catches_it_up(late_demo: Demo, monkeypatch: pytest.MonkeyPatch):
    """What the daemon does with the demo's late file: at the tick whose window is the late day the group stops and
    alerts (the courier stops when missing); once delivered, a catch-up run and a `late_file` alert."""
    from workflow_platform.automation.courier_groups import decide
    from workflow_platform.demo.first_start import late_day
    from workflow_platform.demo.generate import deliver_late

    monkeypatch.setenv("WORKFLOW_PLATFORM_DATA", str(late_demo.out.parent))
    catalog = late_demo.catalog
    [group] = catalog.courier_groups
    # the tick of 06:00 Los Angeles (14:00 UTC) on END loads the day before: the late day the first start picks
    now = dt.datetime(2026, 11, 5, 14, 1, tzinfo=dt.UTC)
    assert late_day(catalog, window()[0], END, now) == END - dt.timedelta(days=1)
    stopped = decide(catalog, group, now, {})
    assert stopped.run_requests == [] and "stopped, missing ecommerce_customers" in stopped.message
    assert [(a.kind, a.severity) for a in stopped.alerts] == [("missing_files", "error")]
    assert [c.asset_key.path[-1] for c in stopped.checks if not c.passed] == ["ecommerce_customers"]
    assert deliver_late(late_demo.summary.late_dir, late_demo.out) == late_demo.summary.late
    assert not any(late_demo.summary.late_dir.rglob("*"))
    caught_up = decide(catalog, group, now + dt.timedelta(minutes=1), stopped.cursor)
    [request] = caught_up.run_requests
    assert request.run_key.endswith(":late:ecommerce_customers")
    assert [(a.kind, a.severity) for a in caught_up.alerts] == [("late_file", "warning")]
    assert caught_up.cursor["late"] == []


def test_the_first_start_picks_the_day_the_sensor_checks_first(catalog: Catalog):
    from workflow_platform.demo.first_start import late_day

    start = window()[0]
    before_tick = dt.datetime(2026, 11, 5, 13, 0, tzinfo=dt.UTC)  # the latest tick is 2026-11-04 06:00 PST
    assert late_day(catalog, start, END, before_tick) == END - dt.timedelta(days=2)
    # a tick due while the platform starts (within FIRST_EVALUATION) is the one the daemon checks first
    assert late_day(catalog, start, END, dt.datetime(2026, 11, 5, 13, 55, tzinfo=dt.UTC)) == END - dt.timedelta(1)
    assert late_day(catalog, start, END, dt.datetime(2026, 12, 5, 13, 0, tzinfo=dt.UTC)) is None  # out of the days


# --------------------------------------------------------------------------- `make run`'s first start
@dataclass
class FirstStart:
    code: int
    data: Path
    home: Path
    record: dict


@pytest.fixture(scope="module")
def first_started(tmp_path_factory: pytest.TempPathFactory):
    """`make run`'s first start, after an earlier one was interrupted (its record, half a landing folder and a run
    in the Dagster home are left), for real: the CLI writes 4 demo days ending yesterday and loads them."""
    from workflow_platform.demo import first_start

    root = tmp_path_factory.mktemp("first_start")
    data, home = root / "data", root / "dagster_home"
    (data / "landing" / "ecommerce").mkdir(parents=True)
    (data / "landing" / "ecommerce" / "customers_20000101.csv").write_text("half a file")
    (data / first_start.LOADING).write_text('{"started_at": "2026-01-01T00:00:00+00:00"}')
    (home / "history").mkdir(parents=True)
    (home / "history" / "runs.db").write_text("an interrupted run")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKFLOW_PLATFORM_DATA", str(data))
        patch.setenv("DAGSTER_HOME", str(home))  # as the Makefile exports it
        for name in ("WORKFLOW_PLATFORM_CATALOG", "WORKFLOW_PLATFORM_WAREHOUSE"):
            patch.delenv(name, raising=False)
        code = first_start.main(["--days", "4", "--customers", "400", "--dagster-home", str(home)])
        record = json.loads((data / first_start.LOADED).read_text()) if code == 0 else {}
        yield FirstStart(code, data, home, record)


def test_an_interrupted_first_start_is_started_over_and_recorded_when_done(first_started: FirstStart, capsys):
    from workflow_platform.demo import first_start

    assert first_started.code == 0
    data, home = first_started.data, first_started.home
    assert first_start.state(data) == "loaded" and not (data / first_start.LOADING).exists()
    assert not (data / "landing" / "ecommerce" / "customers_20000101.csv").exists()  # the interrupted start's files
    assert (home / "dagster.yaml").is_file()
    assert (home / "history" / "runs.db").read_bytes() != b"an interrupted run"  # a fresh instance: the new runs
    end = dt.datetime.fromisoformat(first_started.record["started_at"]).date() - dt.timedelta(days=1)  # yesterday
    assert first_started.record["end"] == end.isoformat() and first_started.record["days"] == 4
    assert first_started.record["started_at"] != "2026-01-01T00:00:00+00:00"  # this start's record, not the old one
    assert (data / "warehouse.duckdb").is_file() and (data / "landing" / "ground_truth.csv").is_file()
    assert first_started.record["late_day"]  # the day the sensor checks first is one of the demo days
    # a later start finds the record and does nothing
    assert first_start.main(["--days", "4", "--customers", "400"]) == 0
    assert "demo data loaded at the first start" in capsys.readouterr().out


def test_the_first_load_builds_a_lapsed_audience_and_the_campaign_sends_it(first_started: FirstStart,
                                                                            monkeypatch: pytest.MonkeyPatch):
    from workflow_platform.runner import run_workflow

    monkeypatch.setenv("WORKFLOW_PLATFORM_DATA", str(first_started.data))
    monkeypatch.setenv("DAGSTER_HOME", str(first_started.home))
    with duckdb.connect(str(first_started.data / "warehouse.duckdb"), read_only=True) as conn:
        lapsed = conn.execute("SELECT count(*) FROM segment.lapsed_customers").fetchone()[0]
        buyers = conn.execute("SELECT count(*) FROM c360.customer_360 WHERE last_order_date IS NOT NULL").fetchone()[0]
    assert 0.15 <= lapsed / buyers <= 0.6, (lapsed, buyers)
    sent = run_workflow(load_catalog(CATALOG_DIR), job_name="send_campaign__winback_offer")
    assert sent.success, sent.failures
    exports = sorted((first_started.data / "exports").glob("winback_offer_*.csv"))
    assert [p.name.split("_")[2] for p in exports] == ["holdout", "treatment"]
    assert sum(len(p.read_text().splitlines()) - 1 for p in exports) == lapsed


def test_the_missing_optional_file_warns_and_the_late_file_loads_once_delivered(first_started: FirstStart,
                                                                               monkeypatch: pytest.MonkeyPatch):
    from workflow_platform.demo.generate import deliver_late
    from workflow_platform.runner import run_workflow

    monkeypatch.setenv("WORKFLOW_PLATFORM_DATA", str(first_started.data))
    monkeypatch.setenv("DAGSTER_HOME", str(first_started.home))
    catalog = load_catalog(CATALOG_DIR)
    days = (dt.date.fromisoformat(first_started.record["start"]), dt.date.fromisoformat(first_started.record["end"]))
    late = dt.date.fromisoformat(first_started.record["late_day"])

    def details() -> dict[str, str]:
        outcome = run_workflow(catalog, window=days, group="daily_sources", ingest_only=True, skip_missing=True)
        assert outcome.success, outcome.failures
        return {row.key: row.detail for row in outcome.rows}

    before = details()
    assert "missing: ecommerce/orders_" in before["courier/ecommerce_orders"]  # optional: a warning, the run goes on
    assert f"missing: ecommerce/customers_{late:%Y%m%d}.csv for {late}" in before["courier/ecommerce_customers"]
    assert deliver_late(first_started.data / "late", first_started.data / "landing") == [
        f"ecommerce/customers_{late:%Y%m%d}.csv"]
    after = details()
    assert "missing" not in after["courier/ecommerce_customers"]
    assert "files_loaded=1," in after["courier/ecommerce_customers"]


def test_landing_files_without_a_record_are_left_alone_with_the_commands(tmp_path: Path, monkeypatch, capsys):
    from workflow_platform.demo import first_start

    monkeypatch.setenv("WORKFLOW_PLATFORM_DATA", str(tmp_path))
    monkeypatch.delenv("WORKFLOW_PLATFORM_CATALOG", raising=False)
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "mine.csv").write_text("a,b\n")
    assert first_start.state(tmp_path) == "foreign"
    assert first_start.main([]) == 0
    said = capsys.readouterr().out
    assert "no first start of the demo was recorded" in said
    assert "`make reset && make run`" in said and f"`touch {tmp_path / first_start.LOADED}`" in said
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["landing", "mine.csv"]  # nothing written or removed
    monkeypatch.setenv("WORKFLOW_PLATFORM_CATALOG", str(tmp_path))  # another tenant: no demo data at all
    assert first_start.main([]) == 0 and "not the demo tenant" in capsys.readouterr().out
    (tmp_path / "landing" / "mine.csv").unlink()
    assert first_start.state(tmp_path) == "fresh"
