"""How the assets show in the UI, applied once to every spec where the definitions are assembled
(definitions.py): the group (the courier group or orchestration group an asset runs in, else its layer), the
owners (that group's, else the tenant's), the tags a person filters by (the courier group; the semantic tags a feed
carries) and, for the assets of a courier group with a duration threshold, its freshness policy.

The builders of the stages make plain specs (key, deps, kinds, metadata) and never ask the catalog how to present
them.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence

import dagster as dg

from workflow_platform.catalog.models import Catalog, CourierGroup, duration_seconds
from workflow_platform.formats.cron import shifted_cron
from workflow_platform.tags import COURIER_GROUP_TAG, SEMANTIC_TAG_PREFIX


def presented(catalog: Catalog, assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The assets with group, owners, tags and freshness policy set from the catalog."""
    return dg.map_asset_specs(functools.partial(present, catalog), assets)


def present(catalog: Catalog, spec: dg.AssetSpec) -> dg.AssetSpec:
    layer, name = spec.key.path[0], spec.key.path[-1]
    tags = dict(spec.tags)
    couriers = _couriers(catalog, layer, name)
    group = next((g for c in couriers if (g := catalog.group_of_courier(c))), None)
    if group:
        tags[COURIER_GROUP_TAG] = group.name
    if layer in ("feed", "domain"):
        for column in catalog.feed(name).columns:
            for tag in column.tag:
                tags[f"{SEMANTIC_TAG_PREFIX}{tag}"] = column.name
    return spec.replace_attributes(
        group_name=asset_group(catalog, spec.key), owners=owners_of(catalog, spec.key), tags=tags,
        freshness_policy=freshness_policy(group) if group else spec.freshness_policy)


def _couriers(catalog: Catalog, layer: str, name: str) -> list[str]:
    """The couriers whose files an ingest asset holds (the feed step reads only the couriers it loads)."""
    if layer == "courier":
        return [name]
    if layer == "feed":
        return [c.name for c in catalog.couriers_of_feed(name) if c.load != "land_only"]
    if layer == "domain":
        return [c.name for c in catalog.couriers_of_feed(name)]
    return []


def asset_group(catalog: Catalog, key: dg.AssetKey) -> str:
    layer, name = key.path[0], key.path[-1]
    if layer in ("courier", "feed", "domain"):
        couriers = [name] if layer == "courier" else [c.name for c in catalog.couriers_of_feed(name)]
        for courier in couriers:
            if group := catalog.group_of_courier(courier):
                return f"courier_group_{group.name}"
        return "sources"
    if layer == "orchestration":
        group = catalog.group_of_orchestration(name)
        return f"orchestration_group_{group.name}" if group else "orchestrations"
    if layer == "segment":
        for orchestration in catalog.orchestrations:
            if orchestration.segment == name and (group := catalog.group_of_orchestration(orchestration.name)):
                return f"orchestration_group_{group.name}"
        return "segments"
    return {"stitch": "stitch", "database": "databases", "campaign": "campaigns"}[layer]


def owners_of(catalog: Catalog, key: dg.AssetKey) -> list[str]:
    """The owners the UI shows: the asset's courier group, orchestration group or campaign, else the tenant's."""
    layer, name = key.path[0], key.path[-1]
    group = None
    if layer in ("courier", "feed", "domain"):
        couriers = [name] if layer == "courier" else [c.name for c in catalog.couriers_of_feed(name)]
        group = next((g for c in couriers if (g := catalog.group_of_courier(c))), None)
    elif layer == "orchestration":
        group = catalog.group_of_orchestration(name)
    elif layer == "campaign":
        group = next((c for c in catalog.campaigns if c.name == name), None)
    return list(group.owners) if group and group.owners else list(catalog.owners)


def freshness_policy(group: CourierGroup) -> dg.FreshnessPolicy | None:
    """For a scheduled group: data must be materialized by tick + threshold (a cron policy); otherwise, or when
    the deadline cannot be written as a cron, within threshold + one day of the last materialization."""
    if not group.runtime_threshold:
        return None
    return _policy(group.schedule, group.timezone, group.runtime_threshold)


@functools.lru_cache(maxsize=1024)
def _policy(schedule: str | None, timezone: str, runtime_threshold: str) -> dg.FreshnessPolicy:
    """One policy per (schedule, zone, threshold): Dagster checks the cron of each new policy (~14 ms)."""
    threshold = dt.timedelta(seconds=duration_seconds(runtime_threshold))
    if schedule and (deadline := shifted_cron(schedule, int(threshold.total_seconds() // 60))):
        return dg.FreshnessPolicy.cron(deadline_cron=deadline, lower_bound_delta=max(threshold, dt.timedelta(minutes=1)),
                                       timezone=timezone)
    return dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(days=1) + threshold)
