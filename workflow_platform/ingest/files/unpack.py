"""Unpack a landed file into the units the readers read, in Amperity's order: decrypt (OpenPGP), then
decompress, then open the archive. `x.csv.tar.gz.pgp` is decrypted to a `.csv.tar.gz`, whose `.csv` members are
read; `x.csv.gz.pgp` is decrypted to a gzip file that DuckDB reads as such.

Archives (zip, tar, tar.gz) give one unit per selected member (`file.members`, default every regular file;
macOS's `__MACOSX/` and `._*` resource forks are never data), extracted to a scratch folder within the
decompression limits of `file.limits`. Links, devices and folders inside an archive are never extracted, and
members are written under names of our own, so an archive cannot write outside its scratch folder.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import dagster as dg

from workflow_platform.catalog.models import FileFormat
from workflow_platform.formats.pgp import ENCRYPTED_SUFFIXES, PgpError, PgpKeyError, PlaintextTooLarge, decrypt_file
from workflow_platform.ingest.files.landed import LandedFile
from workflow_platform.ingest.files.reading import Readable, UnreadableFile
from workflow_platform.ingest.files.textfiles import (
    BOMB_FLOOR,
    CHUNK,
    FileRefused,
    check_expansion,
    copy_limited,
    open_binary,
)
from workflow_platform.storage import MissingSecret, secret

_BY_NAME = (((".tar.gz", ".tgz"), "tgz"), ((".tar",), "tar"), ((".zip",), "zip"), ((".gz", ".gzip"), "gzip"))


def is_encrypted(name: str, fmt: FileFormat) -> bool:
    return fmt.encryption == "pgp" or (fmt.encryption == "auto" and name.lower().endswith(ENCRYPTED_SUFFIXES))


def packing_of(name: str, fmt: FileFormat) -> str:
    """none/gzip/zip/tar/tgz as the courier says or, for `auto`, as the name shows (a .pgp/.gpg suffix set
    aside). A file whose content is packed otherwise than its name says is refused by the reader, named as what
    it looks like."""
    if fmt.compression != "auto":
        return fmt.compression
    lower = name.lower()
    if is_encrypted(name, fmt) and lower.endswith(ENCRYPTED_SUFFIXES):
        lower = lower[:-4]
    return next((kind for suffixes, kind in _BY_NAME if lower.endswith(suffixes)), "none")


@contextlib.contextmanager
def readables(landed: LandedFile, fmt: FileFormat) -> Iterator[list[Readable]]:
    """The readable units of a landed file: itself (decrypted when it is encrypted), or its archive's selected
    members. Scratch copies live while the block runs. A whole-file problem raises UnreadableFile."""
    label = landed.relative
    packing = packing_of(label, fmt)
    encrypted = is_encrypted(label, fmt)
    if not encrypted and packing in ("none", "gzip"):  # read in place (DuckDB reads gzip itself)
        yield [Readable(landed.url, label, landed.day, None if fmt.compression == "auto" else packing)]
        return
    with tempfile.TemporaryDirectory(prefix="wp-unpack-") as scratch:
        url = landed.url
        if encrypted:
            try:
                url = str(_decrypted(landed, fmt, Path(scratch)))
            except UnreadableFile as exc:
                raise UnreadableFile(f"{label}: {exc}") from exc
        if packing in ("none", "gzip"):
            yield [Readable(url, label, landed.day, packing)]
            return
        yield _members(url, label, landed, fmt, packing, Path(scratch))


def _decrypted(landed: LandedFile, fmt: FileFormat, scratch: Path) -> Path:
    """The landed file decrypted into `scratch` (copied there first when it is remote)."""
    if not fmt.pgp_key_env:
        raise UnreadableFile("is OpenPGP-encrypted (.pgp/.gpg) but the courier has no file.pgp_key_env naming the "
                             "secret key to decrypt it with")
    try:  # the operator's setting, not the file, is wrong: the step fails and the file stays where it is
        key = secret(fmt.pgp_key_env, "file.pgp_key_env")
        passphrase = secret(fmt.pgp_passphrase_env, "file.pgp_passphrase_env") if fmt.pgp_passphrase_env else None
    except MissingSecret as exc:
        raise dg.Failure(description=f"{landed.relative} cannot be decrypted: {exc} (the file is left in place)",
                         allow_retries=False) from exc
    source = Path(landed.url)
    if "://" in landed.url:
        source = scratch / "encrypted"
        with open_binary(landed.url) as remote, open(source, "wb") as local:
            shutil.copyfileobj(remote, local, CHUNK)
    limit = min(fmt.limits.max_decompressed_bytes + 1,
                max(BOMB_FLOOR, int(fmt.limits.max_expansion_ratio * max(landed.size, 1))) + 1)
    target = scratch / "decrypted"
    try:
        decrypt_file(source, target, key, passphrase, limit)
    except PlaintextTooLarge as exc:
        raise UnreadableFile(f"decrypts to more than {exc.max_bytes - 1:,} bytes (file.limits.max_decompressed_bytes "
                             "or max_expansion_ratio): a decompression bomb or a broken export; not loaded") from exc
    except PgpKeyError as exc:
        raise dg.Failure(description=f"{landed.relative} cannot be decrypted: {fmt.pgp_key_env}: {exc} (the file is "
                                     "left in place)", allow_retries=False) from exc
    except PgpError as exc:
        raise UnreadableFile(f"cannot be decrypted with the key in {fmt.pgp_key_env}: {exc}") from exc
    finally:
        if source.parent == scratch:
            source.unlink(missing_ok=True)
    return target


def member_pattern(pattern: str) -> re.Pattern[str]:
    """A member pattern as a regex: '*' and '?' stay within one folder level, everything else is literal."""
    parts = (".*?" if p == "**" else "[^/]*" if p == "*" else "[^/]" if p == "?" else re.escape(p)
             for p in re.split(r"(\*\*|\*|\?)", pattern.strip("/")))
    return re.compile("".join(parts) + r"\Z")


def is_resource_fork(name: str) -> bool:
    """macOS's archive clutter: `__MACOSX/...` folders and `._name` AppleDouble files."""
    path = PurePosixPath(name)
    return path.parts[:1] == ("__MACOSX",) or path.name.startswith("._") or path.name == ".DS_Store"


