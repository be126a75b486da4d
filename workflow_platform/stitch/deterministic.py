"""Deterministic identity resolution: exact links, then connected components, all in DuckDB SQL.

Records link when they share a normalized email; a phone and surname; a given name, surname and
birthdate; or a value of the same fk-<namespace>. Clusters are the connected components of those links,
found in SQL (`components.py`). Records with different values of one separation key (sk-<namespace>) never
link, and a cluster that a chain of links joined across two values is rebuilt without joining them, as in the
probabilistic resolver.
"""

from __future__ import annotations

import duckdb

from workflow_platform.catalog.models import Catalog
from workflow_platform.sql import ident, literal
from workflow_platform.stitch.components import connected_components, separate
from workflow_platform.stitch.records import RECORDS_TABLE, fk_namespaces, tag_column
from workflow_platform.stitch.resolver import CLUSTERS_TABLE, ResolveResult

RULE_KEYS = {
    "email": ["email"],
    "phone_surname": ["phone", "surname"],
    "name_birthdate": ["given_name", "surname", "birthdate"],
}


class DeterministicResolver:
    """Exact-match rules from the catalog's stitch settings."""

    def link_keys_sql(self, catalog: Catalog) -> str:
        parts = []
        for rule in catalog.stitch.rules:
            if rule == "foreign_key":
                for tag in fk_namespaces(catalog):
                    if tag.startswith("fk-"):
                        col = ident(tag_column(tag))
                        parts.append(f"SELECT id, {literal(tag + ':')} || {col} AS key, 'foreign_key' AS rule "
                                     f"FROM wp_nodes WHERE {col} IS NOT NULL")
                continue
            cols = RULE_KEYS[rule]
            present = " AND ".join(f"{ident(c)} IS NOT NULL" for c in cols)
            key = " || '|' || ".join(f"CAST({ident(c)} AS VARCHAR)" for c in cols)
            parts.append(f"SELECT id, {literal(rule + ':')} || {key} AS key, {literal(rule)} AS rule "
                         f"FROM wp_nodes WHERE {present}")
        return " UNION ALL ".join(parts) if parts else "SELECT NULL::BIGINT AS id, NULL AS key, NULL AS rule WHERE false"

    def resolve(self, conn: duckdb.DuckDBPyConnection, catalog: Catalog) -> ResolveResult:
        conn.execute(f"CREATE OR REPLACE TEMP TABLE wp_nodes AS SELECT row_number() OVER (ORDER BY record_key) AS id, * "
                     f"FROM {RECORDS_TABLE}")
        sks = [tag_column(t) for t in fk_namespaces(catalog) if t.startswith("sk-")]
        held = "".join(f", n.{ident(k)}" for k in sks)
        conn.execute(f"CREATE OR REPLACE TEMP TABLE wp_keys AS SELECT k.*{held} FROM ({self.link_keys_sql(catalog)}) k "
                     "JOIN wp_nodes n USING (id)")
        # star edges: each record links to the smallest record sharing its key (linear, not quadratic) and holding
        # the same separation key values; a record missing a value links to the star of every value
        group = "".join(f", {ident(k)}" for k in sks)
        fits = " AND ".join(f"(k.{ident(k)} IS NULL OR a.{ident(k)} IS NULL OR k.{ident(k)} = a.{ident(k)})"
                            for k in sks) or "true"
        conn.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE wp_edges AS
            WITH anchors AS (SELECT key{group}, min(id) AS anchor FROM wp_keys GROUP BY ALL),
            shared AS (SELECT key FROM wp_keys GROUP BY key HAVING count(*) > 1)
            SELECT k.id AS a, a.anchor AS b, k.rule, 1.0 AS p
            FROM wp_keys k JOIN shared USING (key) JOIN anchors a USING (key) WHERE k.id <> a.anchor AND {fits}
            """
        )
        iterations = connected_components(conn, "wp_nodes", "wp_edges", "wp_labels")
        separate(conn, "wp_nodes", "wp_edges", "wp_labels", sks)
        conn.execute(
            f"""
            CREATE OR REPLACE TABLE {CLUSTERS_TABLE} AS
            SELECT n.record_key, CAST(l.label AS VARCHAR) AS cluster, r.rule AS match_rule,
                   CASE WHEN r.rule IS NOT NULL THEN 1.0 END AS match_score,
                   CASE WHEN r.rule IS NOT NULL THEN 'exact' END AS match_level
            FROM wp_nodes n JOIN wp_labels l USING (id)
            LEFT JOIN (SELECT a AS id, min(rule) AS rule FROM
                       (SELECT a, rule FROM wp_edges UNION ALL SELECT b, rule FROM wp_edges) GROUP BY a) r USING (id)
            """
        )
        records, clusters = conn.execute(
            f"SELECT count(*), count(DISTINCT cluster) FROM {CLUSTERS_TABLE}").fetchone()
        links = conn.execute("SELECT count(*) FROM wp_edges").fetchone()[0]
        for table in ("wp_nodes", "wp_keys", "wp_edges", "wp_labels"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        return ResolveResult(records=records, links=links, clusters=clusters, iterations=iterations)
