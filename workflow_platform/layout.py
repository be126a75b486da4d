"""Asset keys and groups: the layers of the flow (courier → feed → domain → stitch → database → segment →
orchestration), grouped by courier group or orchestration group, or by layer where an asset has none."""

from __future__ import annotations

import dagster as dg

from workflow_platform.catalog.models import Catalog
from workflow_platform.tags import COURIER_GROUP_TAG, SEMANTIC_TAG_PREFIX

STITCH_KEY = dg.AssetKey(["stitch", "identity"])


def courier_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["courier", name])


def feed_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["feed", name])


def domain_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["domain", name])


def database_key(database: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["database", database, table])


def segment_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["segment", name])


def orchestration_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["orchestration", name])


def campaign_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["campaign", name])


def table_key(qualified: str) -> dg.AssetKey:
    """The asset that builds a warehouse table named `schema.table` in catalog SQL."""
    schema, table = qualified.split(".", 1)
    if schema == "domain":
        return domain_key(table)
    if schema == "segment":
        return segment_key(table)
    return database_key(schema, table)


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


def owners_and_tags(catalog: Catalog, key: dg.AssetKey, courier: str | None = None, feed: str | None = None) -> dict:
    """Owners, and tags shown and filterable in the UI: the courier group and the semantic tags a feed carries."""
    tags: dict[str, str] = {}
    couriers = [courier] if courier else [c.name for c in catalog.couriers_of_feed(feed)]
    for name in couriers:
        if group := catalog.group_of_courier(name):
            tags[COURIER_GROUP_TAG] = group.name
    if feed:
        for column in catalog.feed(feed).columns:
            for tag in column.tag:
                tags[f"{SEMANTIC_TAG_PREFIX}{tag}"] = column.name
    return {"tags": tags, "owners": owners_of(catalog, key)}
