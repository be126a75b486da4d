"""Connected components in DuckDB SQL: min-label propagation with pointer jumping.

Each round a node takes the smallest label among itself and its neighbours, then the label of that label
(pointer jumping), so long chains collapse in about log2(length) rounds instead of length.
"""

from __future__ import annotations

import duckdb


def connected_components(conn: duckdb.DuckDBPyConnection, nodes: str, edges: str, out: str) -> int:
    """Label every node of `nodes(id)` with the smallest id of its component over `edges(a, b)`.

    Writes `out(id, label)` (a temp table) and returns the number of rounds it took."""
    conn.execute(f"CREATE OR REPLACE TEMP TABLE wp_cc_links AS SELECT a, b FROM {edges} UNION SELECT b, a FROM {edges}")
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT id, id AS label FROM {nodes}")
    rounds = 0
    while True:
        rounds += 1
        conn.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE wp_cc_next AS
            WITH spread AS (
              SELECT l.id, least(l.label, coalesce(min(n.label), l.label)) AS label
              FROM {out} l LEFT JOIN wp_cc_links e ON e.a = l.id LEFT JOIN {out} n ON n.id = e.b
              GROUP BY l.id, l.label
            )
            SELECT s.id, least(s.label, j.label) AS label FROM spread s JOIN spread j ON j.id = s.label
            """
        )
        changed = conn.execute(
            f"SELECT count(*) FROM wp_cc_next n JOIN {out} l USING (id) WHERE n.label <> l.label").fetchone()[0]
        conn.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT * FROM wp_cc_next")
        if changed == 0:
            break
    conn.execute("DROP TABLE IF EXISTS wp_cc_links")
    conn.execute("DROP TABLE IF EXISTS wp_cc_next")
    return rounds
