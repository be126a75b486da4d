"""A file a courier found in its landing location: what the readers, checks and the manifest pass around."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class LandedFile:
    url: str  # what DuckDB reads: a local path or a protocol URL
    relative: str  # path relative to the location root, as the pattern sees it
    day: dt.date | None  # the date the pattern matched it for (None for undated couriers)
    size: int
