"""One Stitch run end to end, and its QA: what the asset metadata, the alerts and `stitch-report` show.

The QA of every run is kept in `stitch.runs.qa` (JSON), so the report of the last run needs no Dagster.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import dagster as dg
import duckdb

from workflow_platform.catalog.models import Catalog, StitchSettings
from workflow_platform.sql import table_exists, transaction
from workflow_platform.stitch.deterministic import DeterministicResolver
from workflow_platform.stitch.ids import assign_ids
from workflow_platform.stitch.probabilistic import SplinkResolver
from workflow_platform.stitch.records import build_records
from workflow_platform.stitch.resolver import CLUSTERS_TABLE

SIZE_BUCKETS = ((1, 1), (2, 2), (3, 3), (4, 5), (6, 10), (11, 50), (51, 10**12))


@dataclass
class StitchQA:
    run: int
    mode: str
    resolver: str
    model: str  # trained | reused | rules
    records: int
    candidate_pairs: int
    pairs_above_threshold: int
    exact_links: int
    links: int
    clusters: int
    singleton_share_pct: float
    largest_cluster: int
    cluster_sizes: list[dict[str, int]]  # [{"size": "4-5", "clusters": n, "records": m}, ...]
    id_churn_pct: float
    records_changed_id: int
    new_customer_ids: int
    pairs_by_level: dict[str, int] = field(default_factory=dict)
    blocked_values: dict[str, int] = field(default_factory=dict)
    household_pairs_dropped: int = 0
    separation_pairs_dropped: int = 0
    capped_clusters: int = 0
    split_clusters: int = 0  # rebuilt: a chain of links joined two sk values or two members of a household
    # exact links on a shared fk value between records whose given names and birthdates disagree: what
    # `stitch.identifiers: {fk-...: evidence}` would keep apart
    identifier_conflicts: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    elapsed_seconds: float = 0.0
    # comparison -> "trained" or "prior (why)": what the data trained and what kept the model's starting values
    weights: dict[str, str] = field(default_factory=dict)

    @property
    def priors(self) -> list[str]:
        """The comparisons whose weights are priors, not trained on this data."""
        return [k for k, v in self.weights.items() if v.startswith("prior") and k != "probability_two_random_records_match"]

    @property
    def comparisons_per_second(self) -> float:
        predict = self.phases.get("predict", 0.0)
        return round(self.candidate_pairs / predict) if predict and self.candidate_pairs > 0 else 0.0

    def warnings(self, settings: StitchSettings) -> list[str]:
        out = []
        if self.id_churn_pct > settings.churn_warning_pct:
            out.append(f"customer id churn {self.id_churn_pct:.2f}% of {self.records:,} records is above "
                       f"{settings.churn_warning_pct}%")
        if self.largest_cluster > settings.max_cluster_size:
            out.append(f"largest cluster has {self.largest_cluster:,} records, above stitch.max_cluster_size "
                       f"{settings.max_cluster_size}")
        elif self.capped_clusters:
            out.append(f"{self.capped_clusters} clusters above stitch.max_cluster_size {settings.max_cluster_size} "
                       "were re-clustered on their strongest links")
        return out


def run_stitch(conn: duckdb.DuckDBPyConnection, catalog: Catalog, mode: str = "normal",
               threads: int | None = None) -> StitchQA:
    """Records -> clusters -> stable ids, in one transaction; returns (and stores) the run's QA."""
    started = time.perf_counter()
    settings = catalog.stitch
    with transaction(conn):
        t0 = time.perf_counter()
        build_records(conn, catalog)
        records_seconds = round(time.perf_counter() - t0, 3)
        if settings.resolver == "probabilistic":
            resolved = SplinkResolver(mode=mode, threads=threads).resolve(conn, catalog)
            phases = {"records": records_seconds, **resolved.phases}
        else:
            t0 = time.perf_counter()
            resolved = DeterministicResolver().resolve(conn, catalog)
            phases = {"records": records_seconds, "cluster": round(time.perf_counter() - t0, 3)}
        t0 = time.perf_counter()
        ids = assign_ids(conn)
        phases["ids"] = round(time.perf_counter() - t0, 3)
        sizes = conn.execute(
            f"SELECT size, count(*) FROM (SELECT count(*) AS size FROM {CLUSTERS_TABLE} GROUP BY cluster) "
            "GROUP BY size").fetchall()
        buckets = []
        for low, high in SIZE_BUCKETS:
            clusters = sum(n for s, n in sizes if low <= s <= high)
            if clusters:
                label = str(low) if low == high else (f"{low}-{high}" if high < 10**12 else f"{low}+")
                buckets.append({"size": label, "clusters": clusters,
                                "records": sum(s * n for s, n in sizes if low <= s <= high)})
        singletons = sum(n for s, n in sizes if s == 1)
        links = resolved.links
        qa = StitchQA(
            run=ids.run, mode=resolved.mode if settings.resolver == "probabilistic" else mode,
            resolver=settings.resolver, model=resolved.model, records=resolved.records,
            candidate_pairs=links if resolved.candidate_pairs is None else resolved.candidate_pairs,
            pairs_above_threshold=links if resolved.pairs_above_threshold is None else resolved.pairs_above_threshold,
            exact_links=links if resolved.exact_links is None else resolved.exact_links, links=links,
            clusters=ids.customers,
            singleton_share_pct=round(100.0 * singletons / max(ids.customers, 1), 2),
            largest_cluster=max((s for s, _ in sizes), default=0), cluster_sizes=buckets,
            id_churn_pct=round(ids.churn_pct, 4), records_changed_id=ids.records_changed,
            new_customer_ids=ids.new_ids, pairs_by_level=resolved.pairs_by_level,
            blocked_values=resolved.blocked_values, household_pairs_dropped=resolved.household_pairs_dropped,
            separation_pairs_dropped=resolved.separation_pairs_dropped, capped_clusters=resolved.capped_clusters,
            split_clusters=resolved.split_clusters, identifier_conflicts=resolved.identifier_conflicts,
            phases=phases, weights=resolved.weights,
        )
        qa.elapsed_seconds = round(time.perf_counter() - started, 3)
        conn.execute("ALTER TABLE stitch.runs ADD COLUMN IF NOT EXISTS qa VARCHAR")
        conn.execute("UPDATE stitch.runs SET qa = ? WHERE run = ?", [json.dumps(asdict(qa)), qa.run])
    return qa


