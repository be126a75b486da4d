"""Accuracy of Stitch against a labelled truth: pairwise and B-cubed precision, recall and F1, in DuckDB SQL.

Pairwise: every pair of records in one predicted cluster is a predicted match; every pair of records of one
true person is a true match. B-cubed: per record, the share of its predicted cluster that is truly its person
(precision) and the share of its person found in its cluster (recall), averaged over records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from workflow_platform.sql import literal
from workflow_platform.stitch.components import connected_components
from workflow_platform.stitch.records import RECORDS_TABLE, mailbox
from workflow_platform.stitch.resolver import CLUSTERS_TABLE


@dataclass
class Accuracy:
    records: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    precision: float
    recall: float
    f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    people: int
    clusters: int
    evidence_ceiling: float = 1.0  # share of true pairs that shared evidence connects at all (see below)

    def as_dict(self) -> dict:
        return asdict(self)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def evaluate(conn: duckdb.DuckDBPyConnection, truth_csv: Path) -> Accuracy:
    """Compare `stitch.clusters` (record_key = '<source>:<pk>') with a truth CSV of source, pk, person_id."""
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE wp_eval AS
        SELECT c.cluster AS predicted, t.person_id AS truth
        FROM {CLUSTERS_TABLE} c
        JOIN read_csv({literal(str(truth_csv))}, all_varchar = true) t ON c.record_key = t.source || ':' || t.pk
        """
    )
    records, people, clusters = conn.execute(
        "SELECT count(*), count(DISTINCT truth), count(DISTINCT predicted) FROM wp_eval").fetchone()
    true_pairs, predicted_pairs, correct_pairs = conn.execute(
        """
        SELECT (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) AS n FROM wp_eval GROUP BY truth)),
               (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) AS n FROM wp_eval GROUP BY predicted)),
               (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) AS n FROM wp_eval
                                                              GROUP BY predicted, truth))
        """
    ).fetchone()
    bp, br = conn.execute(
        """
        WITH cell AS (SELECT predicted, truth, count(*) AS n FROM wp_eval GROUP BY ALL),
        psize AS (SELECT predicted, sum(n) AS n FROM cell GROUP BY predicted),
        tsize AS (SELECT truth, sum(n) AS n FROM cell GROUP BY truth)
        SELECT sum(c.n * c.n / p.n) / sum(c.n), sum(c.n * c.n / t.n) / sum(c.n)
        FROM cell c JOIN psize p USING (predicted) JOIN tsize t USING (truth)
        """
    ).fetchone()
    conn.execute("DROP TABLE wp_eval")
    precision = correct_pairs / predicted_pairs if predicted_pairs else 1.0
    recall = correct_pairs / true_pairs if true_pairs else 1.0
    return Accuracy(
        records=records, true_pairs=int(true_pairs), predicted_pairs=int(predicted_pairs),
        correct_pairs=int(correct_pairs), precision=precision, recall=recall, f1=_f1(precision, recall),
        bcubed_precision=bp or 0.0, bcubed_recall=br or 0.0, bcubed_f1=_f1(bp or 0.0, br or 0.0),
        people=people, clusters=clusters,
    )


def evidence_ceiling(conn: duckdb.DuckDBPyConnection, truth_csv: Path) -> float:
    """The recall no resolver can beat on this set, roughly: the share of true pairs connected, through records
    of the same person, by exact shared evidence (mailbox, phone, an fk value, or the full name plus a postal code,
    address, city or birthdate, or a surname or given name plus the birthdate). A property of the data set,
    computed with the truth; it says how hard the set is, and is no input to any resolver."""
    fks = [r[0] for r in conn.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'stitch' AND table_name = 'records' "
        "AND starts_with(column_name, 'fk_')").fetchall()]
    shared_fk = "".join(f" OR a.{c} = b.{c}" for c in fks)
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE wp_ceiling_r AS
        SELECT row_number() OVER () AS id, r.*, t.person_id FROM {RECORDS_TABLE} r
        JOIN read_csv({literal(str(truth_csv))}, all_varchar = true) t ON r.record_key = t.source || ':' || t.pk
        """
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE wp_ceiling_e AS
        SELECT a.id AS a, b.id AS b FROM wp_ceiling_r a JOIN wp_ceiling_r b ON a.person_id = b.person_id AND a.id < b.id
        WHERE {mailbox('a.email')} = {mailbox('b.email')} OR a.phone = b.phone {shared_fk}
           OR (a.given_name = b.given_name AND a.surname = b.surname
               AND (a.postal = b.postal OR a.address = b.address OR a.birthdate = b.birthdate OR a.city = b.city))
           OR ((a.surname = b.surname OR a.given_name = b.given_name) AND a.birthdate = b.birthdate)
        """
    )
    connected_components(conn, "(SELECT id FROM wp_ceiling_r)", "wp_ceiling_e", "wp_ceiling_l")
    true_pairs, linked = conn.execute(
        """
        WITH x AS (SELECT r.person_id, l.label FROM wp_ceiling_r r JOIN wp_ceiling_l l USING (id))
        SELECT (SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) AS n FROM x GROUP BY person_id)),
               (SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) AS n FROM x GROUP BY person_id, label))
        """
    ).fetchone()
    for table in ("wp_ceiling_r", "wp_ceiling_e", "wp_ceiling_l"):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    return float(linked / true_pairs) if true_pairs else 1.0
