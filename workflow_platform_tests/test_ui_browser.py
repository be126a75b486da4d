"""What an operator sees in the Dagster UI: dagster-webserver + dagster-daemon serve the demo tenant on loopback,
a courier-group run loads two days of demo files, and headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright) opens the catalog, the lineage, the jobs, the automation pages, two asset pages and the Stitch QA.
Every page is saved as a full-page screenshot in $WORKFLOW_PLATFORM_TEST_ARTIFACTS (default <repo>/test-artifacts/ui).

Without Chromium or Playwright the test skips, unless CI is set: CI installs both, so there it fails."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from workflow_platform.catalog.loader import load_catalog
from workflow_platform.settings import DEMO_CATALOG
from workflow_platform_tests.dagster_services import Services, start_services, wait_for
from workflow_platform_tests.ui_browser import Browser, Seen, artifacts_dir, missing_browser_pieces

pytestmark = pytest.mark.slow  # headless Chromium (Playwright) on dagster-webserver + dagster-daemon

COURIER_JOB = "courier_group__daily_sources"
ORCHESTRATION_JOB = "orchestration_group__daily_activations"
COURIER_SENSOR = "courier_group__daily_sources__schedule"
AFTER_SENSOR = "orchestration_group__daily_activations__after_daily_sources"
CAMPAIGN_SCHEDULE = "campaign__winback_offer__schedule"
# one asset per layer, as the catalog lists them ("layer / name")
LAYER_ASSETS = {
    "courier": "courier / pos_orders",
    "feed": "feed / pos_orders",
    "domain": "domain / pos_orders",
    "stitch": "stitch / identity",
    "database": "database / c360 / customer_360",
    "segment": "segment / high_value_customers",
    "orchestration": "orchestration / high_value_to_crm",
    "campaign": "campaign / winback_offer",
}
GROUPS = ["courier_group_daily_sources", "stitch", "databases", "segments", "orchestration_group_daily_activations",
          "campaigns"]


@dataclass
class OperatorUI:
    services: Services
    browser: Browser
    run_id: str

    def check(self, seen: Seen, expected: list[str], what: str) -> None:
        missing = seen.missing(expected)
        assert not missing, seen.report(f"{what}: not shown: {missing}")

    @contextmanager
    def explained(self):
        """On any failure, print the services' logs (pytest shows them with the failure)."""
        try:
            yield
        except BaseException:
            print(self.services.logs())
            raise


@pytest.fixture(scope="module")
def ui(tmp_path_factory) -> OperatorUI:
    missing = missing_browser_pieces()
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must install them (.ci/run)")
        pytest.skip(message)
    folder = artifacts_dir()
    print(f"UI screenshots: {folder}")
    services = start_services(tmp_path_factory.mktemp("ui"), days=2, customers=200)
    browser = None
    try:
        run_id = services.launch(COURIER_JOB)
        status = services.wait_for_run(run_id, timeout=90)
        assert status == "SUCCESS", f"courier-group run {run_id}: {status}\n{services.logs()}"
        # the courier group's schedule sensor may have launched the same job for yesterday's tick on start:
        # let every run end so the asset pages show a stable latest materialization
        wait_for(lambda: not services.runs_in_progress(), 90, "the runs in progress to end")
        browser = Browser(services.url, folder)
        yield OperatorUI(services, browser, run_id)
    except BaseException:
        print(services.logs())
        raise
    finally:
        if browser:
            browser.close()
        services.stop()


