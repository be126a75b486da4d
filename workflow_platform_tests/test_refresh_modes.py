"""Database refresh modes (Amperity's express / normal / full), selectable per run: what a build rebuilds."""

import dagster as dg
import pytest

from workflow_platform.automation.build import build_run_tags
from workflow_platform.tags import COURIER_GROUP_TAG, REFRESH_MODE_TAG
from workflow_platform_tests.support import CUSTOMER_SOURCE, customer_file

CATALOG = CUSTOMER_SOURCE.replace("    type: customer_360\n", """    type: customer_360
    tables:
      - name: customers_by_state
        sql: SELECT count(*) AS customers FROM c360.customer_360
      - name: recent_customers
        sql: SELECT count(*) AS customers FROM c360.customer_360 WHERE current_date > DATE '2000-01-01'
""")


def built(tenant) -> dict[str, object]:
    return dict(tenant.query("SELECT name, built_at FROM audit.table_versions WHERE name LIKE 'c360.%'"))


def rebuilt(before: dict, after: dict) -> set[str]:
    return {name for name in after if after[name] != before.get(name)}


def test_each_mode_rebuilds_what_it_says(tenant):
    tenant.write_catalog(CATALOG)
    tenant.land("in/c_20260105.csv", customer_file(4))
    assert tenant.run("2026-01-05", group="daily").success
    first = built(tenant)
    assert set(first) == {"c360.customers_by_state", "c360.recent_customers"}

    # nothing new: normal (the default) rebuilds only the table whose SQL reads the clock
    assert tenant.run("2026-01-05", group="daily").success
    second = built(tenant)
    assert rebuilt(first, second) == {"c360.recent_customers"}

    # express: neither
    assert tenant.run("2026-01-05", group="daily", refresh_mode="express").success
    third = built(tenant)
    assert rebuilt(second, third) == set()

    # full: both
    assert tenant.run("2026-01-05", group="daily", refresh_mode="full").success
    fourth = built(tenant)
    assert rebuilt(third, fourth) == {"c360.customers_by_state", "c360.recent_customers"}

    # new customers change customer_360's content: express rebuilds both tables that read it
    tenant.land("in/c_20260106.csv", customer_file(6))
    assert tenant.run("2026-01-06", group="daily", refresh_mode="express").success
    assert rebuilt(fourth, built(tenant)) == {"c360.customers_by_state", "c360.recent_customers"}
    assert tenant.scalar("SELECT customers FROM c360.customers_by_state") == 6


def test_an_unknown_mode_fails_the_build_naming_the_tag(tenant):
    tenant.write_catalog(CATALOG)
    tenant.land("in/c_20260105.csv", customer_file(2))
    outcome = tenant.run("2026-01-05", group="daily", refresh_mode="quick")
    assert not outcome.success
    assert any("refresh mode 'quick' (tag workflow_platform/refresh_mode): use express, normal or full" in f
               for f in outcome.failures), outcome.failures


def test_the_build_run_carries_the_refresh_mode_of_the_group_run():
    run = dg.DagsterRun(job_name="courier_group__daily", run_id="r1",
                        tags={COURIER_GROUP_TAG: "daily", REFRESH_MODE_TAG: "full"})
    assert build_run_tags(run)[REFRESH_MODE_TAG] == "full"
    assert REFRESH_MODE_TAG not in build_run_tags(dg.DagsterRun(job_name="x", run_id="r2",
                                                                tags={COURIER_GROUP_TAG: "daily"}))


@pytest.mark.parametrize("sql, expected", [
    ("SELECT * FROM c360.customer_360 WHERE last_order_date < current_date - INTERVAL 90 DAY", True),
    ("SELECT random() AS r FROM c360.customer_360", True),
    ("SELECT * FROM c360.customer_360 WHERE updated_at > now() - INTERVAL 1 DAY", True),
    ("SELECT customer_id, current_datetime_label FROM c360.customer_360", False),
    ("SELECT count(*) FROM c360.customer_360", False),
    ("SELECT customer_id, age(birthdate) AS age FROM c360.customer_360", True),
    ("SELECT customer_id, age(last_order_date, first_order_date) AS span FROM c360.customer_360", False),
])
def test_time_dependent_sql_is_recognised(sql, expected):
    from workflow_platform.catalog.validate import is_time_dependent

    assert is_time_dependent(sql) is expected


def test_a_version_sees_repeated_rows_change():
    import duckdb

    from workflow_platform.databases.versions import table_version

    with duckdb.connect() as conn:
        conn.execute("CREATE SCHEMA c360")
        conn.execute("CREATE TABLE c360.t AS SELECT * FROM (VALUES ('a'), ('a')) v(x)")
        before = table_version(conn, "sql", ["c360.t"])
        conn.execute("UPDATE c360.t SET x = 'b'")
        assert table_version(conn, "sql", ["c360.t"]) != before  # an XOR of {a, a} and of {b, b} is both 0
