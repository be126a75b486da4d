"""The catalog loads as a whole or reports every error with file, line, field and a suggestion."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workflow_platform.catalog.loader import CatalogInvalid, load_catalog
from workflow_platform.settings import DEMO_CATALOG

MINIMAL = """
couriers:
  - name: shop_customers
    pattern: "'customers_'yyyyMMdd'.csv'"
    feed: customers
feeds:
  - name: customers
    source: shop
    columns:
      - {name: id, tag: pk}
      - {name: email, tag: email}
"""


def errors_of(tenant) -> list:
    with pytest.raises(CatalogInvalid) as info:
        tenant.catalog()
    return info.value.errors


def test_demo_catalog_is_valid():
    catalog = load_catalog(DEMO_CATALOG)
    assert {c.name for c in catalog.couriers} == {"ecommerce_customers", "loyalty_members", "pos_orders",
                                                   "ecommerce_orders"}
    assert catalog.feed("loyalty_members").primary_key == ["member_id"]
    assert catalog.courier_groups[0].couriers[1].wait_seconds == 7200


def test_minimal_catalog_loads_with_defaults(tenant):
    tenant.write_catalog(MINIMAL)
    catalog = tenant.catalog()
    assert catalog.courier("shop_customers").load == "upsert"
    assert catalog.feed("customers").error_threshold == 1
    assert catalog.location("landing").url == "landing"


def test_unknown_field_names_file_line_and_suggestion(tenant):
    tenant.write_catalog(MINIMAL.replace("    feed: customers", "    feeed: customers"))
    errors = errors_of(tenant)
    unknown = next(e for e in errors if "unknown field" in e.message)
    assert (unknown.file, unknown.line, unknown.field) == ("catalog.yaml", 4, "couriers.0.feeed")
    assert "did you mean 'feed'?" in unknown.message
    assert any(e.field == "couriers.0.feed" and "required" in e.message for e in errors)


def test_unknown_reference_suggests_closest_name(tenant):
    tenant.write_catalog(MINIMAL.replace("feed: customers", "feed: customer"))
    [error] = errors_of(tenant)
    assert error.field == "couriers.shop_customers.feed"
    assert error.line == 2
    assert "unknown feed 'customer'; did you mean 'customers'?" in error.message


def test_unknown_semantic_tag_and_bad_type(tenant):
    tenant.write_catalog(MINIMAL.replace("tag: email}", "tag: emial, type: text}"))
    errors = errors_of(tenant)
    messages = " | ".join(str(e) for e in errors)
    assert "unknown semantic tag 'emial'; did you mean 'email'?" in messages
    assert "unknown type 'text'" in messages
    assert all(e.line == 10 for e in errors)


def test_all_errors_across_files_are_reported_together(tenant):
    tenant.write_catalog(MINIMAL.replace("feed: customers", "feed: nope"), "a.yaml")
    tenant.write_catalog("""
        segments:
          - name: big
            sql: SELECT * FROM c360.customer_360
        courier_groups:
          - name: daily
            couriers: [shop_customer]
            schedule: "every day"
        """, "b.yaml")
    errors = errors_of(tenant)
    text = "\n".join(map(str, errors))
    assert "a.yaml:2: couriers.shop_customers.feed: unknown feed 'nope'" in text
    assert "b.yaml:7: courier_groups.0.schedule: invalid cron schedule 'every day'" in text
    # the group failed validation, so its courier reference is not checked twice; the segment's table is unknown
    assert "b.yaml:2: segments.big.sql: unknown table 'c360.customer_360'" in text


def test_segment_sql_must_parse_and_be_one_select(tenant):
    tenant.write_catalog(MINIMAL + """
segments:
  - name: broken
    sql: SELEC * FROM domain.customers
  - name: sneaky
    sql: DELETE FROM domain.customers
  - name: unqualified
    sql: SELECT * FROM customers
  - name: fine
    sql: WITH x AS (SELECT * FROM domain.customers) SELECT * FROM x
  - name: leak
    sql: SELECT * FROM domain.customers, read_text('/etc/passwd')