def test_catalog_and_lineage_show_every_layer(ui):
    with ui.explained():
        catalog = ui.browser.visit("catalog", "/assets", ready=["Asset name"], expect=list(LAYER_ASSETS.values()))
        ui.check(catalog, list(LAYER_ASSETS.values()), "the asset catalog lists one asset per layer")
        assert "Never materialized" in catalog.text and "Materialized" in catalog.text, catalog.report(
            "the catalog shows no materialization status")

        def expand_all_groups(page):
            """The graph's "Expand all groups" shortcut (⌥E); pressed again if the first press came before the
            graph listened (while collapsed, the shortcut can only expand)."""
            from playwright.sync_api import TimeoutError as PlaywrightTimeout

            for _ in range(3):
                page.wait_for_timeout(500)
                page.keyboard.press("Alt+e")
                try:
                    page.get_by_text("winback_offer", exact=True).first.wait_for(timeout=8000)
                    return
                except PlaywrightTimeout:
                    continue

        leaves = ["pos_orders", "identity", "customer_360", "lapsed_customers", "high_value_to_crm", "winback_offer"]
        lineage = ui.browser.visit("lineage", "/asset-groups", ready=["Global asset lineage", *GROUPS],
                                   action=expand_all_groups, expect=leaves, fit=False)
        ui.check(lineage, GROUPS + leaves, "the global lineage shows every group and, expanded, their assets")
        # courier, feed and domain assets of a feed share its name: three nodes
        assert len(re.findall(r"^pos_orders$", lineage.text, re.MULTILINE)) >= 3, lineage.report(
            "the lineage shows fewer than three pos_orders nodes (courier, feed, domain)")

        group = ui.browser.visit("asset_group_courier_group_daily_sources",
                                 "/locations/workflow_platform/asset-groups/courier_group_daily_sources/lineage",
                                 ready=["courier_group_daily_sources"], expect=["pos_orders", "identity"], fit=False)
        ui.check(group, ["courier_group_daily_sources", "Materialized"], "the courier group's lineage")


def test_jobs_show_the_courier_group_and_orchestration_group(ui):
    with ui.explained():
        jobs = ui.browser.visit("jobs", "/jobs", expect=[COURIER_JOB, ORCHESTRATION_JOB])
        ui.check(jobs, [COURIER_JOB, ORCHESTRATION_JOB, "send_campaign__winback_offer", "workflow"], "the jobs list")

        courier = ui.browser.visit(f"job_{COURIER_JOB}", f"/locations/workflow_platform/jobs/{COURIER_JOB}",
                                   expect=[COURIER_JOB, COURIER_SENSOR, "Latest run"], fit=False)
        ui.check(courier, [COURIER_JOB, COURIER_SENSOR, "Every source, each morning", "Latest run",
                           "courier_group: daily_sources"], "the courier-group job page")

        orchestration = ui.browser.visit(f"job_{ORCHESTRATION_JOB}",
                                         f"/locations/workflow_platform/jobs/{ORCHESTRATION_JOB}",
                                         expect=[ORCHESTRATION_JOB, AFTER_SENSOR, "high_value_customers"], fit=False)
        ui.check(orchestration, [ORCHESTRATION_JOB, AFTER_SENSOR, "high_value_customers",
                                 "orchestration_group: daily_activations"], "the orchestration-group job page")

        runs = ui.browser.visit(f"job_{COURIER_JOB}_runs", f"/locations/workflow_platform/jobs/{COURIER_JOB}/runs",
                                expect=[ui.run_id[:8], "Success"])
        ui.check(runs, [ui.run_id[:8], "Success"], "the courier-group job's runs list the launched run")


def test_automation_lists_the_sensors_and_the_campaign_schedule(ui):
    with ui.explained():
        names = [COURIER_SENSOR, AFTER_SENSOR, CAMPAIGN_SCHEDULE]
        kinds = ["Standard sensor", "Run status sensor", "At 09:00 AM"]
        automation = ui.browser.visit("automation", "/automation", ready=names, expect=kinds)
        ui.check(automation, names + kinds + ["workflow_failure_alerts"], "the automation page")

        sensor = ui.browser.visit(f"sensor_{COURIER_SENSOR}", f"/locations/workflow_platform/sensors/{COURIER_SENSOR}",
                                  expect=["Schedule '0 6 * * *'", "Running", COURIER_JOB])
        ui.check(sensor, [COURIER_SENSOR, "Schedule '0 6 * * *'", "Running", COURIER_JOB, "run requested"],
                 "the courier-group schedule sensor page (running, with the tick that requested a run)")

        schedule = ui.browser.visit(f"schedule_{CAMPAIGN_SCHEDULE}",
                                    f"/locations/workflow_platform/schedules/{CAMPAIGN_SCHEDULE}",
                                    expect=["(0 9 * * 1)", "Running"])
        ui.check(schedule, [CAMPAIGN_SCHEDULE, "(0 9 * * 1)", "America/New_York", "Running",
                            "send_campaign__winback_offer"], "the campaign schedule page")


