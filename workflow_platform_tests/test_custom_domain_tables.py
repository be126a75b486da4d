"""Custom domain tables: SQL over the feeds' domain tables, built after the loads and before Stitch, feeding
Stitch through their semantic tags, rebuilt only when a table they read changed."""

from __future__ import annotations

import pytest

from workflow_platform.catalog.loader import CatalogInvalid, load_catalog
from workflow_platform.definitions import build_definitions
from workflow_platform.keys import STITCH_KEY, domain_key

DAY1, DAY2 = "2026-01-05", "2026-01-06"

CATALOG = """
couriers:
  - {name: pos, pattern: "'in/pos_'yyyyMMdd'.csv'", feed: pos_customers}
  - {name: web, pattern: "'in/web_'yyyyMMdd'.csv'", feed: web_customers, optional: true}
feeds:
  - name: pos_customers
    source: pos
    stitch: false
    columns:
      - {name: member_no, tag: pk}
      - {name: fname}
      - {name: lname}
      - {name: mail}
  - name: web_customers
    source: web
    stitch: false
    columns:
      - {name: account, tag: pk}
      - {name: full_name}
      - {name: email_address}
custom_domain_tables:
  - name: all_customers
    source: unified
    sql: |
      SELECT 'pos-' || member_no AS customer_key, fname AS given_name, lname AS surname, lower(mail) AS email,
             _updated
      FROM domain.pos_customers
      UNION ALL
      SELECT 'web-' || account, split_part(full_name, ' ', 1), split_part(full_name, ' ', 2),
             lower(email_address), _updated
      FROM domain.web_customers
    columns:
      - {name: customer_key, tag: pk}
      - {name: given_name, tag: given-name}
      - {name: surname, tag: surname}
      - {name: email, tag: email}
databases:
  - name: c360
    type: customer_360
courier_groups:
  - name: daily
    couriers: [pos, web]
"""


def land_day1(tenant) -> None:
    tenant.land("in/pos_20260105.csv", "member_no,fname,lname,mail\n1,Ann,Lee,ANN@example.org\n2,Bo,Chu,bo@example.org\n")
    tenant.land("in/web_20260105.csv", "account,full_name,email_address\nw9,Ann Lee,ann@example.org\n"
                                       "w8,Cy Dee,cy@example.org\n")


def built_at(tenant):
    return tenant.scalar("SELECT built_at FROM audit.table_versions WHERE name = 'domain.all_customers'")


def test_a_custom_domain_table_unions_sources_and_feeds_stitch(tenant):
    tenant.write_catalog(CATALOG)
    land_day1(tenant)
    outcome = tenant.run(DAY1, group="daily")
    assert outcome.success, outcome.failures
    assert tenant.query("SELECT customer_key, given_name, surname, email, _pk FROM domain.all_customers "
                        "ORDER BY customer_key") == [
        ("pos-1", "Ann", "Lee", "ann@example.org", "pos-1"), ("pos-2", "Bo", "Chu", "bo@example.org", "pos-2"),
        ("web-w8", "Cy", "Dee", "cy@example.org", "web-w8"), ("web-w9", "Ann", "Lee", "ann@example.org", "web-w9")]
    # Stitch read the custom table only (the feeds are out of Stitch): Ann from both sources is one customer
    assert tenant.query("SELECT DISTINCT source FROM c360.unified_coalesced") == [("all_customers",)]
    customers = tenant.query("SELECT list(pk ORDER BY pk) FROM c360.unified_coalesced GROUP BY customer_id "
                             "ORDER BY 1")
    assert customers == [(["pos-1", "web-w9"],), (["pos-2"],), (["web-w8"],)]


def test_it_is_rebuilt_only_when_a_table_it_reads_changed(tenant):
    tenant.write_catalog(CATALOG)
    land_day1(tenant)
    assert tenant.run(DAY1, group="daily").success
    first = built_at(tenant)
    assert tenant.run(DAY1, group="daily").success  # the same files: already loaded, nothing changed
    assert built_at(tenant) == first
    tenant.land("in/pos_20260106.csv", "member_no,fname,lname,mail\n3,Di,Eve,di@example.org\n")
    assert tenant.run(DAY2, group="daily").success
    assert built_at(tenant) > first
    assert tenant.scalar("SELECT count(*) FROM domain.all_customers") == 5
    # a changed definition rebuilds it too, without new data
    second = built_at(tenant)
    tenant.write_catalog(CATALOG.replace("lower(mail) AS email", "upper(mail) AS email"))
    assert tenant.run(DAY2, group="daily").success
    assert built_at(tenant) > second
    assert tenant.scalar("SELECT email FROM domain.all_customers WHERE customer_key = 'pos-3'") == "DI@EXAMPLE.ORG"


