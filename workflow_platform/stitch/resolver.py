"""The identity-resolution interface: turn `stitch.records` into clusters of the same person.

A resolver writes `stitch.clusters(record_key, cluster, match_rule)`; `stitch.ids` then gives each
cluster a stable customer id. The deterministic resolver is the first implementation; a probabilistic
one can replace it behind the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
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


class IdentityResolver(Protocol):
    def resolve(self, conn: duckdb.DuckDBPyConnection, catalog: Catalog) -> ResolveResult: ...
