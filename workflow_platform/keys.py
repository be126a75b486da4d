"""Asset keys: one prefix per layer of the flow (courier → feed → domain → stitch → database → segment →
orchestration, campaign). How the assets are grouped and owned in the UI is presentation.py."""

from __future__ import annotations

import dagster as dg

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


# asset checks of a courier (evaluated by the load step; the first also by the courier group's sensor)
FILES_CHECK = "expected_files_present"
ACCEPTED_CHECK = "files_accepted"
