"""Stable customer ids over Stitch clusters.

Unchanged clusters keep their id. When clusters merge, the oldest id survives; when one splits, the part
holding most of the previous records keeps it and the other parts get new ids. Ids are recorded in
`stitch.customer_ids` (record -> id, the latest run) and `stitch.id_registry` (id -> the run that made it).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from workflow_platform.stitch.resolver import CLUSTERS_TABLE


@dataclass
class IdResult:
    run: int
    customers: int
    new_ids: int
    records_before: int
    records_changed: int

    @property
    def churn_pct(self) -> float:
        return 100.0 * self.records_changed / self.records_before if self.records_before else 0.0


def assign_ids(conn: duckdb.DuckDBPyConnection) -> IdResult:
    conn.execute("CREATE TABLE IF NOT EXISTS stitch.customer_ids (record_key VARCHAR, customer_id VARCHAR)")
    conn.execute("CREATE TABLE IF NOT EXISTS stitch.id_registry (customer_id VARCHAR, created_run INTEGER, "
                 "created_at TIMESTAMP)")
    conn.execute("CREATE TABLE IF NOT EXISTS stitch.runs (run INTEGER, finished_at TIMESTAMP, records BIGINT, "
                 "customers BIGINT, new_ids BIGINT, churn_pct DOUBLE, qa VARCHAR)")
    run = conn.execute("SELECT coalesce(max(run), 0) + 1 FROM stitch.runs").fetchone()[0]
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE wp_assign AS
        WITH prev AS (
          SELECT c.cluster, p.customer_id, count(*) AS n
          FROM {CLUSTERS_TABLE} c JOIN stitch.customer_ids p USING (record_key) GROUP BY ALL
        ),
        kept AS (  -- an old id stays with the cluster holding most of its records
          SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY customer_id ORDER BY n DESC, cluster) AS r FROM prev)
          WHERE r = 1
        ),
        oldest AS (  -- of the ids a cluster kept, the oldest survives
          SELECT cluster, customer_id FROM (
            SELECT k.cluster, k.customer_id,
                   row_number() OVER (PARTITION BY k.cluster ORDER BY g.created_run NULLS LAST, k.customer_id) AS r
            FROM kept k LEFT JOIN stitch.id_registry g USING (customer_id)
          ) WHERE r = 1
        ),
        clusters AS (SELECT cluster, min(record_key) AS first_key FROM {CLUSTERS_TABLE} GROUP BY cluster)
        SELECT c.cluster, coalesce(o.customer_id, {_new_id('c.first_key', run)}) AS customer_id, o.customer_id IS NULL AS is_new
        FROM clusters c LEFT JOIN oldest o USING (cluster)
        """
    )
    records_before, changed = conn.execute(
        f"""
        SELECT count(p.record_key), count(p.record_key) FILTER (WHERE p.customer_id <> a.customer_id)
        FROM {CLUSTERS_TABLE} c JOIN wp_assign a USING (cluster) LEFT JOIN stitch.customer_ids p USING (record_key)
        """
    ).fetchone()
    conn.execute(
        f"CREATE OR REPLACE TABLE stitch.customer_ids AS SELECT c.record_key, a.customer_id "
        f"FROM {CLUSTERS_TABLE} c JOIN wp_assign a USING (cluster) ORDER BY c.record_key"
    )
    conn.execute("INSERT INTO stitch.id_registry SELECT customer_id, ?, now() FROM wp_assign WHERE is_new", [run])
    customers, new_ids = conn.execute("SELECT count(*), count(*) FILTER (WHERE is_new) FROM wp_assign").fetchone()
    result = IdResult(run, customers, new_ids, records_before, changed)
    conn.execute("INSERT INTO stitch.runs (run, finished_at, records, customers, new_ids, churn_pct) "
                 "VALUES (?, now(), ?, ?, ?, ?)",
                 [run, conn.execute(f"SELECT count(*) FROM {CLUSTERS_TABLE}").fetchone()[0], customers, new_ids,
                  result.churn_pct])
    conn.execute("DROP TABLE wp_assign")
    return result


def _new_id(first_key_sql: str, run: int) -> str:
    """A UUID-shaped id from the cluster's first record and the run: unique, reproducible from scratch."""
    digest = f"md5({first_key_sql} || ':{run}')"
    return (f"substr({digest}, 1, 8) || '-' || substr({digest}, 9, 4) || '-' || substr({digest}, 13, 4) || '-' "
            f"|| substr({digest}, 17, 4) || '-' || substr({digest}, 21, 12)")
