"""A scheduled orchestration group with Amperity's courier group constraint (`when_new_data_from`, `offset`):
its ticks send only when the courier group completed a run that loaded new rows since the last send. Real runs
on a test instance; the schedule is evaluated against it, as the daemon does."""

import datetime as dt

import dagster as dg
import pytest

from workflow_platform.catalog.loader import CatalogInvalid
from workflow_platform.definitions import build_definitions
from workflow_platform.tags import UPSTREAM_RUN_TAG
from workflow_platform_tests.support import customer_file, run_courier_group
from workflow_platform_tests.test_orchestration_groups import catalog_text

SCHEDULE = "orchestration_group__activations__schedule"


def constrained(offset: str = "") -> str:
    options = 'schedule: "0 9 * * *"\n    when_new_data_from: daily' + (f"\n    offset: {offset}" if offset else "")
    return catalog_text(group_options=options)


def tick(defs, instance, at: dt.datetime):
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=at)
    return defs.resolve_schedule_def(SCHEDULE).evaluate_tick(context)


def later(hours: float = 0) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours, seconds=1)


def test_a_constrained_group_sends_only_after_new_rows_and_once_per_new_load(tenant):
    tenant.write_catalog(constrained())
    defs = build_definitions(tenant.catalog(), str(tenant.warehouse))
    with dg.instance_for_test() as instance:
        first = tick(defs, instance, later())
        assert not first.run_requests
        assert "no new data: courier group daily has completed no run that loaded new rows yet" in first.skip_message

        tenant.land("in/c_20260105.csv", customer_file(3))
        load = run_courier_group(defs, instance, "2026-01-05")
        assert load.success and load.build is not None
        [request] = tick(defs, instance, later()).run_requests
        assert request.tags[UPSTREAM_RUN_TAG] == load.load.run_id

        sent = defs.resolve_job_def("orchestration_group__activations").execute_in_process(
            instance=instance, tags=request.tags)
        assert sent.success
        again = tick(defs, instance, later())
        assert not again.run_requests and "since the last send" in again.skip_message

        # the same day again: its file is loaded already, so the run loads no new rows
        assert run_courier_group(defs, instance, "2026-01-05").success
        assert not tick(defs, instance, later()).run_requests

        tenant.land("in/c_20260106.csv", customer_file(5))
        newer = run_courier_group(defs, instance, "2026-01-06")
        [request] = tick(defs, instance, later()).run_requests
        assert request.tags[UPSTREAM_RUN_TAG] == newer.load.run_id


def test_the_offset_holds_back_data_that_completed_too_close_to_the_tick(tenant):
    tenant.write_catalog(constrained(offset="2 hours"))
    defs = build_definitions(tenant.catalog(), str(tenant.warehouse))
    with dg.instance_for_test() as instance:
        tenant.land("in/c_20260105.csv", customer_file(3))
        assert run_courier_group(defs, instance, "2026-01-05").success
        held = tick(defs, instance, later(hours=1))
        assert not held.run_requests
        assert "loaded new rows less than 2 hours (offset) before this tick" in held.skip_message
        assert len(tick(defs, instance, later(hours=2)).run_requests) == 1


def test_a_failed_build_is_no_new_data(tenant):
    """The courier group's workflow must complete: rows loaded by a run whose build failed are not sent."""
    tenant.write_catalog(constrained().replace(
        "    sql: SELECT customer_id, given_name, email FROM c360.customer_360\n",
        "    sql: SELECT customer_id, given_name, email FROM c360.customer_360\n    fail_when: {max_rows: 0}\n"))
    defs = build_definitions(tenant.catalog(), str(tenant.warehouse))
    with dg.instance_for_test() as instance:
        tenant.land("in/c_20260105.csv", customer_file(3))
        run = run_courier_group(defs, instance, "2026-01-05")
        assert run.load.success and run.build is not None and not run.build.success
        assert not tick(defs, instance, later()).run_requests


@pytest.mark.parametrize("options, message", [
    ("when_new_data_from: daily", "when_new_data_from constrains a schedule: set schedule too"),
    ('schedule: "0 9 * * *"\n    offset: 1 hour', "offset applies to when_new_data_from"),
    ('schedule: "0 9 * * *"\n    when_new_data_from: dialy', "unknown courier group 'dialy'; did you mean 'daily'?"),
])
def test_the_constraint_is_checked_when_the_catalog_loads(tenant, options, message):
    tenant.write_catalog(catalog_text(group_options=options))
    with pytest.raises(CatalogInvalid) as error:
        tenant.catalog()
    assert message in str(error.value)
