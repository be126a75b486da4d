"""The demo tenant becomes a Dagster code location with layered keys, groups, kinds, jobs and metadata."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from workflow_platform.catalog.loader import load_catalog
from workflow_platform.definitions import build_definitions
from workflow_platform.settings import DEMO_CATALOG
from workflow_platform_tests.support import REPO, free_port


@pytest.fixture(scope="module")
def demo_defs() -> dg.Definitions:
    return build_definitions(load_catalog(DEMO_CATALOG), warehouse="/tmp/unused.duckdb")


def test_layers_and_groups(demo_defs):
    graph = demo_defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {k.split("/")[0] for k in keys} == {"courier", "feed", "domain", "stitch", "database", "segment",
                                               "orchestration", "campaign"}
    assert "database/c360/customer_360" in keys and "orchestration/high_value_to_crm" in keys
    assert graph.get(dg.AssetKey(["campaign", "winback_offer"])).group_name == "campaigns"
    # owners: the group's, else the tenant's
    assert graph.get(dg.AssetKey(["domain", "pos_orders"])).owners == ["data-team@acme-outfitters.example"]
    assert graph.get(dg.AssetKey(["orchestration", "high_value_to_crm"])).owners == ["team:marketing-ops"]
    assert graph.get(dg.AssetKey(["stitch", "identity"])).owners == ["team:data-engineering"]
    # column schemas from the catalog before any load, and domain columns traced to the feed
    domain = graph.get(dg.AssetKey(["domain", "loyalty_members"])).metadata
    columns = {c.name: c for c in domain["dagster/column_schema"].columns}
    assert "semantic/email" in columns["email"].tags
    lineage = domain["dagster/column_lineage"].deps_by_column["email"]
    assert [(d.asset_key, d.column_name) for d in lineage] == [(dg.AssetKey(["feed", "loyalty_members"]), "email")]
    node = graph.get(dg.AssetKey(["courier", "pos_orders"]))
    assert node.group_name == "courier_group_daily_sources"
    assert node.kinds == {"duckdb", "local"}
    assert "courier_group" in node.tags
    assert graph.get(dg.AssetKey(["segment", "high_value_customers"])).group_name == "orchestration_group_daily_activations"
    assert graph.get(dg.AssetKey(["stitch", "identity"])).group_name == "stitch"
    feed = graph.get(dg.AssetKey(["feed", "loyalty_members"]))
    assert feed.tags["semantic/email"] == "email" and "Loyalty-program members" in feed.description
    # lineage follows the catalog SQL
    parents = graph.get(dg.AssetKey(["segment", "high_value_customers"])).parent_keys
    assert parents == {dg.AssetKey(["database", "c360", "customer_360"]), dg.AssetKey(["database", "c360", "customer_value"])}


def test_jobs_select_their_assets(demo_defs):
    graph = demo_defs.resolve_asset_graph()
    group_job = demo_defs.resolve_job_def("courier_group__daily_sources")
    selected = {k.to_user_string() for k in group_job.asset_layer.selected_asset_keys}
    # a courier group's job loads its couriers; the build (Stitch, databases) is a job of its own
    assert "domain/pos_orders" in selected and {k.split("/")[0] for k in selected} == {"courier", "feed", "domain"}
    build = {k.to_user_string() for k in demo_defs.resolve_job_def("build").asset_layer.selected_asset_keys}
    assert "stitch/identity" in build and "database/c360/customer_360" in build
    # queries with thresholds always run with the database build; plain segments and sends do not
    assert "segment/high_value_customers" in build and "segment/lapsed_customers" not in build
    # the custom domain table is built there too, before Stitch; the feeds' domain tables are not
    assert "domain/order_lines" in build
    assert not any(k.startswith(("orchestration/", "courier/")) for k in build)
    assert {k for k in build if k.startswith("domain/")} == {"domain/order_lines"}
    orchestration_job = demo_defs.resolve_job_def("orchestration_group__daily_activations")
    assert {k.to_user_string() for k in orchestration_job.asset_layer.selected_asset_keys} == {
        "orchestration/high_value_to_crm", "segment/high_value_customers"}
    assert len(graph.get_all_asset_keys()) == 25  # 21 + order_lines, daily_sales, value tiers segment and send


def test_segment_thresholds_are_asset_checks(demo_defs):
    checks = {k.name for k in demo_defs.resolve_asset_graph().asset_check_keys}
    assert "warn_threshold" in checks


def test_warehouse_writers_share_one_pool(demo_defs):
    for node in demo_defs.resolve_asset_graph().asset_nodes:
        assert node.pools == {"warehouse"}, node.key


def test_dagster_validates_the_code_location_from_the_repo_root():
    result = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate"], cwd=REPO,
                            capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


def test_webserver_starts_from_the_repo_root_with_no_arguments(tmp_path):
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "WORKFLOW_PLATFORM_DATA": str(tmp_path / "data")}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    webserver = Path(sys.executable).parent / "dagster-webserver"
    process = subprocess.Popen([str(webserver), "-h", "127.0.0.1", "-p", str(port)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        query = json.dumps({"query": "{ workspaceOrError { ... on Workspace { locationEntries { name "
                                     "locationOrLoadError { __typename ... on RepositoryLocation { repositories { "
                                     "jobs { name } } } } } } } }"}).encode()
        deadline, body = time.monotonic() + 120, None
        while time.monotonic() < deadline:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=query,
                                                 headers={"Content-Type": "application/json"})
                body = json.loads(urllib.request.urlopen(request, timeout=5).read())
                entry = body["data"]["workspaceOrError"]["locationEntries"][0]
                if entry["locationOrLoadError"]:
                    break
            except (OSError, KeyError, IndexError):
                pass
            time.sleep(1)
        entry = body["data"]["workspaceOrError"]["locationEntries"][0]
        assert entry["name"] == "workflow_platform"
        assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation"
        jobs = {j["name"] for r in entry["locationOrLoadError"]["repositories"] for j in r["jobs"]}
        assert {"workflow", "courier_group__daily_sources", "orchestration_group__daily_activations"} <= jobs
    finally:
        process.terminate()
        process.wait(timeout=30)
