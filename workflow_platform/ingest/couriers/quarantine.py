"""Move a refused file out of the landing pattern's way: into `<location>/<quarantine>/`, with a reason file.

The reason file is written first, so a crash between the two steps leaves an explanation, never a silently
vanished file. An earlier quarantined copy of the same name is never overwritten (a timestamp prefix).
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath

from workflow_platform.catalog.models import Location
from workflow_platform.ingest.couriers.landing import LandedFile, LandingEscape, inside, open_location
from workflow_platform.storage import is_local


def quarantine_file(location: Location, landed: LandedFile, reason: str, details: dict[str, str]) -> str:
    """Move `landed` to the location's quarantine folder beside `<name>.reason.txt`; returns the new relative
    path (inside the location)."""
    fs, root = open_location(location)
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
