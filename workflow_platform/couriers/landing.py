"""Find a courier's files in its landing location through fsspec (local folder, s3://, sftp://)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import fsspec

from workflow_platform.catalog.models import Courier, Location
from workflow_platform.couriers.patterns import FilePattern
from workflow_platform.storage import is_local, open_url


@dataclass(frozen=True)
class LandedFile:
    url: str  # what DuckDB reads: a local path or a protocol URL
    relative: str  # path relative to the location root, as the pattern sees it
    day: dt.date | None  # the date the pattern matched it for (None for undated couriers)
    size: int


@dataclass(frozen=True)
class FileSearch:
    files: list[LandedFile]
    missing_days: list[dt.date]  # days with no file (dated couriers); [None] for an undated courier with none


def open_location(location: Location) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and root path of a location; secret storage options come from environment variables."""
    return open_url(location.url, location.storage_options, location.storage_options_env,
                    f"location {location.name!r}")


def remote_filesystems(location: Location) -> list[fsspec.AbstractFileSystem]:
    """The filesystem DuckDB must be given to read this location's URLs ([] for a local folder)."""
    fs, _ = open_location(location)
    return [] if is_local(fs) else [fs]


def file_url(fs: fsspec.AbstractFileSystem, path: str) -> str:
    return path if is_local(fs) else fs.unstrip_protocol(path)


def find_files(courier: Courier, location: Location, days: list[dt.date] | None) -> FileSearch:
    """Files matching the courier's pattern for each day, ordered by day then name.

    An undated pattern ignores `days` and takes every file that matches."""
    fs, root = open_location(location)
    if re.search(r"[*?\[\]{}]", root):
        raise ValueError(f"location {location.name!r}: its folder {root!r} contains * ? [ ] {{ }}, which file search "
                         "would read as a pattern; use a folder without them")
    pattern = FilePattern.parse(courier.pattern)
    wanted: list[dt.date | None] = list(days or []) if pattern.dated else [None]
    found: list[LandedFile] = []
    seen: set[str] = set()
    missing: list[dt.date | None] = []
    for day in wanted:
        regex = pattern.regex(day)
        candidates = fs.glob(f"{root}/{pattern.glob(day)}", detail=True) if fs.exists(root) else {}
        matched = []
        for path, info in candidates.items():
            relative = path[len(root) + 1 :] if path.startswith(root + "/") else path
            if info.get("type") == "file" and regex.fullmatch(relative) and path not in seen:
                seen.add(path)
                matched.append(LandedFile(file_url(fs, path), relative, day, int(info.get("size") or 0)))
        if not matched:
            missing.append(day)
        found.extend(sorted(matched, key=lambda f: f.relative))
    return FileSearch(found, missing)


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every day from start to end, both inclusive."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
