"""The Dagster code location: one tenant's catalog turned into assets, checks and jobs."""

from __future__ import annotations

import dagster as dg

from workflow_platform.alerts.resource import channels_from_environment
from workflow_platform.alerts.sensors import build_alert_sensors
from workflow_platform.automation.build import build_follow_sensor, builds_after_groups, follow_up
from workflow_platform.automation.campaigns import build_campaign_automation
from workflow_platform.automation.courier_groups import build_courier_group_sensors
from workflow_platform.automation.jobs import build_jobs
from workflow_platform.automation.orchestration_groups import build_orchestration_group_automation
from workflow_platform.automation.runtime import build_runtime_sensors
from workflow_platform.campaigns.assets import build_campaign_asset
from workflow_platform.catalog.loader import load_catalog
from workflow_platform.catalog.models import Catalog
from workflow_platform.databases.assets import build_database_assets
from workflow_platform.databases.custom_domain_tables import build_custom_domain_assets
from workflow_platform.ingest.assets import build_land_only_asset, build_load_asset
from workflow_platform.orchestrations.assets import build_orchestration_asset
from workflow_platform.presentation import presented
from workflow_platform.resources import WarehouseResource
from workflow_platform.segments.assets import build_segment_asset
from workflow_platform.settings import catalog_dir, executor_choice
from workflow_platform.stitch.assets import build_stitch_asset


def build_assets(catalog: Catalog) -> list[dg.AssetsDefinition]:
    """Every asset of the catalog, built plain by its stage, then presented (groups, owners, tags, freshness)."""
    loaded_feeds = {c.feed for c in catalog.couriers if c.load != "land_only"}
    assets = [build_land_only_asset(catalog, c) for c in catalog.couriers if c.load == "land_only"]
    assets += [build_load_asset(catalog, f) for f in catalog.feeds if f.name in loaded_feeds]
    assets += build_custom_domain_assets(catalog)
    if any(db.type == "customer_360" for db in catalog.databases):
        assets.append(build_stitch_asset(catalog))
    for db in catalog.databases:
        assets += build_database_assets(catalog, db)
    assets += [build_segment_asset(catalog, s) for s in catalog.segments]
    assets += [build_orchestration_asset(catalog, o) for o in catalog.orchestrations]
    assets += [build_campaign_asset(catalog, c) for c in catalog.campaigns]
    return presented(catalog, assets)


def build_definitions(catalog: Catalog, warehouse: str | None = None) -> dg.Definitions:
    """Definitions for a validated catalog. Steps run in one process: they share the warehouse's single
    writer anyway, and a process per step would spend most of a small run starting Python."""
    assets = build_assets(catalog)
    jobs = {job.name: job for job in build_jobs(catalog)}
    builds = builds_after_groups(catalog, assets)
    group_sensors, group_schedules = build_orchestration_group_automation(catalog, jobs, builds)
    campaign_sensors, campaign_schedules = build_campaign_automation(catalog)
    follow = build_follow_sensor(catalog, jobs, builds)
    return dg.Definitions(
        assets=assets,
        jobs=list(jobs.values()),
        sensors=build_alert_sensors(catalog, lambda run: not follow_up(run, builds))
        + build_courier_group_sensors(catalog) + ([follow] if follow else []) + build_runtime_sensors(catalog)
        + group_sensors + campaign_sensors,
        schedules=group_schedules + campaign_schedules,
        resources={"warehouse": WarehouseResource.from_settings(warehouse),
                   "alert_channels": channels_from_environment()},
        executor=_executor(),
    )


def _executor() -> dg.ExecutorDefinition:
    """The run executor (`WORKFLOW_PLATFORM_EXECUTOR`; bench/run_overhead.py measures the choices)."""
    choice = executor_choice()
    if choice == "in_process":
        return dg.in_process_executor
    start_method = {"forkserver": {}} if choice == "forkserver" else {"spawn": {}}
    return dg.multiprocess_executor.configured({"start_method": start_method})


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by `dagster dev` / `dagster-webserver` / `dagster-daemon` through workspace.yaml."""
    return build_definitions(load_catalog(catalog_dir()))
