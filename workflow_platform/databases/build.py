"""Database tables built from Stitch: unified_coalesced, merged_customers, customer_360, and custom SQL."""

from __future__ import annotations

import duckdb

from workflow_platform.catalog.models import Catalog, Database, DatabaseTable
from workflow_platform.segments.build import materialize_catalog_select
from workflow_platform.sql import ident, run_interruptible, table_exists
from workflow_platform.stitch.records import RECORDS_TABLE, fk_namespaces, tag_column
from workflow_platform.stitch.resolver import CLUSTERS_TABLE

# merged_customers picks each group of fields from one record: most complete, then source priority,
# then the newest update, then the smallest pk
FIELD_GROUPS = {
    "name": ["given_name", "surname", "full_name"],
    "email": ["email"],
    "phone": ["phone"],
    "address": ["address", "address2", "city", "state", "postal", "country"],
    "birthdate": ["birthdate"],
    "gender": ["gender"],
}


def build_unified_coalesced(conn: duckdb.DuckDBPyConnection, db: Database) -> int:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(db.name)}")
    run_interruptible(
        conn,
        f"""
        CREATE OR REPLACE TABLE {ident(db.name)}.unified_coalesced AS
        SELECT i.customer_id, r.*, c.match_rule, c.match_score, c.match_level
        FROM {RECORDS_TABLE} r JOIN stitch.customer_ids i USING (record_key) JOIN {CLUSTERS_TABLE} c USING (record_key)
        ORDER BY i.customer_id, r.source, r.pk
        """
    )
    return conn.execute(f"SELECT count(*) FROM {ident(db.name)}.unified_coalesced").fetchone()[0]


def build_merged_customers(conn: duckdb.DuckDBPyConnection, db: Database) -> int:
    schema = ident(db.name)
    picks = []
    for group, columns in FIELD_GROUPS.items():
        filled = " + ".join(f"CAST({ident(c)} IS NOT NULL AS INTEGER)" for c in columns)
        cols = ", ".join(ident(c) for c in columns)
        picks.append(
            f"{group} AS (SELECT customer_id, {cols} FROM (SELECT customer_id, {cols}, row_number() OVER ("
            f"PARTITION BY customer_id ORDER BY {filled} DESC, priority, updated_at DESC NULLS LAST, source, pk) AS r "
            f"FROM {schema}.unified_coalesced) WHERE r = 1)"
        )
    select_cols = ", ".join(f"{g}.{ident(c)}" for g, cols in FIELD_GROUPS.items() for c in cols)
    joins = " ".join(f"JOIN {g} USING (customer_id)" for g in FIELD_GROUPS)
    run_interruptible(
        conn,
        f"""
        CREATE OR REPLACE TABLE {schema}.merged_customers AS
        WITH base AS (SELECT customer_id, count(*) AS source_records, string_agg(DISTINCT source, ',' ORDER BY source)
                      AS sources, max(updated_at) AS updated_at FROM {schema}.unified_coalesced GROUP BY customer_id),
        {', '.join(picks)}
        SELECT base.customer_id, {select_cols}, base.source_records, base.sources, base.updated_at
        FROM base {joins} ORDER BY base.customer_id
        """
    )
    return conn.execute(f"SELECT count(*) FROM {schema}.merged_customers").fetchone()[0]


def _transactions_sql(conn, catalog: Catalog, db: Database) -> str | None:
    """Order lines of every transaction feed, each with the customer its fk links to."""
    namespaces = {t for t in fk_namespaces(catalog) if t.startswith("fk-")}
    parts = []
    for feed in catalog.transaction_feeds:
        if not table_exists(conn, feed.table):
            continue
        fk = next((c for c in feed.columns for t in c.tag if t in namespaces), None)
        if fk is None:
            continue
        namespace = next(t for t in fk.tag if t in namespaces)

        def col(tag: str, default: str = "NULL", feed=feed) -> str:
            column = next((c for c in feed.columns if tag in c.tag), None)
            return ident(column.name) if column else default

        parts.append(
            f"SELECT m.customer_id, CAST({col('order-id')} AS VARCHAR) AS order_id, "
            f"CAST({col('order-datetime')} AS TIMESTAMP) AS order_datetime, "
            f"CAST({col('item-revenue', '0')} AS DOUBLE) AS revenue, "
            f"coalesce(CAST({col('is-return', 'false')} AS BOOLEAN), false) AS is_return, "
            f"coalesce(CAST({col('is-cancellation', 'false')} AS BOOLEAN), false) AS is_cancellation "
            f"FROM {feed.table_sql} t JOIN (SELECT {ident(tag_column(namespace))} AS fk, min(customer_id) AS customer_id "
            f"FROM {ident(db.name)}.unified_coalesced WHERE {ident(tag_column(namespace))} IS NOT NULL GROUP BY 1) m "
            f"ON CAST(t.{ident(fk.name)} AS VARCHAR) = m.fk"
        )
    return " UNION ALL ".join(parts) if parts else None


def build_customer_360(conn: duckdb.DuckDBPyConnection, catalog: Catalog, db: Database) -> int:
    schema = ident(db.name)
    transactions = _transactions_sql(conn, catalog, db) or (
        "SELECT NULL::VARCHAR AS customer_id, NULL::VARCHAR AS order_id, NULL::TIMESTAMP AS order_datetime, "
        "NULL::DOUBLE AS revenue, false AS is_return, false AS is_cancellation WHERE false"
    )
    run_interruptible(
        conn,
        f"""
        CREATE OR REPLACE TABLE {schema}.customer_360 AS
        WITH lines AS ({transactions}),
        orders AS (
          SELECT customer_id,
                 count(DISTINCT order_id) FILTER (WHERE NOT is_cancellation AND NOT is_return) AS order_count,
                 coalesce(sum(CASE WHEN is_return THEN -abs(revenue) ELSE revenue END)
                          FILTER (WHERE NOT is_cancellation), 0) AS total_revenue,
                 CAST(min(order_datetime) AS DATE) AS first_order_date,
                 CAST(max(order_datetime) AS DATE) AS last_order_date
          FROM lines GROUP BY customer_id
        )
        SELECT m.*, coalesce(o.order_count, 0) AS order_count, round(coalesce(o.total_revenue, 0), 2) AS total_revenue,
               o.first_order_date, o.last_order_date,
               round(CASE WHEN o.order_count > 0 THEN o.total_revenue / o.order_count END, 2) AS average_order_value
        FROM {schema}.merged_customers m LEFT JOIN orders o USING (customer_id)
        ORDER BY m.customer_id
        """
    )
    return conn.execute(f"SELECT count(*) FROM {schema}.customer_360").fetchone()[0]


def build_custom_table(conn: duckdb.DuckDBPyConnection, db: Database, table: DatabaseTable) -> int:
    """The catalog's SELECT as `<db>.<table>`, sandboxed and within the limits of one catalog SQL statement
    (SegmentSqlError past a limit; the previous table stays)."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(db.name)}")
    return materialize_catalog_select(conn, db.name, table.name, table.sql, what=f"table {db.name}.{table.name}")
