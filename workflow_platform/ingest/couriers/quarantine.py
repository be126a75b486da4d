"""Move a refused file out of the landing pattern's way: into `<location>/<quarantine>/`, with a reason file.

The reason file is written first, so a crash between the two steps leaves an explanation, never a silently
vanished file. An earlier quarantined copy of the same name is never overwritten (a timestamp prefix).

Only a file of a declared landing location moves: the location opens through storage.open_url (inside the
operator's allowed roots, WORKFLOW_PLATFORM_ALLOWED_ROOTS), a local file must resolve inside the location's
folder, and a folder holding the warehouse (the data folder itself, or above it) is never treated as landing.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath

from workflow_platform.catalog.models import Location
from workflow_platform.ingest.couriers.landing import LandedFile, LandingEscape, inside, open_location
from workflow_platform.settings import warehouse_path
from workflow_platform.storage import is_local


def quarantine_file(location: Location, landed: LandedFile, reason: str, details: dict[str, str]) -> str:
    """Move `landed` to the location's quarantine folder beside `<name>.reason.txt`; returns the new relative
    path (inside the location)."""
    fs, root = open_location(location)
    if is_local(fs):
        _check_movable(location, landed, fs._strip_protocol(landed.url), root)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder, name = posixpath.split(landed.relative)
    relative = posixpath.join(location.quarantine, folder, f"{stamp}-{name}")
    target = f"{root}/{relative}"
    fs.makedirs(posixpath.dirname(target), exist_ok=True)
    if is_local(fs) and not inside(os.path.realpath(posixpath.dirname(target)), os.path.realpath(root)):
        raise LandingEscape(f"location {location.name!r}: its quarantine folder {location.quarantine!r} resolves "
                            "outside the location folder through a symbolic link; refused")
    lines = [f"file: {landed.relative}", f"reason: {reason}", *(f"{k}: {v}" for k, v in details.items()),
             f"quarantined_at: {stamp}",
             ("what to do: fix the file at its source and deliver it again under its name (a changed file loads as "
              "new data); this copy is kept for inspection")]
    with fs.open(f"{target}.reason.txt", "w") as handle:
        handle.write("\n".join(lines) + "\n")
    fs.mv(fs._strip_protocol(landed.url), target, recursive=fs.isdir(landed.url))
    return relative


def _check_movable(location: Location, landed: LandedFile, path: str, root: str) -> None:
    """Refuse to move a local file that does not resolve inside the location's folder, or any file of a folder
    that holds the warehouse (not a landing folder)."""
    real_root = os.path.realpath(root)
    if not inside(os.path.realpath(path), real_root):
        raise LandingEscape(f"location {location.name!r}: {landed.relative} is not inside the location folder "
                            f"{root}; refused, not moved")
    if inside(os.path.realpath(warehouse_path()), real_root):
        raise LandingEscape(f"location {location.name!r}: its folder {root} holds the warehouse, so it is not a "
                            f"landing folder; {landed.relative} was not moved (point the location at a folder of "
                            "its own)")
