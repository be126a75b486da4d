"""db/required and db/unique on database table columns: warning asset checks evaluated after each build, on
the custom tables that declare them and on the customer id of the Stitch tables (as Amperity tags it)."""

import dagster as dg

from workflow_platform.definitions import build_definitions
from workflow_platform_tests.support import CUSTOMER_HEADER, CUSTOMER_SOURCE, run_courier_group

CATALOG = CUSTOMER_SOURCE.replace("    type: customer_360\n", """    type: customer_360
    tables:
      - name: records
        sql: SELECT pk, email, customer_id FROM c360.unified_coalesced
        columns:
          email: [db/required, db/unique]
          pk: [db/unique]
          loyalty_no: [db/required]
""")


def test_column_checks_warn_and_the_build_goes_on(tenant):
    tenant.write_catalog(CATALOG)
    rows = ["1,Ann,Lee,ann@example.org,5551110000,1990-01-01,2026-01-01 00:00:00",
            "2,Ann,Lee,ann@example.org,5551110000,1990-01-01,2026-01-02 00:00:00",
            "3,Bo,Chu,,5552220000,1985-02-03,2026-01-01 00:00:00"]
    tenant.land("in/c_20260105.csv", "\n".join([CUSTOMER_HEADER, *rows, ""]))
    defs = build_definitions(tenant.catalog(), str(tenant.warehouse))
    with dg.instance_for_test() as instance:
        run = run_courier_group(defs, instance, "2026-01-05")
        assert run.success  # warnings only
        found = {(e.asset_key.to_user_string(), e.check_name): e for e in run.get_asset_check_evaluations()}
    records = "database/c360/records"
    assert not found[(records, "required_email")].passed
    assert found[(records, "required_email")].description == "db/required: 1 row(s) have no email"
    assert not found[(records, "unique_email")].passed
    assert found[(records, "unique_email")].metadata["violations"].value == 1
    assert found[(records, "unique_pk")].passed
    assert found[(records, "required_loyalty_no")].description == "c360.records has no column loyalty_no"
    assert all(e.severity == dg.AssetCheckSeverity.WARN for (key, _), e in found.items() if key.startswith("database"))
    for table in ("merged_customers", "customer_360"):
        assert found[(f"database/c360/{table}", "unique_customer_id")].passed
        assert found[(f"database/c360/{table}", "required_customer_id")].passed
    text = " ".join(str(e.description) for e in found.values())
    assert "ann@example.org" not in text and "Ann" not in text