def last_qa(conn: duckdb.DuckDBPyConnection) -> StitchQA | None:
    """The QA of the last Stitch run in this warehouse, or None."""
    if not table_exists(conn, "stitch.runs"):
        return None
    columns = {r[0] for r in conn.execute("DESCRIBE stitch.runs").fetchall()}
    if "qa" not in columns:
        return None
    row = conn.execute("SELECT qa FROM stitch.runs WHERE qa IS NOT NULL ORDER BY run DESC LIMIT 1").fetchone()
    return StitchQA(**json.loads(row[0])) if row else None


def size_chart(qa: StitchQA, width: int = 30) -> str:
    """The cluster-size distribution as a text bar chart (records per size bucket)."""
    most = max((b["records"] for b in qa.cluster_sizes), default=1)
    lines = []
    for b in qa.cluster_sizes:
        bar = "█" * max(1, round(width * b["records"] / most))
        lines.append(f"{b['size']:>6} │ {bar} {b['clusters']:,} clusters, {b['records']:,} records")
    return "\n".join(lines)


def qa_metadata(qa: StitchQA) -> dict[str, dg.MetadataValue]:
    """Numbers as numbers (the UI plots them over runs); the size distribution as a chart and a table."""
    numbers = {
        "records": qa.records, "candidate_pairs": qa.candidate_pairs, "pairs_above_threshold": qa.pairs_above_threshold,
        "exact_links": qa.exact_links, "customers": qa.clusters, "largest_cluster": qa.largest_cluster,
        "new_customer_ids": qa.new_customer_ids, "records_changed_id": qa.records_changed_id,
        "household_pairs_dropped": qa.household_pairs_dropped, "stitch_run": qa.run,
        "split_clusters": qa.split_clusters, "identifier_conflicts": qa.identifier_conflicts,
    }
    metadata: dict[str, dg.MetadataValue] = {k: dg.MetadataValue.int(v) for k, v in numbers.items()}
    metadata.update({
        "singleton_share_pct": dg.MetadataValue.float(qa.singleton_share_pct),
        "id_churn_pct": dg.MetadataValue.float(qa.id_churn_pct),
        "comparisons_per_second": dg.MetadataValue.float(float(qa.comparisons_per_second)),
        "elapsed_seconds": dg.MetadataValue.float(qa.elapsed_seconds),
        "mode": dg.MetadataValue.text(qa.mode),
        "model": dg.MetadataValue.text(f"{qa.resolver} ({qa.model})"),
        "pairs_by_level": dg.MetadataValue.json(qa.pairs_by_level),
        "elapsed_seconds_by_phase": dg.MetadataValue.json(qa.phases),
        "cluster_size_chart": dg.MetadataValue.md(f"```\n{size_chart(qa)}\n```"),
        "cluster_sizes": dg.MetadataValue.table(
            records=[dg.TableRecord(b) for b in qa.cluster_sizes],
            schema=dg.TableSchema(columns=[dg.TableColumn("size", "string"), dg.TableColumn("clusters", "int"),
                                           dg.TableColumn("records", "int")])),
    })
    if qa.blocked_values:
        metadata["junk_values_blocked"] = dg.MetadataValue.json(qa.blocked_values)
    if qa.weights:
        metadata["weights"] = dg.MetadataValue.json(qa.weights)
        metadata["weights_from_priors"] = dg.MetadataValue.text(", ".join(qa.priors) or "none: all trained")
    return metadata


