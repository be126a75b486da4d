"""Jobs (asset selections): one per courier group (its couriers' load), the build that follows a full or refresh
courier-group run (Stitch, the databases and the segments with thresholds), one per orchestration group and
campaign, and the whole workflow."""

from __future__ import annotations

import dagster as dg

from workflow_platform.catalog.models import Catalog
from workflow_platform.keys import campaign_key, courier_key, domain_key, feed_key, orchestration_key, segment_key
from workflow_platform.tags import (
    CAMPAIGN_TAG,
    COURIER_GROUP_TAG,
    ORCHESTRATION_GROUP_TAG,
    RUN_TYPE_TAG,
    STITCH_MODE_TAG,
)

WORKFLOW_JOB = "workflow"
BUILD_JOB = "build"


def courier_group_job_name(group: str) -> str:
    return f"courier_group__{group}"


def orchestration_group_job_name(group: str) -> str:
    return f"orchestration_group__{group}"


def campaign_job_name(campaign: str) -> str:
    return f"send_campaign__{campaign}"


def ingest_selection(catalog: Catalog, couriers: list[str]) -> dg.AssetSelection:
    return dg.AssetSelection.assets(*ingest_keys(catalog, couriers))


def ingest_keys(catalog: Catalog, couriers: list[str]) -> list[dg.AssetKey]:
    """The assets of the couriers' load: each courier, and its feed and domain table unless it only lands files."""
    keys = []
    for name in couriers:
        courier = catalog.courier(name)
        keys.append(courier_key(name))
        if courier.load != "land_only":
            keys += [feed_key(courier.feed), domain_key(courier.feed)]
    return keys


def watched_segments(catalog: Catalog) -> list[dg.AssetKey]:
    """The queries with thresholds: they run with the database build (a failing one stops it)."""
    return [segment_key(s.name) for s in catalog.segments if s.warn_when or s.fail_when]


def custom_domain_keys(catalog: Catalog) -> list[dg.AssetKey]:
    """The custom domain tables: built by the build run, before Stitch."""
    return [domain_key(t.name) for t in catalog.custom_domain_tables]


def build_selection(catalog: Catalog) -> dg.AssetSelection:
    """The custom domain tables, Stitch, every database table, and the queries with thresholds (a failing one
    stops the build, so no orchestration group follows)."""
    return dg.AssetSelection.key_prefixes(["stitch"], ["database"]) | dg.AssetSelection.assets(
        *custom_domain_keys(catalog), *watched_segments(catalog))


def build_jobs(catalog: Catalog) -> list[dg.UnresolvedAssetJobDefinition]:
    manual = [orchestration_key(o.name) for o in catalog.orchestrations if o.workflow == "manual"]
    everything = (dg.AssetSelection.all() - dg.AssetSelection.key_prefixes(["campaign"])
                  - dg.AssetSelection.assets(*manual))
    jobs = [dg.define_asset_job(WORKFLOW_JOB, selection=everything,
                                description="The whole workflow: every courier, feed, domain table, Stitch, "
                                "database, segment and automatic orchestration (manual orchestrations run when "
                                "launched on their own; campaigns on their schedules).")]
    if catalog.databases or watched_segments(catalog) or catalog.custom_domain_tables:
        jobs.append(dg.define_asset_job(
            BUILD_JOB, selection=build_selection(catalog),
            description="The custom domain tables, Stitch, the databases and the segments with thresholds. Launched after each run of a full "
            "or refresh courier group (sensor courier_groups__build) over what lies downstream of the group's "
            "couriers, tagged with the group; or by hand.",
        ))
    # A courier group's job holds only its couriers' load: a job that holds Stitch also holds, as inputs, every
    # table Stitch reads, and a job per group over that much of the graph made the location slow to serve.
    for group in catalog.courier_groups:
        follows = " Job build follows, over what lies downstream of its couriers." if group.run_type != "source" else ""
        jobs.append(dg.define_asset_job(
            courier_group_job_name(group.name),
            selection=ingest_selection(catalog, [c.courier for c in group.couriers]),
            description=(group.description or f"Courier group {group.name} ({group.run_type} run).") + follows,
            tags={COURIER_GROUP_TAG: group.name, RUN_TYPE_TAG: group.run_type,
                  **({STITCH_MODE_TAG: group.stitch_mode} if group.stitch_mode else {})},
        ))
    for group in catalog.orchestration_groups:
        orchestrations = [orchestration_key(o) for o in group.orchestrations]
        segments = {segment_key(o.segment) for o in catalog.orchestrations if o.name in group.orchestrations}
        jobs.append(dg.define_asset_job(
            orchestration_group_job_name(group.name),
            selection=dg.AssetSelection.assets(*orchestrations, *sorted(segments, key=str)),
            description=group.description or f"Orchestration group {group.name}.",
            tags={ORCHESTRATION_GROUP_TAG: group.name},
        ))
    for campaign in catalog.campaigns:
        jobs.append(dg.define_asset_job(
            campaign_job_name(campaign.name),
            selection=dg.AssetSelection.assets(segment_key(campaign.segment), campaign_key(campaign.name)),
            description=campaign.description or f"Campaign {campaign.name}: its segment, split and sends.",
            tags={CAMPAIGN_TAG: campaign.name},
        ))
    return jobs
