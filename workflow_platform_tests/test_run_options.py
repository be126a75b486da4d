"""Run options users expect of Amperity: load all data, file dates in the group's time zone, the past-day
toggle of less-than-daily groups, and a group's Stitch mode."""

import datetime as dt

import dagster as dg
import pytest
from click.testing import CliRunner

from workflow_platform.cli import main
from workflow_platform.definitions import build_definitions
from workflow_platform.tags import SCHEDULED_AT_TAG, SINCE_TAG
from workflow_platform_tests.support import CUSTOMER_HEADER, CUSTOMER_SOURCE, customer_file, run_courier_group


def person(n: int, given: str, updated: str) -> str:
    return f"{n},{given},Lee{n},p{n}@example.org,555{n:07d},1990-01-01,{updated}"


def test_load_all_data_takes_every_dated_file_in_date_order(tenant):
    tenant.write_catalog(CUSTOMER_SOURCE)
    tenant.land("in/c_20260103.csv", "\n".join([CUSTOMER_HEADER, person(1, "Newer", "2026-01-01 00:00:00")]) + "\n")
    tenant.land("in/c_20251231.csv", "\n".join([CUSTOMER_HEADER, person(1, "Older", "2026-01-01 00:00:00"),
                                                person(2, "Bo", "2026-01-01 00:00:00")]) + "\n")
    tenant.land("in/c_20260102.csv", "\n".join([CUSTOMER_HEADER, person(3, "Cy", "2026-01-01 00:00:00")]) + "\n")
    tenant.land("in/c_20261399.csv", "\n".join([CUSTOMER_HEADER, person(4, "Nodate", "2026-01-01 00:00:00")]) + "\n")
    outcome = tenant.run(ingest_only=True, all_data=True)
    assert outcome.success, outcome.failures
    assert outcome.window_text == "all data (every date)"
    assert tenant.query("SELECT id, first_name, _file_date::VARCHAR FROM domain.customers ORDER BY id") == [
        ("1", "NEWER", "2026-01-03"), ("2", "BO", "2025-12-31"), ("3", "CY", "2026-01-02")]  # 13/99 is no date


def test_all_data_and_a_date_do_not_go_together(tenant):
    tenant.write_catalog(CUSTOMER_SOURCE)
    result = CliRunner().invoke(main, ["run", "--catalog", str(tenant.catalog_dir), "--all-data",
                                       "--date", "2026-01-05"],
                                env={"WORKFLOW_PLATFORM_WAREHOUSE": str(tenant.warehouse)})
    assert result.exit_code == 2 and "give one of: days (--date, --from/--to), all data (--all-data)" in result.output


def weekly(options: str = "") -> str:
    return CUSTOMER_SOURCE.replace("    couriers: [shop]\n", f"""    couriers: [shop]
    schedule: "0 20 * * 2"
    timezone: America/Los_Angeles
{options}""")


def scheduled_days(tenant, catalog: str) -> list[str]:
    """The file days a scheduled run of group daily loads for the tick of Tuesday 2026-03-10 20:00 in Los
    Angeles (03:00 UTC on Wednesday), the previous tick a week before."""
    tenant.write_catalog(catalog)
    for day in range(1, 12):
        tenant.land(f"in/c_202603{day:02d}.csv", customer_file(1).replace("1,Ann1", f"{day},Ann{day}"))
    defs = build_definitions(tenant.catalog(), str(tenant.warehouse))
    tick = dt.datetime(2026, 3, 10, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("courier_group__daily").execute_in_process(
            instance=instance, raise_on_error=False,
            tags={SCHEDULED_AT_TAG: tick.isoformat(), SINCE_TAG: (tick - dt.timedelta(days=7)).isoformat()})
        assert result.success
    return [r[0] for r in tenant.query("SELECT DISTINCT _file_date::VARCHAR FROM domain.customers ORDER BY 1")]


@pytest.mark.parametrize("options, days", [
    ("", [f"2026-03-{d:02d}" for d in range(4, 11)]),  # UTC dates: the tick is Wednesday the 11th in UTC
    ("    file_dates_in_timezone: true\n", [f"2026-03-{d:02d}" for d in range(3, 10)]),  # Los Angeles dates
    ("    past_day_only: true\n", ["2026-03-10"]),  # the look-back (1 day) only, not every day since the last tick
])
def test_a_scheduled_window_follows_the_groups_date_settings(tenant, options, days):
    assert scheduled_days(tenant, weekly(options)) == days


def test_a_groups_stitch_mode_reaches_its_build_run(tenant):
    tenant.write_catalog(CUSTOMER_SOURCE.replace("    couriers: [shop]\n",
                                                 "    couriers: [shop]\n    stitch_mode: force_refresh\n"))
    tenant.land("in/c_20260105.csv", customer_file(3))
    defs = build_definitions(tenant.catalog(), str(tenant.warehouse))
    with dg.instance_for_test() as instance:
        run = run_courier_group(defs, instance, "2026-01-05")
        assert run.success and run.build is not None
        assert run.build.dagster_run.tags["workflow_platform/stitch_mode"] == "force_refresh"
        [stitch] = [e for e in run.build.get_asset_materialization_events()
                    if e.asset_key == dg.AssetKey(["stitch", "identity"])]
        assert stitch.materialization.metadata["mode"].value == "force_refresh"


def test_a_courier_the_run_leaves_out_shows_as_skipped_not_as_loaded(tenant):
    tenant.write_catalog(CUSTOMER_SOURCE.replace("""couriers:
  - name: shop
""", """couriers:
  - name: club
    pattern: "'in/club_'yyyyMMdd'.csv'"
    feed: customers
  - name: shop
""").replace("    couriers: [shop]\n", "    couriers: [shop, club]\n"))
    tenant.land("in/c_20260105.csv", customer_file(2))
    defs = build_definitions(tenant.catalog(), str(tenant.warehouse))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("courier_group__daily").execute_in_process(
            instance=instance, tags={"workflow_platform/date_from": "2026-01-05",
                                     "workflow_platform/skip_couriers": "club"})
        assert result.success
        materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        assert "courier/shop" in materialized and "courier/club" not in materialized  # not "loaded 0 files"
        assert "domain/customers" in materialized
        checks = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
        skipped = checks[("courier/club", "expected_files_present")]
        assert skipped.passed and skipped.description == (
            "skipped: this run leaves courier club out (workflow_platform/skip_couriers)")
        assert checks[("courier/club", "files_accepted")].passed
    outcome = tenant.run("2026-01-05", group="daily", ingest_only=True, skip_couriers=["club"])
    assert outcome.success
    assert ("courier/club", None, "skipped") in [(r.key, r.rows, r.detail) for r in outcome.rows]


def test_all_data_refuses_a_pattern_without_a_year(tenant):
    tenant.write_catalog(CUSTOMER_SOURCE.replace("'in/c_'yyyyMMdd'.csv'", "'in/c_'MMdd'.csv'"))
    tenant.land("in/c_0105.csv", customer_file(1))
    outcome = tenant.run(ingest_only=True, all_data=True)
    assert any("its pattern has no year (yyyy), so an all-data run cannot tell its files' dates" in f
               for f in outcome.failures), outcome.failures
