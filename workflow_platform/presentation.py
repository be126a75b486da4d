"""How the assets show in the UI, applied once to every spec where the definitions are assembled
(definitions.py): the group (the courier group or orchestration group an asset runs in, else its layer), the
owners (that group's, else the tenant's), the tags a person filters by (the courier group; the semantic tags a feed
carries) and, for a courier group with a duration threshold, its freshness policy on the last asset of each of
its loads (the domain table; a `land_only` courier's own asset). The courier and feed assets of a load are
materialized in the same step as its domain table, so they would only repeat its state; and every cron policy
costs the webserver and each daemon about 5 ms to read back (Dagster re-checks its cron on deserialization).

The builders of the stages make plain specs (key, deps, kinds, metadata) and never ask the catalog how to present
them.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence

import dagster as dg

from workflow_platform.catalog.models import Catalog, CourierGroup, duration_seconds
from workflow_platform.formats.cron import longest_gap
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
    fresh = group and (layer == "domain" or (layer == "courier" and catalog.courier(name).load == "land_only"))
    return spec.replace_attributes(
        group_name=asset_group(catalog, spec.key), owners=owners_of(catalog, spec.key), tags=tags,
        freshness_policy=freshness_policy(group) if fresh else spec.freshness_policy)


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
    if layer == "domain" and catalog.is_custom_domain_table(name):
        return "custom_domain_tables"
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
    """Data no older than the group's longest gap between two ticks plus its threshold (a day and 30 minutes for a
    daily group with `30 minutes`; three days and 30 minutes for a weekday one); one day plus the threshold for a
    group without a schedule. A time-window policy: Dagster re-checks a cron policy's cron over 1,000 ticks each
    time it reads one back (5-35 ms per asset in the webserver and in each daemon, at every load)."""
    if not group.runtime_threshold:
        return None
    return _policy(group.schedule, group.timezone, group.runtime_threshold)


@functools.lru_cache(maxsize=1024)
def _policy(schedule: str | None, timezone: str, runtime_threshold: str) -> dg.FreshnessPolicy:
    """One policy per (schedule, zone, threshold)."""
    gap = (longest_gap(schedule, timezone) if schedule else None) or dt.timedelta(days=1)
    return dg.FreshnessPolicy.time_window(fail_window=gap + dt.timedelta(seconds=duration_seconds(runtime_threshold)))
