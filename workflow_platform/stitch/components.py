"""Connected components in DuckDB SQL: min-label propagation with pointer jumping.

Each round a node takes the smallest label among itself and its neighbours, then the label of that label
(pointer jumping), so long chains collapse in about log2(length) rounds instead of length.
"""

from __future__ import annotations

import duckdb

from workflow_platform.sql import ident


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


def separate(conn: duckdb.DuckDBPyConnection, nodes: str, links: str, labels: str, sks: list[str],
             household: str = "false") -> int:
    """A chain of links (A-B, B-C) can join records that never link directly: different values of one separation
    key (sk columns of `nodes(id, ...)`), or two people of one household (the `household` condition over l. and
    r., joined through a record that lacks a given name). Such clusters of `labels(id, label)` are rebuilt from
    their `links(a, b, p, rule)`, exact ones first (rule <> 'probabilistic'), then strongest first, skipping any link
    that would join two values of one sk namespace, and any probabilistic link between two groups whose records
    are, pair by pair, more often two people than not. Updates `labels`; returns the clusters rebuilt."""
    sk_conflict = " OR ".join(f"coalesce(l.{ident(k)} <> r.{ident(k)}, false)" for k in sks) or "false"
    if sk_conflict == "false" and household == "false":
        return 0
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE wp_conflicts AS
        WITH chains AS (  -- one link never joins a conflict (it was dropped): only chains of two or more can
          SELECT * FROM {labels} WHERE label IN (SELECT label FROM {labels} GROUP BY label HAVING count(*) > 2))
        SELECT x.id AS a, y.id AS b, x.label, coalesce({household}, false) AS household
        FROM chains x JOIN chains y ON x.label = y.label AND x.id < y.id
        JOIN {nodes} l ON l.id = x.id JOIN {nodes} r ON r.id = y.id
        WHERE ({sk_conflict}) OR coalesce({household}, false)
        """
    )
    rebuilt = conn.execute("SELECT count(DISTINCT label) FROM wp_conflicts").fetchone()[0]
    if not rebuilt:
        return 0
    conn.execute(f"CREATE OR REPLACE TEMP TABLE wp_conflicted AS SELECT id FROM {labels} WHERE label IN "
                 "(SELECT label FROM wp_conflicts)")
    keys = "".join(f", {ident(k)}" for k in sks)
    named = "given_name IS NOT NULL" if household != "false" else "false"
    values, given = {}, set()
    for row in conn.execute(f"SELECT id, {named}{keys} FROM {nodes} WHERE id IN (SELECT id FROM wp_conflicted)"
                            ).fetchall():
        values[row[0]] = {k: v for k, v in zip(sks, row[2:], strict=True) if v is not None}
        if row[1]:
            given.add(row[0])
    apart = {(a, b) for a, b in conn.execute("SELECT a, b FROM wp_conflicts WHERE household").fetchall()}

    def outvoted(one: list[int], other: list[int]) -> bool:
        """More of the two groups' comparable pairs are two people than are not: a household bridged by a record
        without a given name, not a person's one odd record."""
        against = sum((min(x, y), max(x, y)) in apart for x in one for y in other)
        return against > 0 and against > sum(x in given and y in given for x in one for y in other) - against

    edges = conn.execute(f"SELECT a, b, rule <> 'probabilistic' FROM {links} WHERE a IN (SELECT id FROM "
                         "wp_conflicted) ORDER BY rule <> 'probabilistic' DESC, p DESC, a, b").fetchall()
    parent = {node: node for node in values}
    members = {node: [node] for node in values}

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b, exact in edges:
        ra, rb = root(a), root(b)
        if ra == rb or any(values[rb].get(k, v) != v for k, v in values[ra].items()):
            continue
        if not exact and apart and outvoted(members[ra], members[rb]):
            continue
        keep, drop = min(ra, rb), max(ra, rb)
        parent[drop] = keep
        values[keep] = {**values[drop], **values[keep]}
        members[keep] += members.pop(drop)
    import pyarrow as pa  # deferred (~0.2 s): only a cluster to separate needs it

    conn.register("wp_relabel", pa.table({"id": list(parent), "label": [root(n) for n in parent]}))
    conn.execute(f"UPDATE {labels} SET label = r.label FROM wp_relabel r WHERE {labels}.id = r.id")
    conn.unregister("wp_relabel")
    for table in ("wp_conflicts", "wp_conflicted"):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    return rebuilt
