"""A courier group's job loads its couriers; the build (Stitch, databases, segments with thresholds) is one run of
job `build` that sensor courier_groups__build requests after each successful whole run of a full or refresh group,
over what lies downstream of the group's couriers. Success alerts and orchestration groups wait for that run."""

import dagster as dg

from workflow_platform.automation.jobs import BUILD_JOB
from workflow_platform.definitions import build_definitions
from workflow_platform.tags import COURIER_GROUP_TAG, RUN_TYPE_TAG, UPSTREAM_RUN_TAG
from workflow_platform_tests.servers import SlackServer
from workflow_platform_tests.support import (
    BUILD_SENSOR,
    CUSTOMER_SOURCE,
    channels,
    customer_file,
    evaluate_sensor,
    run_courier_group,
)

# group `daily` loads customers (Stitch reads them); group `refs` loads a reference table that only the custom
# table `store_names` reads; group `raw` is a source run that lands files (no build)
CATALOG = CUSTOMER_SOURCE.replace("""    type: customer_360
""", """    type: customer_360
    tables:
      - name: store_names
        sql: SELECT store_id, name FROM domain.stores
""").replace("""  - name: daily
    couriers: [shop]
""", """  - name: daily
    couriers: [shop]
    alert_on_success: true
  - name: refs
    couriers: [stores]
    run_type: refresh
  - name: raw
    couriers: [archive]
    run_type: source
""").replace("""couriers:
""", """couriers:
  - name: stores
    pattern: "'in/s_'yyyyMMdd'.csv'"
    feed: stores
  - name: archive
    pattern: "'in/a_'yyyyMMdd'.csv'"
    feed: stores
    load: land_only
""", 1) + """
segments:
  - name: everyone
    sql: SELECT customer_id FROM c360.customer_360
    warn_when: {min_rows: 1}
  - name: quiet
    sql: SELECT customer_id FROM c360.customer_360
alerts:
  courier_groups:
    slack: ["#data-alerts"]
"""


def write(tenant) -> dg.Definitions:
    tenant.write_catalog(CATALOG)
    tenant.write_catalog("feeds:\n  - name: stores\n    source: erp\n    columns:\n      - {name: store_id, tag: pk}\n"
                         "      - {name: name}\n", "stores.yaml")
    tenant.land("in/c_20260105.csv", customer_file(3))
    tenant.land("in/s_20260105.csv", "store_id,name\n1,Main street\n")
    tenant.land("in/a_20260105.csv", "anything\n")
    return build_definitions(tenant.catalog(), str(tenant.warehouse))


def test_the_group_job_loads_and_the_build_run_follows_over_what_lies_downstream(tenant):
    defs = write(tenant)
    with dg.instance_for_test() as instance:
        daily = run_courier_group(defs, instance, "2026-01-05")
        assert daily.success and daily.build is not None
        load_keys = {k.to_user_string() for k in daily.load.dagster_run.asset_selection or
                     defs.resolve_job_def("courier_group__daily").asset_layer.selected_asset_keys}
        assert {k.split("/")[0] for k in load_keys} == {"courier", "feed", "domain"}
        build = instance.get_run_by_id(daily.build.run_id)
        assert build.job_name == BUILD_JOB
        assert {k.to_user_string() for k in build.asset_selection} == {
            "stitch/identity", "database/c360/unified_coalesced", "database/c360/merged_customers",
            "database/c360/customer_360", "segment/everyone"}  # not the stores table, not a plain segment
        assert build.tags[COURIER_GROUP_TAG] == "daily" and build.tags[RUN_TYPE_TAG] == "full"
        assert build.tags[UPSTREAM_RUN_TAG] == daily.load.run_id
        assert tenant.query("SELECT count(*) FROM c360.customer_360")[0][0] == 3

        refs = run_courier_group(defs, instance, "2026-01-05", group="refs")
        assert {k.to_user_string() for k in instance.get_run_by_id(refs.build.run_id).asset_selection} == {
            "database/c360/store_names"}
        assert run_courier_group(defs, instance, "2026-01-05", group="raw").build is None  # a source run


def test_no_build_after_a_hand_picked_subset_a_failed_load_or_twice_but_after_a_re_execution(tenant):
    defs = write(tenant)
    with dg.instance_for_test() as instance:
        cursor = evaluate_sensor(defs, instance, BUILD_SENSOR, None).cursor
        picked = defs.resolve_job_def("courier_group__daily").execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey(["courier", "shop"]), dg.AssetKey(["feed", "customers"]),
                                                dg.AssetKey(["domain", "customers"])],
            tags={"workflow_platform/date_from": "2026-01-05", "workflow_platform/date_to": "2026-01-05"})
        assert picked.success
        tick = evaluate_sensor(defs, instance, BUILD_SENSOR, cursor)
        assert tick.run_requests == []
        # a re-execution (from asset failure, Dagster selects only what failed) is followed like the run itself
        again = defs.resolve_job_def("courier_group__daily").execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey(["courier", "shop"]), dg.AssetKey(["feed", "customers"]),
                                                dg.AssetKey(["domain", "customers"])],
            tags={"workflow_platform/date_from": "2026-01-05", "workflow_platform/date_to": "2026-01-05",
                  "dagster/parent_run_id": picked.run_id})
        followed = evaluate_sensor(defs, instance, BUILD_SENSOR, tick.cursor)
        assert [r.run_key for r in followed.run_requests] == [again.run_id]
        tick = followed
        tenant.land("in/c_20260106.csv", "not,the,columns\n1,2,3\n")
        failed = run_courier_group(defs, instance, "2026-01-06")
        assert not failed.success and failed.build is None
        whole = run_courier_group(defs, instance, "2026-01-05")
        assert whole.build is not None
        # the daemon evaluates again: the run key (the load's run id) was requested once, and only once
        again = evaluate_sensor(defs, instance, BUILD_SENSOR, tick.cursor)
        assert [r.run_key for r in again.run_requests] in ([whole.load.run_id], [])


def test_the_success_alert_waits_for_the_build_run(tenant):
    defs = write(tenant)
    slack = SlackServer()
    try:
        resources = {"alert_channels": channels(slack, None)}
        with dg.instance_for_test() as instance:
            cursor = evaluate_sensor(defs, instance, "workflow_success_alerts", None, resources).cursor
            daily = run_courier_group(defs, instance, "2026-01-05")
            assert daily.success
            for _ in range(3):  # one run per tick: the load (no alert), then the build (the alert)
                cursor = evaluate_sensor(defs, instance, "workflow_success_alerts", cursor, resources).cursor
        [message] = slack.messages
        assert message["text"].startswith("[INFO] courier group daily") and f"runs/{daily.build.run_id}" in message["text"]
    finally:
        slack.close()


def test_workflow_platform_run_of_a_group_runs_its_build_too(tenant):
    write(tenant)
    outcome = tenant.run("2026-01-05", group="daily")  # what `workflow-platform run --group daily` runs
    assert outcome.success and outcome.build_run_id
    keys = {row.key for row in outcome.rows}
    assert {"domain/customers", "stitch/identity", "database/c360/customer_360", "segment/everyone"} <= keys
    assert "segment/quiet" not in keys
    assert tenant.run("2026-01-05", group="raw").build_run_id is None  # a source run: no build
