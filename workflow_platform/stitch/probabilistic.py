"""Probabilistic identity resolution: Splink (Fellegi-Sunter, DuckDB backend) plus exact rules.

1. Prepare: stitch.records copied into an in-memory DuckDB (Splink's scratch tables never touch the warehouse
   file), junk identifier values set to NULL (the catalog's blocklists, and any email, phone or `evidence`
   identifier held by more than `stitch.max_records_per_value` records or `stitch.max_names_per_value`
   differently named people), emails reduced to their mailbox (jane+shop@x.com -> jane@x.com), each given name
   given its nickname forms (BILL -> [BILL, WILLIAM]) from a curated dictionary.
2. Train (or reuse the stored model): see stitch/model.py `train` — u by random sampling, m by EM over several
   blocking passes, each weighed against the PRIORS by the pairs behind it; what the data cannot train stays a
   prior, and the QA says which.
3. Predict the candidate pairs of the blocking rules; keep those above the threshold level.
   Incremental runs score only the pairs that hold a new record.
4. Exact links: a shared value of an fk-<namespace> trusted to `link` (stitch.identifiers) or the same mailbox
   (normalized email) link outright.
5. Drop every link between records with different values of one separation key (sk-<namespace>), and
   probabilistic links between records whose given names are different names and whose birthdates are not
   equal: household members share an address, a phone and often a surname, and are still different people.
6. Connected components; a cluster above `stitch.max_cluster_size` is re-clustered on its strongest links, and
   one holding two values of a separation key, or two such household members (bridged by a record without a
   given name), is rebuilt from its links, strongest first, without joining them (components.py `separate`).

Steps 2 and 3 run on `stitch.engine` (stitch/engines.py): the scratch DuckDB itself, or Splink's Spark backend
over a copy of the prepared records, from which only the pairs at `weak` or better come back; everything else
runs in the scratch DuckDB on either engine (its tables grow with the records and the links, not with the
candidate pairs).

Splink (and stitch/model.py, which builds on it) is imported inside the methods that run it: it takes ~0.6 s
to import, which every load of the code location would otherwise pay, also for tenants on exact rules.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass, field
from functools import cache

import duckdb
from nicknames import name_triplets

from workflow_platform.catalog.models import Catalog, StitchSettings
from workflow_platform.sql import ident, literal, table_exists
from workflow_platform.stitch import engines
from workflow_platform.stitch.components import connected_components, separate
from workflow_platform.stitch.engines import Engine
from workflow_platform.stitch.records import (
    RECORDS_TABLE,
    fk_namespaces,
    initial_sql,
    mailbox,
    match_column_source,
    tag_column,
)
from workflow_platform.stitch.resolver import CLUSTERS_TABLE, ResolveResult

# Amperity's pair levels, as Splink match probabilities (documented in docs/catalog.md). Exact = a rule link.
LEVEL_PROBABILITY = {"excellent": 0.999, "high": 0.95, "moderate": 0.8, "weak": 0.5}
LEVELS = ("exact", "excellent", "high", "moderate", "weak")
MODEL_TABLE = "stitch.model"


def level_sql(probability: str) -> str:
    cases = " ".join(f"WHEN {probability} >= {p} THEN '{name}'" for name, p in LEVEL_PROBABILITY.items())
    return f"CASE {cases} ELSE 'non-match' END"


def link_threshold(settings: StitchSettings) -> float:
    """The smallest match probability that links: pairs at or below the threshold level are dropped."""
    order = list(LEVEL_PROBABILITY)  # excellent, high, moderate, weak
    index = order.index(settings.match_threshold)
    return LEVEL_PROBABILITY[order[index - 1]] if index > 0 else 0.99999


@cache
def nickname_forms() -> list[tuple[str, list[str]]]:
    """(NAME, [formal names it is a nickname of]) from a curated English nickname dictionary: BILL -> [WILLIAM],
    RON -> [AARON, RONALD]."""

    parents: dict[str, set[str]] = {}
    for triplet in name_triplets():
        parents.setdefault(triplet.name2.upper(), set()).add(triplet.name1.upper())
    return sorted((name, sorted(formal)) for name, formal in parents.items())


def _arrow(conn: duckdb.DuckDBPyConnection, sql: str):
    """A query's rows as an Arrow table (one extra copy, which DuckDB warns about; it is the price of moving
    rows between the warehouse and the scratch database inside the warehouse's transaction)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return conn.execute(sql).to_arrow_table()