def select_members(names: list[str], label: str, fmt: FileFormat) -> list[str]:
    """The member names to load, in name order: those matching `file.members` (all data files without it)."""
    data = sorted(n for n in names if not is_resource_fork(n))
    if not fmt.members:
        chosen = data
    else:
        patterns = [(p, member_pattern(p)) for p in fmt.members]
        missing = [p for p, rx in patterns if not any(rx.match(n) for n in data)]
        if missing and not fmt.skip_missing_members:
            raise UnreadableFile(f"{label}: the archive has no member matching {', '.join(map(repr, missing))} "
                                 f"(file.members; {len(data)} data member(s) in it; set file.skip_missing_members "
                                 "to load what is there)")
        chosen = [n for n in data if any(rx.match(n) for _, rx in patterns)]
    if not chosen:
        raise UnreadableFile(f"{label}: the archive has no member to load" + (" (it is empty)" if not data else ""))
    return chosen


def _members(url: str, label: str, landed: LandedFile, fmt: FileFormat, packing: str,
             scratch: Path) -> list[Readable]:
    try:
        if packing == "zip":
            return _zip_members(url, label, landed, fmt, scratch)
        return _tar_members(url, label, landed, fmt, packing, scratch)
    except FileRefused as exc:
        raise UnreadableFile(str(exc)) from exc


def _zip_members(url: str, label: str, landed: LandedFile, fmt: FileFormat, scratch: Path) -> list[Readable]:
    members = []
    total = 0  # bytes unpacked from all members: the archive as a whole stays within the limits too
    try:
        with open_binary(url) as handle, zipfile.ZipFile(handle) as archive:
            infos = {i.filename: i for i in archive.infolist() if not i.is_dir()}
            for index, name in enumerate(select_members(list(infos), label, fmt)):
                info = infos[name]
                member_label = f"{label}!{name}"
                target = scratch / f"{index}-member"
                check_expansion(member_label, info.file_size, max(info.compress_size, 1), fmt.limits)  # as declared
                check_expansion(label, total + info.file_size, max(landed.size, 1), fmt.limits)
                with archive.open(info) as src, open(target, "wb") as dst:  # zipfile stops at the declared size
                    total += copy_limited(src, dst, member_label, info.compress_size, fmt.limits)
                check_expansion(label, total, max(landed.size, 1), fmt.limits)
                members.append(Readable(str(target), member_label, landed.day, "none"))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as exc:
        raise UnreadableFile(f"{label}: not a readable zip archive ({type(exc).__name__}: damaged or cut off)") from exc
    except (NotImplementedError, RuntimeError) as exc:  # an encrypted member, or a compression method zipfile lacks
        raise UnreadableFile(f"{label}: a zip member uses a feature that cannot be read (encrypted zip members or "
                             "an unsupported compression method); export a plain zip") from exc
    return members


def _tar_members(url: str, label: str, landed: LandedFile, fmt: FileFormat, packing: str,
                 scratch: Path) -> list[Readable]:
    """Stream the tar (gzip-compressed for tgz) once: regular-file members are extracted, then the selection is
    kept (a stream cannot go back, so members are written first and unselected ones removed)."""
    extracted: dict[str, Path] = {}
    total = 0
    try:
        with open_binary(url) as handle, tarfile.open(fileobj=handle, mode="r|gz" if packing == "tgz" else "r|",
                                                      errors="replace") as tar:  # a name not in UTF-8: U+FFFD
            for index, member in enumerate(tar):
                name = member.name.removeprefix("./")  # `tar -C dir .` writes ./a.csv
                if not member.isfile() or is_resource_fork(name):
                    continue
                member_label = f"{label}!{name}"
                target = scratch / f"{index}-member"
                with tar.extractfile(member) as src, open(target, "wb") as dst:
                    while chunk := src.read(CHUNK):
                        total += len(chunk)
                        check_expansion(member_label, total, max(landed.size, 1), fmt.limits)
                        dst.write(chunk)
                extracted[name] = target  # a later entry of the same name replaces it, as tar does
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        kind = "tar.gz" if packing == "tgz" else "tar"
        raise UnreadableFile(f"{label}: not a readable {kind} archive ({type(exc).__name__}: damaged, cut off, or "
                             "not this packing; check file.compression)") from exc
    chosen = select_members(list(extracted), label, fmt)
    for name in set(extracted) - set(chosen):
        extracted[name].unlink(missing_ok=True)
    return [Readable(str(extracted[name]), f"{label}!{name}", landed.day, "none") for name in chosen]
