"""Dagster asset `stitch/identity`: cluster the Stitch records and give every person a stable id."""


import dagster as dg

from workflow_platform.catalog.models import Catalog
from workflow_platform.layout import STITCH_KEY, domain_key, owners_of
from workflow_platform.metadata import Stopwatch, markdown_table
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource
from workflow_platform.sql import transaction
from workflow_platform.stitch.deterministic import DeterministicResolver
from workflow_platform.stitch.ids import assign_ids
from workflow_platform.stitch.records import build_records
from workflow_platform.stitch.resolver import CLUSTERS_TABLE, IdentityResolver

CHURN_WARNING_PCT = 2.0


def build_stitch_asset(catalog: Catalog, resolver: IdentityResolver | None = None) -> dg.AssetsDefinition:
    resolver = resolver or DeterministicResolver()
    feeds = catalog.stitch_feeds

    @dg.asset(
        key=STITCH_KEY,
        deps=[domain_key(f.name) for f in feeds],
        group_name="stitch",
        description="Identity resolution over the Stitch feeds ("
        + ", ".join(f.name for f in feeds)
        + "): exact links on email, phone + surname, name + birthdate and shared fk values; connected "
        "components; stable customer ids (stitch.customer_ids).",
        kinds={"duckdb", "sql"},
        owners=owners_of(catalog, STITCH_KEY),
        pool=WAREHOUSE_POOL,
    )
    def _stitch(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        clock = Stopwatch()
        phases = {}
        with warehouse.get_connection() as conn, transaction(conn):
            records = build_records(conn, catalog)
            phases["records"] = clock.seconds
            resolved = resolver.resolve(conn, catalog)
            phases["clustering"] = round(clock.seconds - phases["records"], 3)
            ids = assign_ids(conn)
            phases["ids"] = round(clock.seconds - phases["records"] - phases["clustering"], 3)
            sizes = conn.execute(
                f"SELECT size, count(*) AS clusters FROM (SELECT cluster, count(*) AS size FROM {CLUSTERS_TABLE} "
                "GROUP BY cluster) GROUP BY size ORDER BY size").fetchall()
        largest = max((s for s, _ in sizes), default=0)
        singletons = sum(n for s, n in sizes if s == 1)
        if ids.churn_pct > CHURN_WARNING_PCT:
            context.log.warning(f"customer id churn {ids.churn_pct:.2f}% is above {CHURN_WARNING_PCT}%")
        return dg.MaterializeResult(metadata={
            "records": dg.MetadataValue.int(records),
            "links": dg.MetadataValue.int(resolved.links),
            "customers": dg.MetadataValue.int(ids.customers),
            "new_customer_ids": dg.MetadataValue.int(ids.new_ids),
            "id_churn_pct": dg.MetadataValue.float(round(ids.churn_pct, 4)),
            "largest_cluster": dg.MetadataValue.int(largest),
            "singleton_share_pct": dg.MetadataValue.float(round(100.0 * singletons / max(ids.customers, 1), 2)),
            "cluster_sizes": markdown_table([{"size": s, "clusters": n} for s, n in sizes]),
            "label_propagation_iterations": dg.MetadataValue.int(resolved.iterations),
            "stitch_run": dg.MetadataValue.int(ids.run),
            "elapsed_seconds_by_phase": dg.MetadataValue.json(phases),
            "elapsed_seconds": dg.MetadataValue.float(clock.seconds),
        })

    return _stitch
