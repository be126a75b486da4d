"""Deliver finished files to a folder destination (local, S3, SFTP) so a consumer never sees half a file.

Each file is uploaded under a hidden temporary name (`.<name>.partial`) in the target folder and renamed to its
final name only when whole (a rename on local disks and SFTP, a server-side copy on S3, which is atomic per
object). The optional success file `<first name>.DONE` is written after every part has its final name.

The URL itself must lie inside the operator's allowed roots and reach only allowed hosts (storage.open_url:
WORKFLOW_PLATFORM_ALLOWED_ROOTS, WORKFLOW_PLATFORM_ALLOWED_HOSTS); a refusal is permanent, nothing is written.
Nothing is written outside the destination's root (its URL): the folder may not climb with '..', file names are
plain names, and in a local folder every path written to must resolve inside the root, so a symbolic link (a
linked folder, or a planted link named like the file) pointing elsewhere is refused. Symbolic links on remote
filesystems are out of scope: S3 has none, and an SFTP server's own root (chroot) bounds where its links lead.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

import fsspec

from workflow_platform.catalog.models import Destination
from workflow_platform.formats.filenames import is_plain_file_name
from workflow_platform.network import BlockedHost
from workflow_platform.orchestrations.errors import PermanentSendError, SendError, TransientSendError
from workflow_platform.orchestrations.export import ExportPart
from workflow_platform.storage import MissingSecret, UnsafePath, is_local, open_url, public_url


@dataclass(frozen=True)
class SentFile:
    url: str  # without credentials
    rows: int
    bytes: int


def open_destination(destination: Destination) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and the folder files go to (URL + remote folder), created when missing."""
    what = f"destination {destination.name!r}"
    options = dict(destination.storage_options)
    if destination.type == "s3":  # one quick try per step attempt: the step's RetryPolicy does the retrying
        options.setdefault("config_kwargs", {"retries": {"max_attempts": 1}, "connect_timeout": 10})
    try:
        fs, root = open_url(destination.url, options, destination.storage_options_env, what)
        folder = posixpath.join(root, sub_folder(destination)) if destination.folder else root
        if destination.type == "s3":
            bucket = root.split("/")[0]
            fs.info(bucket)  # never create a bucket: a typo must not invent one (FileNotFoundError: permanent)
        else:
            check_inside(fs, root, folder, f"folder {destination.folder!r}")  # before makedirs follows a link
            fs.makedirs(folder, exist_ok=True)
            check_inside(fs, root, folder, f"folder {destination.folder!r}")
    except Exception as exc:
        raise classify(exc, what) from exc
    return fs, folder


def sub_folder(destination: Destination) -> str:
    """The destination's folder relative to its URL: leading '/' dropped, '..' refused (the catalog checks it too;
    this guards copies made without validation)."""
    parts = [p for p in destination.folder.replace("\\", "/").split("/") if p and p != "."]
    if ".." in parts:
        raise UnsafePath(f"folder {destination.folder!r} must stay under the destination: no '..'")
    return "/".join(parts)


def destination_root(destination: Destination) -> str:
    """The local folder of a local destination's URL (no credentials needed)."""
    return open_url(destination.url, {}, {}, f"destination {destination.name!r}")[1]


def check_inside(fs: fsspec.AbstractFileSystem, root: str, path: str, what: str) -> None:
    """Refuse a local `path` that resolves outside `root` through a symbolic link (remote paths: not checked)."""
    if not is_local(fs):
        return
    real_root, real = os.path.realpath(root), os.path.realpath(path)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise UnsafePath(f"{what}: {path} leads outside the destination folder {root} through a symbolic link; "
                         "refused, nothing written there")


def write_parts(parts: list[ExportPart], destination: Destination, fs: fsspec.AbstractFileSystem,
            folder: str) -> list[SentFile]:
    """Upload the parts atomically into the opened destination folder, then the success file if asked for."""
    what = f"destination {destination.name!r}"
    root = destination_root(destination) if is_local(fs) else folder
    sent = []
    for part in parts:
        if not is_plain_file_name(part.name):
            raise classify(UnsafePath(f"file name {part.name!r} is not a plain name (no '/', '\\' or leading '.')"),
                           what)
        final = posixpath.join(folder, part.name)
        temporary = posixpath.join(folder, f".{part.name}.partial")
        try:
            for path in (temporary, final):
                check_inside(fs, root, path, f"file {part.name!r}")
            fs.put_file(str(part.local), temporary)
            fs.mv(temporary, final)
        except Exception as exc:
            _remove_quietly(fs, temporary)
            raise classify(exc, f"{what}: sending {part.name}") from exc
        sent.append(SentFile(public_url(fs, final), part.rows, part.local.stat().st_size))
    if destination.success_file and parts:
        done = posixpath.join(folder, f"{parts[0].name}.DONE")
        try:
            check_inside(fs, root, done, "the success file")
            fs.pipe_file(done, b"")
        except Exception as exc:
            raise classify(exc, f"{what}: writing the success file") from exc
    return sent


def classify(exc: Exception, what: str) -> SendError:
    """Permanent (auth, missing bucket or folder, missing secret, a URL outside the allowed roots, a blocked host)
    or transient (anything else: retry)."""
    if isinstance(exc, SendError):
        return exc
    name = type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else name
    text = text[len(what):].lstrip(": ") if text.startswith(what) and len(text) > len(what) else text
    permanent = (PermissionError, FileNotFoundError, NotADirectoryError, IsADirectoryError, MissingSecret,
                 UnsafePath, BlockedHost)
    if isinstance(exc, permanent) or name in ("PermissionDenied", "HostKeyNotVerifiable", "NoSuchBucket"):
        return PermanentSendError(f"{what}: {name}: {text}")
    return TransientSendError(f"{what}: {name}: {text}")


def _remove_quietly(fs: fsspec.AbstractFileSystem, path: str) -> None:
    try:
        if fs.exists(path):
            fs.rm_file(path)
    except Exception:  # noqa: BLE001, S110 - best effort; the next send overwrites the partial file anyway
        pass
