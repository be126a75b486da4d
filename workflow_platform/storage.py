"""Local folders, S3 and SFTP behind one fsspec interface, for landing locations and destinations alike.

`sftp://` and `ssh://` URLs use sshfs (asyncssh). Storage options whose values are secrets name an environment
variable in the catalog (`storage_options_env`) and are read through `dg.EnvVar` when a run needs them; their
values never go into errors, logs or metadata (`public_url` shows protocol, host and path only).

A relative local URL lives under the data folder and may not leave it with '..'. Every URL must lie inside one
of the operator's allowed roots (the data folder, plus `WORKFLOW_PLATFORM_ALLOWED_ROOTS`; local paths compared
after resolving symbolic links and '..'), and every host a remote URL connects to (an SFTP host, an S3
`endpoint_url`) must be public or listed in `WORKFLOW_PLATFORM_ALLOWED_HOSTS` (network.py); `open_url` checks
both before it connects, for landing locations (and so their quarantine folder) and destinations alike. Symbolic
links inside a root are checked for local folders only (by the landing search and the destination writer); remote
filesystems are out of scope.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import dagster as dg
import fsspec
from fsspec.core import url_to_fs

from workflow_platform.catalog.models import OptionValue
from workflow_platform.catalog.validate import outside_roots_message, within_roots
from workflow_platform.network import check_host, check_url
from workflow_platform.settings import resolve_local

fsspec.register_implementation("sftp", "sshfs.SSHFileSystem", clobber=True)
fsspec.register_implementation("ssh", "sshfs.SSHFileSystem", clobber=True)


class MissingSecret(RuntimeError):
    """An environment variable the catalog names for a secret is not set."""


class UnsafePath(ValueError):
    """A path from the catalog that would lead outside the folder it must stay in."""


class OutsideRoots(UnsafePath):
    """A location or destination URL outside the operator's allowed roots (WORKFLOW_PLATFORM_ALLOWED_ROOTS)."""


# URL schemes whose "host" is a bucket or account name, not a machine to connect to (their endpoint is an option)
_BUCKET_SCHEMES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "file", "local"})


def secret(env: str, what: str) -> str:
    """The value of environment variable `env`; `what` names who needs it (never the value) in the error."""
    value = dg.EnvVar(env).get_value()
    if not value:
        raise MissingSecret(f"{what}: environment variable {env} is not set")
    return value


def resolved_options(options: dict[str, OptionValue], options_env: dict[str, str], what: str) -> dict:
    resolved = dict(options)
    for key, env in options_env.items():
        resolved[key] = secret(env, f"{what} (storage option {key})")
    return resolved


def open_url(url: str, options: dict[str, OptionValue], options_env: dict[str, str],
             what: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and root path for a location or destination URL (relative paths: under the data folder)."""
    if "://" not in url and not PurePosixPath(url).is_absolute() and ".." in url.replace("\\", "/").split("/"):
        raise UnsafePath(f"{what}: url {url!r} is relative to the data folder and must stay under it (no '..'); "
                         "use an absolute path for a folder elsewhere")
    check_roots(url, what)
    resolved = resolved_options(options, options_env, what)
    check_hosts(url, resolved, what)
    fs, root = url_to_fs(resolve_local(url), **resolved)
    root = root.rstrip("/") or "/"
    if is_local(fs):  # what the filesystem itself made of the URL, resolved again (links, '..')
        check_roots(root, what)
    return fs, root


def check_roots(url: str, what: str) -> None:
    """Raise OutsideRoots unless `url` lies inside one of the operator's allowed roots (settings.allowed_roots)."""
    if not within_roots(url):
        raise OutsideRoots(f"{what}: {outside_roots_message(url)}; refused, nothing read or written there")


def check_hosts(url: str, options: dict, what: str) -> None:
    """network.check_host for every machine a remote URL connects to: the URL's host (SFTP, HTTP) and the
    `host` and `endpoint_url` storage options (S3 endpoints); raises network.BlockedHost."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else "file"
    if scheme not in _BUCKET_SCHEMES:
        check_url(url, what)
    if isinstance(options.get("host"), str):
        check_host(options["host"], what)
    client = options.get("client_kwargs") if isinstance(options.get("client_kwargs"), dict) else {}
    for endpoint in (options.get("endpoint_url"), client.get("endpoint_url")):
        if isinstance(endpoint, str) and endpoint:
            check_url(endpoint if "://" in endpoint else f"https://{endpoint}", f"{what} (endpoint_url)")


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def public_url(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """A URL for metadata and logs: protocol, host and path, never credentials or query strings."""
    if is_local(fs):
        return path
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in ("sftp", "ssh"):
        host, port = fs.storage_options.get("host", ""), fs.storage_options.get("port")
        return f"sftp://{host}{f':{port}' if port else ''}/{path.lstrip('/')}"
    return fs.unstrip_protocol(path)
