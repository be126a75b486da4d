"""Find a courier's files in its landing location through fsspec (local folder, s3://, sftp://).

A local location is searched without trusting symbolic links: a matching file that is a link, or sits under a
linked folder, is read only when it resolves inside the location's folder; otherwise the search fails naming it.
Symbolic links on remote filesystems are out of scope: S3 has none, and an SFTP server's own root (chroot) and
permissions bound what its links reach.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import os
import re
from dataclasses import dataclass, field

import fsspec

from workflow_platform.catalog.models import Courier, Location
from workflow_platform.formats.patterns import FilePattern
from workflow_platform.ingest.files.landed import LandedFile
from workflow_platform.ingest.files.textfiles import remember_filesystem
from workflow_platform.storage import is_local, open_url


class LandingEscape(ValueError):
    """A file the pattern matches resolves outside its location's folder (through a symbolic link)."""


@dataclass(frozen=True)
class FileSearch:
    files: list[LandedFile]
    missing_days: list[dt.date]  # days with no file (dated couriers); [None] for an undated courier with none
    directories: list[LandedFile] = field(default_factory=list)  # folders where the pattern expects a file


def open_location(location: Location) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and root path of a location; secret storage options come from environment variables."""
    return open_url(location.url, location.storage_options, location.storage_options_env,
                    f"location {location.name!r}")


def attach_location(conn, location: Location) -> fsspec.AbstractFileSystem:
    """The location's filesystem; a remote one is registered with the DuckDB connection (once) so DuckDB's
    readers can read its URLs."""
    fs, _ = open_location(location)
    remember_filesystem(fs)
    names = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    if not is_local(fs) and not names & set(conn.list_filesystems()):
        conn.register_filesystem(fs)
    return fs


def file_url(fs: fsspec.AbstractFileSystem, path: str) -> str:
    return path if is_local(fs) else fs.unstrip_protocol(path)


def find_files(courier: Courier, location: Location, days: list[dt.date] | None,
               all_dates: bool = False) -> FileSearch:
    """Files matching the courier's pattern for each day, ordered by day then name; with `all_dates`, every file
    the pattern matches on any date (each dated by its path; paths naming no valid date are left out).

    An undated pattern ignores `days` and takes every file that matches; matching folders are listed apart (the
    courier refuses them). In a local location, a matching file
    that resolves outside the location's folder through a symbolic link raises LandingEscape naming it."""
    fs, root = open_location(location)
    if re.search(r"[*?\[\]{}]", root):
        raise ValueError(f"location {location.name!r}: its folder {root!r} contains * ? [ ] {{ }}, which file search "
                         "would read as a pattern; use a folder without them")
    pattern = FilePattern.parse(courier.pattern)
    wanted: list[dt.date | None] = list(days or []) if pattern.dated and not all_dates else [None]
    local = is_local(fs)
    real_root = os.path.realpath(root) if local else root
    found: list[LandedFile] = []
    directories: list[LandedFile] = []
    seen: set[str] = set()
    missing: list[dt.date | None] = []
    for day in wanted:
        regex = pattern.regex(day)
        if local:
            candidates = _local_candidates(root, pattern.glob(day))
        else:
            listed = fs.glob(f"{root}/{pattern.glob(day)}", detail=True) if fs.exists(root) else {}
            candidates = [(path, path[len(root) + 1 :] if path.startswith(root + "/") else path, info)
                          for path, info in listed.items()]
        matched, escaped = [], []
        for path, relative, info in candidates:
            if path in seen or not regex.fullmatch(relative):
                continue
            named = pattern.day_of(relative) if all_dates and pattern.dated else day
            if all_dates and pattern.dated and named is None:
                continue
            if local:
                real = os.path.realpath(path)
                if not inside(real, real_root):
                    escaped.append(relative)
                    continue
                info = {"type": "file", "size": os.stat(real).st_size} if os.path.isfile(real) else (
                    {"type": "directory"} if os.path.isdir(real) else {})
            if info.get("type") == "file":
                seen.add(path)
                matched.append(LandedFile(file_url(fs, path), relative, named, int(info.get("size") or 0)))
            elif info.get("type") == "directory":
                seen.add(path)
                directories.append(LandedFile(file_url(fs, path), relative, named, 0))
        if escaped:
            raise LandingEscape(
                f"location {location.name!r}: {', '.join(sorted(escaped))} resolve(s) outside the location folder "
                f"{root} through a symbolic link; refused, not read (copy the file into the location instead)")
        if not matched:
            missing.append(day)
        found.extend(sorted(matched, key=lambda f: (f.day or dt.date.min, f.relative)))
    return FileSearch(found, missing, directories)


def sha256_of(fs: fsspec.AbstractFileSystem, landed: LandedFile) -> str:
    """The file's sha256, read in 1 MiB chunks through the location's filesystem."""
    digest = hashlib.sha256()
    with fs.open(landed.url, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def inside(path: str, folder: str) -> bool:
    """Whether resolved `path` is `folder` or lies under it (both already resolved with os.path.realpath)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _local_candidates(root: str, glob: str) -> list[tuple[str, str, dict]]:
    """(path, relative path, {}) of every entry under `root` whose path matches `glob` level by level.

    Linked folders are listed so their files can be named when refused; `*` never crosses '/', so the depth is
    the pattern's and a link loop cannot recur."""
    level = [(root, "")]
    parts = glob.split("/")
    for depth, part in enumerate(parts):
        deeper = []
        for folder, relative in level:
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if not fnmatch.fnmatchcase(entry.name, part):
                    continue
                if depth == len(parts) - 1 or entry.is_dir():  # is_dir follows links
                    deeper.append((entry.path, f"{relative}/{entry.name}" if relative else entry.name))
        level = deeper
    return [(path, relative, {}) for path, relative in level]


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every day from start to end, both inclusive."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