def report(qa: StitchQA) -> str:
    """The text `workflow-platform stitch-report` prints."""
    lines = [
        f"Stitch run {qa.run}: {qa.resolver} resolver, mode {qa.mode}, model {qa.model}, {qa.elapsed_seconds:.1f} s",
        f"  records                 {qa.records:>12,}",
        f"  candidate pairs         {qa.candidate_pairs:>12,}",
        f"  pairs above threshold   {qa.pairs_above_threshold:>12,}",
        f"  exact links (email/fk)  {qa.exact_links:>12,}",
        f"  customers (clusters)    {qa.clusters:>12,}",
        f"  singleton share         {qa.singleton_share_pct:>11.2f}%",
        f"  largest cluster         {qa.largest_cluster:>12,}",
        f"  id churn                {qa.id_churn_pct:>11.2f}%  ({qa.records_changed_id:,} records changed id)",
        f"  new customer ids        {qa.new_customer_ids:>12,}",
        f"  household pairs kept apart {qa.household_pairs_dropped:>9,}",
        f"  clusters split (chains)  {qa.split_clusters:>11,}",
        f"  fk links that names and birthdates contradict {qa.identifier_conflicts:,}",
    ]
    if qa.pairs_by_level:
        lines.append("  pairs by level          " + ", ".join(f"{k} {v:,}" for k, v in qa.pairs_by_level.items()))
    if qa.blocked_values:
        lines.append("  junk values blocked     " + ", ".join(f"{k} {v:,} records" for k, v in qa.blocked_values.items()))
    if qa.weights:
        trained = [k for k, v in qa.weights.items() if v.startswith("trained")]
        lines.append("  weights trained         " + (", ".join(trained) or "none"))
        lines.append("  weights from priors     " + (", ".join(f"{k} {qa.weights[k].removeprefix('prior ')}"
                                                            for k in qa.priors) or "none"))
    if qa.comparisons_per_second:
        lines.append(f"  comparisons per second  {qa.comparisons_per_second:>12,.0f}")
    lines.append("  seconds by phase        " + ", ".join(f"{k} {v:.2f}" for k, v in qa.phases.items()))
    lines.append("  cluster sizes")
    lines.extend("    " + line for line in size_chart(qa).splitlines())
    return "\n".join(lines)