def row_count_shown(text: str, count: int) -> bool:
    return bool(re.search(rf"Row count\s*(?:\n\s*)*({count}|{count:,})\b", text))


def check_asset_page(ui: OperatorUI, key: str, columns: list[str]) -> None:
    """The asset page shows the latest materialization's row count, the column schema and the preview."""
    metadata = ui.services.latest_materialization(key)
    assert metadata, f"{key}: the API reports no materialization"
    count = metadata["dagster/row_count"]
    assert isinstance(count, int) and count > 0, metadata
    schema = [c["name"] for c in metadata["dagster/column_schema"]["columns"]]
    assert set(columns) <= set(schema), (columns, schema)

    name = "asset_" + key.replace("/", "_")
    page = ui.browser.visit(name, f"/assets/{key}", expect=["Row count", "Columns", "Metadata", "Show Markdown",
                                                           *columns])
    ui.check(page, ["Row count", "Columns", "Metadata", "preview", "[Show Markdown]", "elapsed_seconds", *columns],
             f"{key}: the asset page")
    assert row_count_shown(page.text, count), page.report(f"{key}: row count {count} (dagster/row_count) not shown")

    # the preview is a Markdown table behind "[Show Markdown]"; the dialog renders it
    ui.browser.page.get_by_text("[Show Markdown]").first.click()
    dialog = ui.browser.page.get_by_role("dialog")
    dialog.get_by_role("button", name="Close").wait_for()
    ui.browser.page.wait_for_timeout(700)  # the dialog fades in
    preview = ui.browser.snapshot(f"{name}_preview", fit=False)
    table = dialog.inner_text()
    dialog.get_by_role("button", name="Close").click()
    header = next((line for line in table.splitlines() if columns[0] in line), "")
    assert all(c in header.split("\t") for c in columns), preview.report(
        f"{key}: the preview's header lacks catalog columns {columns}: {header!r}")
    rows = [line for line in table.splitlines()[table.splitlines().index(header) + 1:] if "\t" in line]
    assert 0 < len(rows) <= min(count, 5), preview.report(f"{key}: the preview shows {len(rows)} rows")


def test_asset_pages_show_row_count_schema_and_preview_after_the_run(ui):
    with ui.explained():
        feed = load_catalog(DEMO_CATALOG).feed("pos_orders")
        check_asset_page(ui, "domain/pos_orders", [c.name for c in feed.columns])
        check_asset_page(ui, "database/c360/customer_360", ["customer_id", "order_count", "total_revenue"])



def test_the_stitch_page_shows_its_qa(ui):
    """Stitch QA (issue #3) is visible on the asset page: the pair and cluster counts, churn, the size chart."""
    with ui.explained():
        metadata = ui.services.latest_materialization("stitch/identity")
        assert metadata, "stitch/identity: the API reports no materialization"
        assert metadata["candidate_pairs"] >= metadata["pairs_above_threshold"] > 0, metadata
        labels = ["candidate_pairs", "pairs_above_threshold", "customers", "singleton_share_pct", "largest_cluster",
                  "id_churn_pct", "cluster_size_chart", "cluster_sizes", "elapsed_seconds_by_phase"]
        page = ui.browser.visit("asset_stitch_identity", "/assets/stitch/identity", expect=["Metadata", *labels])
        ui.check(page, ["Metadata", *labels], "stitch/identity: the asset page")
        customers = metadata["customers"]
        # a metadata row reads: key, the materialization's timestamp ("Nov 30, 5:49 AM"), value
        shown = re.search(rf"\bcustomers\b[\s\S]{{0,60}}?\b({customers}|{customers:,})\b", page.text)
        assert shown, page.report(f"stitch/identity: customers {customers} not shown")