""")
    errors = {e.field: e.message for e in errors_of(tenant)}
    assert "syntax error" in errors["segments.broken.sql"]
    assert "single SELECT" in errors["segments.sneaky.sql"]
    assert "must be qualified" in errors["segments.unqualified.sql"]
    assert "did you mean 'domain.customers'" in errors["segments.unqualified.sql"]
    assert "segments.fine.sql" not in errors
    assert "table function read_text() is not allowed" in errors["segments.leak.sql"]


def test_duplicate_names_and_yaml_errors(tenant):
    tenant.write_catalog(MINIMAL, "a.yaml")
    tenant.write_catalog(MINIMAL.split("feeds:")[0], "b.yaml")
    tenant.write_catalog("couriers: [\n  - broken", "c.yaml")
    text = "\n".join(map(str, errors_of(tenant)))
    assert "b.yaml:2: couriers.0.name: duplicate name 'shop_customers' (first defined at a.yaml:2)" in text
    assert "c.yaml:" in text and "invalid YAML" in text


def test_unknown_section_and_invalid_identifier(tenant):
    tenant.write_catalog(MINIMAL + "courier_group:\n  - name: x\n")
    tenant.write_catalog("feeds:\n  - name: Bad-Name\n    source: s\n    columns: [{name: id, tag: pk}]\n", "b.yaml")
    text = "\n".join(map(str, errors_of(tenant)))
    assert "unknown section; did you mean 'courier_groups'?" in text
    assert "'Bad-Name' is not a valid name" in text


def test_feed_rules(tenant):
    tenant.write_catalog("""
        feeds:
          - name: people
            source: s
            columns:
              - {name: id}
              - {name: born, tag: birthdate}
        """)
    text = "\n".join(map(str, errors_of(tenant)))
    assert "at least one column tagged 'pk'" in text


def test_cli_validate_exit_codes(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "workflow_platform.cli", "validate", str(DEMO_CATALOG)],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "is valid: 4 couriers, 4 feeds" in ok.stdout
    broken = tmp_path / "catalog"
    shutil.copytree(DEMO_CATALOG, broken)
    sources = broken / "sources.yaml"
    sources.write_text(sources.read_text().replace("feed: pos_orders", "feed: pos_order").replace(
        "tag: surname}", "tag: surnme}"))
    bad = subprocess.run([sys.executable, "-m", "workflow_platform.cli", "validate", str(broken)],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert "did you mean 'pos_orders'?" in bad.stderr
    assert "did you mean 'surname'?" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout


def test_invalid_catalog_never_half_loads(tenant):
    tenant.write_catalog(MINIMAL, "a.yaml")
    tenant.write_catalog("segments:\n  - name: s\n    sql: SELECT * FROM domain.nothing\n", "b.yaml")
    with pytest.raises(CatalogInvalid):
        tenant.catalog()


def test_catalog_folder_must_exist(tmp_path: Path):
    with pytest.raises(CatalogInvalid, match="does not exist"):
        load_catalog(tmp_path / "missing")


def test_cycles_and_malformed_shapes_are_errors_not_tracebacks(tenant):
    tenant.write_catalog(MINIMAL + """
segments:
  - name: a
    sql: SELECT * FROM segment.b
  - name: b
    sql: SELECT * FROM segment.a
courier_groups:
  - name: g
    couriers: 5
    schedule: "61 * * * *"
""")
    tenant.write_catalog("feeds: &x [*x]\n", "loop.yaml")
    text = "\n".join(map(str, errors_of(tenant)))
    assert "tables read each other in a cycle: segment.a -> segment.b -> segment.a" in text
    assert "courier_groups.0.couriers: Input should be a valid list" in text
    assert "minute field '61' is not valid (0-59)" in text
    assert "loop.yaml" in text


@pytest.mark.parametrize("cron", ["0 6 * * *", "*/15 * * * 1-5", "30 2 1,15 jan-mar sun", "0 0 * * 7", "@daily",
                                  "0 6 L * *", "0 5-1 * * *", "0 6 * * mon#2"])  # what Dagster accepts
def test_valid_cron_schedules(tenant, cron):
    tenant.write_catalog(MINIMAL + f"courier_groups:\n  - name: g\n    couriers: [shop_customers]\n"
                                   f"    schedule: \"{cron}\"\n")
    assert tenant.catalog().courier_groups[0].schedule == cron


def test_date_formats_and_file_names_are_checked_when_the_catalog_loads(tenant):
    tenant.write_catalog(MINIMAL.replace("{name: email, tag: email}", "{name: born, type: date, format: YYYY-MM-DD}")
                         + """
destinations:
  - name: out
orchestrations:
  - name: send
    segment: s
    destination: out
    filename: ../escape.csv
segments:
  - name: s
    sql: SELECT * FROM domain.customers
""")
    text = "\n".join(map(str, errors_of(tenant)))
    assert "'Y' at character 1 is not a supported token (use yyyy" in text
    assert "template '../escape.csv' renders to '../escape.csv': a file name must be non-empty" in text


@pytest.mark.parametrize(("cron", "reason"), [
    ("jan 6 * * *", "minute field 'jan' is not valid"), ("0 6 * sun *", "month field 'sun' is not valid"),
    ("0 6 * * 8", "day of week field '8' is not valid"), ("0 6 * *", "has 4 fields; expected 5"),
    ("0 0 31 2 *", "Dagster refuses day 31 of February"),  # Dagster would refuse the code location
    ("@reboot", "unknown alias"), ("0 6 * * * 2026", "has 6 fields; expected 5"),
])
def test_invalid_cron_schedules(tenant, cron, reason):
    tenant.write_catalog(MINIMAL + f"courier_groups:\n  - name: g\n    couriers: [shop_customers]\n"
                                   f"    schedule: \"{cron}\"\n")
    assert f"catalog.yaml:14: courier_groups.0.schedule: invalid cron schedule '{cron}': {reason}" in "\n".join(
        map(str, errors_of(tenant)))


def test_a_feed_loads_in_one_courier_group(tenant):
    tenant.write_catalog("""
couriers:
  - name: shop_customers
    pattern: "'customers_'yyyyMMdd'.csv'"
    feed: customers
  - name: more_customers
    pattern: "'more_'yyyyMMdd'.csv'"
    feed: customers
feeds:
  - name: customers
    source: shop
    columns:
      - {name: id, tag: pk}
courier_groups:
  - name: daily
    couriers: [shop_customers]
""")
    text = "\n".join(map(str, errors_of(tenant)))
    assert "the couriers of feed 'customers' are in different courier groups ((no group), daily)" in text


def test_owners_are_emails_or_teams(tenant):
    tenant.write_catalog("""
    owners: [data@acme.example, "team:data"]
    courier_groups:
      - name: g
        couriers: [c]
        owners: [someone]
    couriers:
      - {name: c, pattern: "'c.csv'", feed: f}
    feeds:
      - {name: f, source: s, columns: [{name: id, tag: pk}]}
    """)
    [error] = errors_of(tenant)
    assert "courier_groups.0.owners" in str(error) and "'someone': an owner is an email address or team:<name>" in str(error)
