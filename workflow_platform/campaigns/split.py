"""Split a segment into a campaign's sub-audiences, deterministically by customer id.

Each customer gets a bucket 0..9999 from md5(campaign name + customer id); the sub-audiences take consecutive
bucket ranges in catalog order (treatment 90% → buckets 0..8999, control 10% → 9000..9999). The same customer
therefore lands in the same sub-audience on every run, whoever else joins or leaves the segment, and two
campaigns split independently of each other.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from workflow_platform.catalog.models import Campaign
from workflow_platform.sql import ident, literal

BUCKETS = 10_000
ATTRIBUTE_COLUMNS = ("campaign_name", "sub_audience", "send_date")


class CampaignSplitError(Exception):
    """The segment cannot be split (no customer_id column, or it clashes with the campaign's own columns)."""


def attribute_names(campaign: Campaign) -> list[str]:
    """The custom attribute columns any sub-audience sets, in a stable order."""
    return sorted({name for sub in campaign.sub_audiences for name in sub.attributes})


def bucket_expression(campaign: str, column: str = "customer_id") -> str:
    salted = f"{literal(campaign + ':')} || CAST({ident(column)} AS VARCHAR)"
    return f"CAST(('0x' || left(md5({salted}), 8)) AS UBIGINT) % {BUCKETS}"


def build_campaign_table(conn: duckdb.DuckDBPyConnection, campaign: Campaign, send_date: dt.date) -> dict[str, int]:
    """Create `campaign.<name>`: the segment's rows plus campaign_name, sub_audience, send_date and the
    sub-audience attributes. Returns rows per sub-audience, in catalog order."""
    source = f"segment.{ident(campaign.segment)}"
    columns = [d[0] for d in conn.execute(f"SELECT * FROM {source} LIMIT 0").description]
    if "customer_id" not in columns:
        raise CampaignSplitError(f"campaign {campaign.name!r}: segment {campaign.segment!r} has no customer_id "
                                 f"column (columns: {', '.join(columns)}); the split is by customer id")
    attributes = attribute_names(campaign)
    clashes = [c for c in (*ATTRIBUTE_COLUMNS, *attributes) if c in columns]
    if clashes:
        raise CampaignSplitError(f"campaign {campaign.name!r}: segment {campaign.segment!r} already has column(s) "
                                 f"{', '.join(clashes)}, which the campaign adds")
    upper, cases = 0.0, []
    for sub in campaign.sub_audiences:
        upper += sub.percent
        cases.append(f"WHEN __bucket < {round(upper * BUCKETS / 100)} THEN {literal(sub.name)}")
    extra = [
        "CASE sub_audience " + " ".join(f"WHEN {literal(sub.name)} THEN {literal(sub.attributes[name])}"
                                        for sub in campaign.sub_audiences if name in sub.attributes)
        + f" END AS {ident(name)}"
        for name in attributes
    ]
    conn.execute("CREATE SCHEMA IF NOT EXISTS campaign")
    conn.execute(f"""
        CREATE OR REPLACE TABLE campaign.{ident(campaign.name)} AS
        SELECT *{''.join(', ' + e for e in extra)} FROM (
            SELECT * EXCLUDE (__bucket), CASE {' '.join(cases)} END AS sub_audience,
                   {literal(campaign.name)} AS campaign_name, DATE {literal(send_date.isoformat())} AS send_date
            FROM (SELECT *, {bucket_expression(campaign.name)} AS __bucket FROM {source}))
    """)
    counts = dict(conn.execute(f"SELECT sub_audience, count(*) FROM campaign.{ident(campaign.name)} "
                               "GROUP BY sub_audience").fetchall())
    return {sub.name: counts.get(sub.name, 0) for sub in campaign.sub_audiences}


def sub_audience_query(campaign: Campaign, sub_audience: str) -> str:
    """The rows one sub-audience sends: the data template's columns, then the campaign's attribute columns."""
    table = f"campaign.{ident(campaign.name)}"
    attributes = attribute_names(campaign)
    added = [ident(c) for c in (*ATTRIBUTE_COLUMNS, *attributes)]
    if campaign.columns:
        chosen = [f"{ident(src)} AS {ident(dst)}" for src, dst in campaign.columns.items()]
    else:
        chosen = [f"* EXCLUDE ({', '.join(added)})"]
    return f"SELECT {', '.join(chosen + added)} FROM {table} WHERE sub_audience = {literal(sub_audience)}"
