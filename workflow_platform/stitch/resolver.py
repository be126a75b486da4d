"""The identity-resolution interface: turn `stitch.records` into clusters of the same person.

A resolver writes `stitch.clusters(record_key, cluster, match_rule, match_score, match_level)`; `stitch.ids`
then gives each cluster a stable customer id. Two implementations: `probabilistic.SplinkResolver` (the default)
and `deterministic.DeterministicResolver` (exact rules; `stitch.resolver: deterministic`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import duckdb

from workflow_platform.catalog.models import Catalog

CLUSTERS_TABLE = "stitch.clusters"


@dataclass
class ResolveResult:
    records: int
    links: int
    clusters: int
    iterations: int
    candidate_pairs: int | None = None  # None: every link is a pair (exact rules)
    pairs_above_threshold: int | None = None
    exact_links: int | None = None
    pairs_by_level: dict[str, int] = field(default_factory=dict)
    blocked_values: dict[str, int] = field(default_factory=dict)
    household_pairs_dropped: int = 0
    separation_pairs_dropped: int = 0
    capped_clusters: int = 0
    split_clusters: int = 0  # rebuilt because a chain of links joined two sk values or two household members
    identifier_conflicts: int = 0  # exact fk links between records whose given names and birthdates disagree
    model: str = "rules"  # trained | reused | rules
    weights: dict[str, str] = field(default_factory=dict)  # comparison -> trained | prior (why)
    mode: str = "normal"  # what ran: incremental falls back to normal without a previous run or model
    phases: dict[str, float] = field(default_factory=dict)


class IdentityResolver(Protocol):
    def resolve(self, conn: duckdb.DuckDBPyConnection, catalog: Catalog) -> ResolveResult: ...