@dataclass
class Phases:
    seconds: dict[str, float] = field(default_factory=dict)
    _last: float = field(default_factory=time.perf_counter)

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._last, 3)
        self._last = now


class SplinkResolver:
    """Fellegi-Sunter model from the tenant's semantic tags; clusters written to stitch.clusters."""

    def __init__(self, mode: str | None = None, threads: int | None = None):
        self.mode = mode
        self.threads = threads

    # ------------------------------------------------------------------ preparation
    def present_columns(self, catalog: Catalog) -> set[str]:
        """The match columns the Stitch feeds fill: tag columns, fk identifiers and the catalog's match_columns."""
        tags = {t for f in catalog.stitch_feeds for c in f.columns for t in c.tag}
        present = {tag_column(t) for t in tags}
        if {"given_name", "surname"} <= present:
            present.add("name_key")
        # gender is left out: it separates few pairs, and EM cannot train it when one source carries it
        kept = {"given_name", "surname", "birthdate", "email", "phone", "address", "postal", "city", "name_key"}
        kept |= {tag_column(t) for t in tags if t.startswith("fk-")}
        extra = {name for name in catalog.stitch.match_columns
                 if any(match_column_source(catalog, name, feed) for feed in catalog.stitch_feeds)}
        return (present & kept) | extra

    def prepare(self, warehouse: duckdb.DuckDBPyConnection, mem: duckdb.DuckDBPyConnection, catalog: Catalog,
                present: set[str]) -> dict[str, int]:
        from workflow_platform.stitch import model as spec  # deferred: imports splink (see above)

        settings = catalog.stitch
        keys = [tag_column(t) for t in fk_namespaces(catalog)] + sorted(spec.extra_columns(present, settings))
        columns = ["given_name", "surname", "birthdate", "email", "phone", "address", "postal", "city"]
        selected = ", ".join(ident(c) for c in columns + keys)
        # DuckDB reads these Arrow tables by their Python names (replacement scans)
        source = _arrow(warehouse, f"SELECT record_key, source, {selected} FROM {RECORDS_TABLE}")  # noqa: F841
        names = ", ".join(literal(n.upper()) for n in settings.name_blocklist) or "NULL"
        mem.execute("CREATE OR REPLACE TABLE wp_nicknames (name VARCHAR PRIMARY KEY, formal VARCHAR[])")
        mem.executemany("INSERT INTO wp_nicknames VALUES (?, ?)", nickname_forms())
        mem.execute(
            f"""
            CREATE OR REPLACE TABLE wp_input AS
            WITH cleaned AS (
              SELECT record_key, source,
                     CASE WHEN given_name IN ({names}) THEN NULL ELSE given_name END AS given_name,
                     CASE WHEN surname IN ({names}) THEN NULL ELSE surname END AS surname,
                     birthdate, {mailbox('email')} AS email, phone, address, postal, city
                     {''.join(', ' + ident(k) for k in keys)}
              FROM source
            )
            SELECT row_number() OVER (ORDER BY record_key) AS unique_id, c.*,
                   -- the name and the formal names it is a nickname of; the root is the first formal one
                   CASE WHEN c.given_name IS NOT NULL THEN list_distinct(list_prepend(c.given_name,
                        coalesce(r.formal, []))) END AS given_name_forms,
                   coalesce(r.formal[1], c.given_name) AS given_name_root,
                   CASE WHEN c.given_name IS NOT NULL AND c.surname IS NOT NULL
                        THEN c.given_name || ' ' || c.surname END AS name_key
            FROM cleaned c LEFT JOIN wp_nicknames r ON r.name = c.given_name
            """
        )
        blocked = {}
        evidence = [c for c in spec.identifiers(present) if spec.trust(settings, c) == "evidence"]
        for column in ("email", "phone", *evidence):
            if column not in present:
                continue
            # an identifier held by many records, or by many differently named people, is not personal
            count = mem.execute(
                f"""
                WITH common AS (SELECT {ident(column)} AS v FROM wp_input WHERE {ident(column)} IS NOT NULL GROUP BY ALL
                                HAVING count(*) > {int(settings.max_records_per_value)}
                                    OR count(DISTINCT coalesce(given_name_root, '') || '|' || coalesce(surname, ''))
                                       > {int(settings.max_names_per_value)})
                UPDATE wp_input SET {ident(column)} = NULL FROM common WHERE {ident(column)} = common.v
                """
            ).fetchone()[0]
            if count or column in ("email", "phone"):
                blocked[column] = count
        return blocked

    # ------------------------------------------------------------------ model
    def linker(self, engine: Engine, catalog: Catalog, present: set[str], stored: str | None,
               only_new: bool = False):
        """The Splink linker on the engine's copy of wp_input: the stored model, or a newly trained one. With
        only_new (an incremental run on a stored model), candidate pairs are those of the model's blocking rules
        that hold a new record."""
        from splink import Linker

        from workflow_platform.stitch import model as spec

        frame = engine.frame("wp_input")
        mem = engine.mem
        if stored is None:
            untrained = Linker(frame, spec.settings_creator(present, catalog.stitch, engine.dialect),
                               log_level=logging.ERROR)
            model, self.weights = spec.train(untrained, mem, present, catalog.stitch)
            return Linker(frame, model, log_level=logging.ERROR), "trained"
        model = json.loads(stored)
        if only_new:
            for rule in model["blocking_rules_to_generate_predictions"]:
                rule["blocking_rule"] = f"({rule['blocking_rule']}) AND (l.is_new OR r.is_new)"
        return Linker(frame, model, log_level=logging.ERROR), "reused"

    def stored_model(self, warehouse: duckdb.DuckDBPyConnection, fingerprint: str) -> str | None:
        row = warehouse.execute(f"SELECT model_json, weights FROM {MODEL_TABLE} WHERE fingerprint = ? "
                                "ORDER BY trained_at DESC LIMIT 1", [fingerprint]).fetchone()
        if row:
            self.weights = json.loads(row[1] or "{}")
        return row[0] if row else None

    # ------------------------------------------------------------------ resolve
    def resolve(self, conn: duckdb.DuckDBPyConnection, catalog: Catalog) -> ResolveResult:
        from workflow_platform.stitch import model as spec

        settings = catalog.stitch
        mode = self.mode or settings.mode
        phases = Phases()
        present = self.present_columns(catalog)
        conn.execute(f"CREATE TABLE IF NOT EXISTS {MODEL_TABLE} (fingerprint VARCHAR, trained_at TIMESTAMP, "
                     "records BIGINT, model_json VARCHAR)")
        conn.execute(f"ALTER TABLE {MODEL_TABLE} ADD COLUMN IF NOT EXISTS weights VARCHAR")  # trained or prior
        self.weights: dict[str, str] = {}
        mem = duckdb.connect()
        if self.threads:
            mem.execute(f"SET threads = {int(self.threads)}")
        mem.execute("SET preserve_insertion_order = false")
        blocked = self.prepare(conn, mem, catalog, present)
        records = mem.execute("SELECT count(*) FROM wp_input").fetchone()[0]
        # incremental: a previous run and a stored model to attach new records with; else a normal run
        fingerprint = spec.model_fingerprint(present, settings, "spark" if settings.engine == "spark" else "duckdb")
        stored = None if mode == "force_refresh" else self.stored_model(conn, fingerprint)
        incremental = mode == "incremental" and stored is not None and self._load_previous(conn, mem)
        if incremental:
            mem.execute("CREATE OR REPLACE TABLE wp_input AS SELECT i.*, p.record_key IS NULL AS is_new "
                        "FROM wp_input i LEFT JOIN wp_prev p USING (record_key)")
        mem.execute("SET enable_external_access = false")  # catalog blocking rules and comparisons are user SQL
        phases.mark("prepare")
        with engines.engine(settings, mem) as engine:  # Spark: a session for the Splink calls only
            phases.mark("engine")
            linker, how = self.linker(engine, catalog, present, stored, only_new=incremental)
            phases.mark("train")
            # blocked pairs are computed once: predict() scores the cached table
            blocked_pairs = linker.inference.compute_blocked_pairs_for_predict()
            candidate_pairs = engine.count(blocked_pairs.physical_name)
            predictions = linker.inference.predict(threshold_match_probability=LEVEL_PROBABILITY["weak"])
            engine.pairs(predictions.physical_name, "wp_pairs")
            model_json = json.dumps(linker.misc.save_model_to_json())
        phases.mark("predict")
        threshold = link_threshold(settings)
        result = self.cluster(mem, catalog, threshold, present, incremental)
        phases.mark("cluster")
        result.records = records
        result.candidate_pairs = candidate_pairs
        result.blocked_values = blocked
        result.model = how
        result.weights = self.weights
        result.mode = "incremental" if incremental else ("force_refresh" if mode == "force_refresh" else "normal")
        if how != "reused":
            conn.execute(f"DELETE FROM {MODEL_TABLE} WHERE fingerprint = ?", [fingerprint])
            conn.execute(f"INSERT INTO {MODEL_TABLE} VALUES (?, now(), ?, ?, ?)",
                         [fingerprint, records, model_json, json.dumps(self.weights)])
        clusters = _arrow(mem,  # noqa: F841 - read by name below
                           "SELECT record_key, cluster, match_rule, match_score, match_level FROM wp_clusters")
        conn.execute(f"CREATE OR REPLACE TABLE {CLUSTERS_TABLE} AS SELECT * FROM clusters ORDER BY record_key")
        mem.close()
        phases.mark("write")
        result.phases = phases.seconds
        return result

    @staticmethod
    def _load_previous(warehouse: duckdb.DuckDBPyConnection, mem: duckdb.DuckDBPyConnection) -> bool:
        """Copy the previous run's record -> customer id into the scratch database; False when there is none."""
        if not table_exists(warehouse, "stitch.customer_ids"):
            return False
        previous = _arrow(warehouse,  # noqa: F841 - read by name below
                           "SELECT record_key, customer_id FROM stitch.customer_ids")
        mem.execute("CREATE OR REPLACE TABLE wp_prev AS SELECT * FROM previous")
        return mem.execute("SELECT count(*) FROM wp_prev").fetchone()[0] > 0

    def cluster(self, mem: duckdb.DuckDBPyConnection, catalog: Catalog, threshold: float,
                present: set[str], incremental: bool = False) -> ResolveResult:
        settings = catalog.stitch
        keys = [tag_column(t) for t in fk_namespaces(catalog)]
        from workflow_platform.stitch import model as spec

        # identifiers trusted to link; an `evidence` one is a comparison of the model instead
        fks = [k for k in keys if k.startswith("fk_") and (k not in present or spec.trust(settings, k) == "link")]
        sks = [k for k in keys if k.startswith("sk_")]
        exact_parts = [f"SELECT unique_id AS id, {literal(k + ':')} || {ident(k)} AS key, 'foreign_key' AS rule "
                       f"FROM wp_input WHERE {ident(k)} IS NOT NULL" for k in fks if "foreign_key" in settings.rules]
        if "email" in present and "email" in settings.rules:
            exact_parts.append("SELECT unique_id AS id, 'email:' || email AS key, 'email' AS rule FROM wp_input "
                               "WHERE email IS NOT NULL")
        exact_sql = " UNION ALL ".join(exact_parts) or "SELECT NULL::BIGINT AS id, NULL AS key, NULL AS rule WHERE false"
        mem.execute(
            f"""
            CREATE OR REPLACE TABLE wp_exact AS
            WITH keyed AS ({exact_sql}),
            anchors AS (SELECT key, min(id) AS anchor FROM keyed GROUP BY key HAVING count(*) > 1)
            SELECT least(k.id, a.anchor) AS a, greatest(k.id, a.anchor) AS b, min(k.rule) AS rule
            FROM keyed k JOIN anchors a USING (key) WHERE k.id <> a.anchor GROUP BY ALL
            """
        )
        conflict = " OR ".join(f"coalesce(l.{ident(k)} <> r.{ident(k)}, false)" for k in sks) or "false"
        household = self._household_sql(present)
        mem.execute(
            f"""
            CREATE OR REPLACE TABLE wp_scored AS
            SELECT e.a, e.b, 1.0 AS p, 'exact' AS level, e.rule,
                   -- an exact link still links; for a shared fk value it is counted (identifier_conflicts)
                   e.rule = 'foreign_key' AND coalesce({household}, false) AS household, ({conflict}) AS separated
            FROM wp_exact e JOIN wp_input l ON l.unique_id = e.a JOIN wp_input r ON r.unique_id = e.b
            UNION ALL
            SELECT s.a, s.b, s.p, {level_sql('s.p')} AS level, 'probabilistic' AS rule, coalesce({household}, false) AS household,
                   ({conflict}) AS separated
            FROM wp_pairs s JOIN wp_input l ON l.unique_id = s.a JOIN wp_input r ON r.unique_id = s.b
            """
        )
        mem.execute(f"""CREATE OR REPLACE TABLE wp_links AS SELECT a, b, max(p) AS p, arg_max(rule, p) AS rule
                        FROM wp_scored WHERE NOT separated
                                             AND (rule <> 'probabilistic' OR (NOT household AND p >= {threshold}))
                        GROUP BY a, b""")
        counts = dict(mem.execute("SELECT level, count(*) FROM wp_scored GROUP BY level").fetchall())
        household_dropped, separated_dropped, identifier_conflicts = mem.execute(
            f"SELECT count(*) FILTER (WHERE household AND rule = 'probabilistic' AND p >= {threshold}), "
            "count(*) FILTER (WHERE separated), count(*) FILTER (WHERE household AND rule = 'foreign_key') "
            "FROM wp_scored").fetchone()
        if incremental:
            rounds, capped, split = self._attach(mem), 0, 0
        else:
            rounds = connected_components(mem, "(SELECT unique_id AS id FROM wp_input)", "wp_links", "wp_labels")
            capped = self._cap(mem, settings.max_cluster_size)
            split = separate(mem, "(SELECT unique_id AS id, * FROM wp_input)", "wp_links", "wp_labels", sks, household)
        mem.execute(
            f"""
            CREATE OR REPLACE TABLE wp_clusters AS
            WITH best AS (
              SELECT id, max(p) AS p, arg_max(rule, p) AS rule FROM (
                SELECT a AS id, p, rule FROM wp_links UNION ALL SELECT b, p, rule FROM wp_links) GROUP BY id
            )
            SELECT i.record_key, CAST(l.label AS VARCHAR) AS cluster,
                   CASE WHEN b.rule = 'probabilistic' THEN 'probabilistic' ELSE b.rule END AS match_rule,
                   b.p AS match_score,
                   CASE WHEN b.rule IS NULL THEN NULL WHEN b.rule <> 'probabilistic' THEN 'exact'
                        ELSE {level_sql('b.p')} END AS match_level
            FROM wp_input i JOIN wp_labels l ON l.id = i.unique_id LEFT JOIN best b ON b.id = i.unique_id
            """
        )
        links, clusters = mem.execute(
            "SELECT (SELECT count(*) FROM wp_links), count(DISTINCT cluster) FROM wp_clusters").fetchone()
        above = mem.execute(f"SELECT count(*) FROM wp_scored WHERE rule = 'probabilistic' AND p >= {threshold}"
                            ).fetchone()[0]
        return ResolveResult(
            records=0, links=links, clusters=clusters, iterations=rounds, pairs_above_threshold=above,
            exact_links=counts.get("exact", 0), pairs_by_level={k: counts.get(k, 0) for k in LEVELS},
            household_pairs_dropped=household_dropped, separation_pairs_dropped=separated_dropped,
            capped_clusters=capped, split_clusters=split, identifier_conflicts=identifier_conflicts,
        )

    @staticmethod
    def _household_sql(present: set[str]) -> str:
        """Two given names that are not the same name (no typo, nickname, initial or swap apart) and birthdates
        not known to be equal: two people — of one household when they share a surname, an address or a phone —
        however much else they share. Such pairs never link probabilistically."""
        if "given_name" not in present:
            return "false"
        swapped = ("coalesce(l.given_name = r.surname OR l.surname = r.given_name OR "
                   "(jaro_winkler_similarity(l.given_name, r.surname) >= 0.88 AND "
                   "jaro_winkler_similarity(l.surname, r.given_name) >= 0.88), false)") if "surname" in present \
            else "false"
        different_given = ("l.given_name IS NOT NULL AND r.given_name IS NOT NULL "
                           "AND jaro_winkler_similarity(l.given_name, r.given_name) < 0.8 "
                           "AND NOT list_has_any(l.given_name_forms, r.given_name_forms) "
                           f"AND NOT {initial_sql('l.given_name', 'r.given_name')} "
                           f"AND NOT {swapped}")
        same_birthdate = "coalesce(l.birthdate = r.birthdate, false)" if "birthdate" in present else "false"
        return f"{different_given} AND NOT {same_birthdate}"

    @staticmethod
    def _attach(mem: duckdb.DuckDBPyConnection) -> int:
        """Incremental: previous records keep their customer (nothing splits or merges); new records join the
        customer of their strongest link to a previous record, or form new customers among themselves."""
        mem.execute("CREATE OR REPLACE TABLE wp_old AS SELECT i.unique_id AS id, p.customer_id FROM wp_input i "
                    "JOIN wp_prev p USING (record_key)")
        mem.execute("CREATE OR REPLACE TABLE wp_new AS SELECT unique_id AS id FROM wp_input "
                    "WHERE unique_id NOT IN (SELECT id FROM wp_old)")
        mem.execute("CREATE OR REPLACE TABLE wp_new_links AS SELECT a, b FROM wp_links "
                    "WHERE a IN (SELECT id FROM wp_new) AND b IN (SELECT id FROM wp_new)")
        rounds = connected_components(mem, "wp_new", "wp_new_links", "wp_new_labels")
        mem.execute(
            """
            CREATE OR REPLACE TABLE wp_labels AS
            WITH crossing AS (
              SELECT n.id AS new_id, o.customer_id, l.p FROM wp_links l JOIN wp_new n ON n.id = l.a JOIN wp_old o ON o.id = l.b
              UNION ALL
              SELECT n.id, o.customer_id, l.p FROM wp_links l JOIN wp_new n ON n.id = l.b JOIN wp_old o ON o.id = l.a
            ),
            attach AS (SELECT nl.label, arg_max(c.customer_id, c.p) AS customer_id
                       FROM crossing c JOIN wp_new_labels nl ON nl.id = c.new_id GROUP BY nl.label)
            SELECT id, 'id:' || customer_id AS label FROM wp_old
            UNION ALL
            SELECT nl.id, coalesce('id:' || a.customer_id, 'new:' || nl.label) FROM wp_new_labels nl LEFT JOIN attach a USING (label)
            """
        )
        return rounds

    @staticmethod
    def _cap(mem: duckdb.DuckDBPyConnection, max_size: int) -> int:
        """Re-cluster every cluster above max_size on its excellent and exact links only."""
        big = mem.execute(f"SELECT label FROM wp_labels GROUP BY label HAVING count(*) > {int(max_size)}").fetchall()
        if not big:
            return 0
        strong = LEVEL_PROBABILITY["excellent"]
        mem.execute(
            f"""
            CREATE OR REPLACE TABLE wp_big_nodes AS
            SELECT id FROM wp_labels WHERE label IN (SELECT label FROM wp_labels GROUP BY label
                                                     HAVING count(*) > {int(max_size)})
            """
        )
        mem.execute(f"""CREATE OR REPLACE TABLE wp_big_links AS SELECT a, b FROM wp_links
                        WHERE p >= {strong} AND a IN (SELECT id FROM wp_big_nodes)""")
        connected_components(mem, "wp_big_nodes", "wp_big_links", "wp_big_labels")
        mem.execute("UPDATE wp_labels SET label = n.label FROM wp_big_labels n WHERE wp_labels.id = n.id")
        return len(big)