def test_it_runs_in_the_build_before_stitch(tenant):
    tenant.write_catalog(CATALOG)
    defs = build_definitions(tenant.catalog(), str(tenant.warehouse))
    graph = defs.resolve_asset_graph()
    assert domain_key("all_customers") in graph.get(STITCH_KEY).parent_keys
    assert graph.get(domain_key("all_customers")).parent_keys == {domain_key("pos_customers"),
                                                                   domain_key("web_customers")}
    build = defs.resolve_job_def("build")
    assert domain_key("all_customers") in build.asset_layer.executable_asset_keys
    load = defs.resolve_job_def("courier_group__daily")
    assert domain_key("all_customers") not in load.asset_layer.executable_asset_keys


@pytest.mark.parametrize("change, message", [
    ("lower(mail) AS email,", "its SELECT has no column email"),
    ("'pos-' || member_no AS customer_key", "row(s) repeat a primary key"),
])
def test_a_select_that_does_not_fit_fails_and_keeps_the_previous_table(tenant, change, message):
    tenant.write_catalog(CATALOG)
    land_day1(tenant)
    assert tenant.run(DAY1, group="daily").success
    before = tenant.query("SELECT * EXCLUDE (_updated) FROM domain.all_customers ORDER BY customer_key")
    broken = (CATALOG.replace(change, "mail AS e_mail,") if "email" in message
              else CATALOG.replace("'web-' || account", "'pos-1'"))
    tenant.write_catalog(broken)
    outcome = tenant.run(DAY1, group="daily")
    assert not outcome.success
    assert any(message in f for f in outcome.failures), outcome.failures
    assert "Ann" not in " ".join(outcome.failures) and "example.org" not in " ".join(outcome.failures)
    assert tenant.query("SELECT * EXCLUDE (_updated) FROM domain.all_customers ORDER BY customer_key") == before


def test_a_declared_type_its_values_do_not_fit_is_named(tenant):
    tenant.write_catalog(CATALOG.replace("- {name: surname, tag: surname}", "- {name: surname, type: integer}"))
    land_day1(tenant)
    outcome = tenant.run(DAY1, group="daily")
    assert any("values of its SELECT do not convert to the declared types: surname (4 value(s) not integer)" in f
               for f in outcome.failures), outcome.failures


@pytest.mark.parametrize("change, message", [
    ("FROM domain.web_customers", "unknown table 'c360.customer_360' (it may read the domain tables of feeds)"),
    ("  - name: all_customers\n", "feed 'pos_customers' has the domain table domain.pos_customers already"),
    ("      - {name: customer_key, tag: pk}", "a custom domain table needs at least one column tagged 'pk'"),
])
def test_custom_domain_tables_are_checked_when_the_catalog_loads(tmp_path, change, message):
    replacement = {"FROM domain.web_customers": "FROM c360.customer_360",
                   "  - name: all_customers\n": "  - name: pos_customers\n",
                   "      - {name: customer_key, tag: pk}": "      - {name: customer_key}"}[change]
    (tmp_path / "catalog.yaml").write_text(CATALOG.replace(change, replacement))
    with pytest.raises(CatalogInvalid) as error:
        load_catalog(tmp_path)
    assert message in str(error.value)


def test_a_table_it_reads_that_no_load_created_yet_is_named(tenant):
    tenant.write_catalog(CATALOG.replace("    couriers: [pos, web]\n", "    couriers: [pos]\n"
                                         "  - name: web_only\n    couriers: [web]\n"))
    tenant.land("in/pos_20260105.csv", "member_no,fname,lname,mail\n1,Ann,Lee,ann@example.org\n")
    outcome = tenant.run(DAY1, group="daily")
    assert not outcome.success
    assert any("domain.all_customers reads domain.web_customers, which no load has created yet" in f
               for f in outcome.failures), outcome.failures
