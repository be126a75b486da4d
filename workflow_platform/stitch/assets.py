"""Dagster asset `stitch/identity`: cluster the Stitch records and give every person a stable id."""


import dagster as dg
from pydantic import Field

from workflow_platform.alerts.model import run_alert
from workflow_platform.alerts.resource import AlertChannelsResource
from workflow_platform.catalog.models import Catalog
from workflow_platform.keys import STITCH_KEY, domain_key
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource
from workflow_platform.stitch.engines import EngineUnavailable
from workflow_platform.stitch.qa import StitchQA, qa_metadata, run_stitch
from workflow_platform.tags import STITCH_MODE_TAG


class StitchConfig(dg.Config):
    """Launchpad config of one Stitch run."""

    mode: str = Field("", description="normal | force_refresh | incremental; empty: the run's tag "
                                      "workflow_platform/stitch_mode (a courier group's stitch_mode), else the "
                                      "catalog's stitch.mode")


def build_stitch_asset(catalog: Catalog) -> dg.AssetsDefinition:
    feeds = catalog.stitch_feeds
    settings = catalog.stitch
    how = ("a Splink model derived from the feeds' semantic tags (links above "
           f"'{settings.match_threshold}') plus exact email links and links on fk values trusted to link"
           if settings.resolver == "probabilistic"
           else "exact links on email, phone + surname, name + birthdate and shared fk values")

    @dg.asset(
        key=STITCH_KEY,
        deps=[domain_key(f.name) for f in feeds],
        description=f"Identity resolution over the Stitch feeds ({', '.join(f.name for f in feeds)}): {how}; "
        "connected components; stable customer ids (stitch.customer_ids).",
        kinds=({"duckdb", "splink"} | ({"spark"} if settings.engine == "spark" else set())
               if settings.resolver == "probabilistic" else {"duckdb", "sql"}),
        pool=WAREHOUSE_POOL,
    )
    def _stitch(context: dg.AssetExecutionContext, config: StitchConfig, warehouse: WarehouseResource,
                alert_channels: AlertChannelsResource) -> dg.MaterializeResult:
        mode = config.mode or context.run.tags.get(STITCH_MODE_TAG) or settings.mode
        if mode not in ("normal", "force_refresh", "incremental"):
            raise dg.Failure(description=f"stitch mode {mode!r}: use normal, force_refresh or incremental")
        with warehouse.get_connection() as conn:
            try:
                qa = run_stitch(conn, catalog, mode)
            except EngineUnavailable as exc:  # what to install, not a stack
                raise dg.Failure(description=str(exc), allow_retries=False) from None
        for problem in qa.warnings(settings):
            context.log.warning(problem)
            _alert(context, alert_channels, catalog, qa, problem)
        return dg.MaterializeResult(metadata=qa_metadata(qa))

    return _stitch


def _alert(context: dg.AssetExecutionContext, channels: AlertChannelsResource, catalog: Catalog, qa: StitchQA,
           problem: str) -> None:
    """A warning: the run goes on."""
    churn = problem.startswith("customer id churn")
    alert = run_alert(
        context.run, "id_churn" if churn else "giant_cluster", "warning", cause=f"Stitch run {qa.run}: {problem}",
        action=("compare with the previous run (workflow-platform stitch-report); large churn follows big source "
                "changes or a changed model" if churn else
                "look for a shared junk value (email, phone) in the largest cluster and add it to the stitch "
                "blocklists"),
    )
    channels.send(alert, catalog.alerts, context.log)
