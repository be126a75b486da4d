"""Dagster assets `campaign/<name>`: split the segment, then send every sub-audience to its destinations."""


import zoneinfo

import dagster as dg

from workflow_platform.campaigns.split import CampaignSplitError, build_campaign_table, sub_audience_query
from workflow_platform.catalog.models import Campaign, Catalog
from workflow_platform.keys import campaign_key, segment_key
from workflow_platform.metadata import Stopwatch
from workflow_platform.orchestrations.assets import send_or_fail, send_retry_policy, send_time
from workflow_platform.orchestrations.send import SendNames, send_rows
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource
from workflow_platform.tags import RECURRENCE_TAG


def _retry_policy(catalog: Catalog, campaign: Campaign) -> dg.RetryPolicy | None:
    """The most patient of the destinations' policies: a retry builds the split again and resends every
    sub-audience (files are replaced whole, webhook batches keep their Idempotency-Keys)."""
    policies = [send_retry_policy(catalog.destination(d)) for s in campaign.sub_audiences for d in s.destinations]
    policies = [p for p in policies if p]
    return max(policies, key=lambda p: p.max_retries) if policies else None


def build_campaign_asset(catalog: Catalog, campaign: Campaign) -> dg.AssetsDefinition:
    key = campaign_key(campaign.name)
    split = ", ".join(f"{s.name} {s.percent:g}%" for s in campaign.sub_audiences)

    @dg.asset(
        key=key,
        deps=[segment_key(campaign.segment)],
        description=campaign.description or f"Campaign over segment {campaign.segment!r}: {split}.",
        kinds={"duckdb", "campaign"},
        tags={RECURRENCE_TAG: campaign.recurrence},
        pool=WAREHOUSE_POOL,
        retry_policy=_retry_policy(catalog, campaign),
        metadata={"split": split, "recurrence": campaign.recurrence, "file_name_template": campaign.filename,
                  "dagster/table_name": f"campaign.{campaign.name}"},
    )
    def _campaign(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        clock = Stopwatch()
        now = send_time(context)
        sends = []
        with warehouse.get_connection() as conn:
            try:
                counts = build_campaign_table(conn, campaign, now.astimezone(zoneinfo.ZoneInfo(campaign.timezone)).date())
            except CampaignSplitError as exc:
                raise dg.Failure(description=str(exc), allow_retries=False) from exc
            for sub in campaign.sub_audiences:
                for name in sub.destinations:
                    destination = catalog.destination(name)
                    summary = send_or_fail(lambda sub=sub, destination=destination: send_rows(
                        conn, sub_audience_query(campaign, sub.name), destination, campaign.filename,
                        SendNames(campaign.name, campaign=campaign.name, sub_audience=sub.name), now,
                        idempotency_prefix=f"{context.run.run_id}:{campaign.name}:{sub.name}:"),
                        f"destination {name!r} (sub-audience {sub.name})")
                    context.log.info(f"{campaign.name}/{sub.name}: sent {summary.rows} rows to {name}")
                    sends.append({"sub_audience": sub.name, "destination": name, "rows": summary.rows,
                                  "files": summary.files, "bytes": summary.bytes, "urls": summary.urls})
        return dg.MaterializeResult(metadata={
            "rows": dg.MetadataValue.int(sum(counts.values())),
            **{f"rows_{name}": dg.MetadataValue.int(rows) for name, rows in counts.items()},
            "sends": dg.MetadataValue.json(sends),
            "elapsed_seconds": dg.MetadataValue.float(clock.seconds),
        })

    return _campaign
