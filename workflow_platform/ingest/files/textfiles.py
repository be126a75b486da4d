"""What a landed file is before DuckDB reads it: its header, its encoding, its line endings, its size unpacked.

DuckDB's CSV sniffer guesses a dialect from a sample and gives up on valid files (an LF file with one CRLF
line) with errors that name no line. So a delimited file's header is read here, by Python's csv module, and
DuckDB reads the rest with everything stated (auto_detect off). Reasons never quote a row's values: a header
that looks like data is described ("the header looks like a data row (5 fields)"), never shown.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import fsspec

from workflow_platform.catalog.models import FileFormat, FileLimits

DELIMITED = ("csv", "tsv", "psv", "delimited")
CHUNK = 1 << 20
BOMB_FLOOR = 100_000_000  # bytes unpacked before the expansion ratio applies (small files compress very well)

# (magic bytes, offset, what the file is) for files landed where text was expected
BINARY_KINDS = ((b"\x1f\x8b", 0, "a gzip file"), (b"PK\x03\x04", 0, "a zip archive"), (b"ustar", 257, "a tar archive"),
                (b"BZh", 0, "a bzip2 file"), (b"\xfd7zXZ\x00", 0, "an xz file"), (b"7z\xbc\xaf", 0, "a 7z archive"),
                (b"Rar!\x1a\x07", 0, "a RAR archive"), (b"PAR1", 0, "a Parquet file"), (b"%PDF", 0, "a PDF document"),
                (b"\xd0\xcf\x11\xe0", 0, "an old Excel/Office document"), (b"\x85\x01", 0, "a PGP message"),
                (b"\x84\x8c", 0, "a PGP message"), (b"-----BEGIN PGP", 0, "a PGP message"))
BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"), (codecs.BOM_UTF8, "utf-8"))
NAME_LIKE = re.compile(r"^[A-Za-z_][A-Za-z0-9 _.#()/-]{0,63}$")


class FileRefused(Exception):
    """The whole file cannot be loaded; the message says why without quoting its content."""


_ATTACHED: dict[str, fsspec.AbstractFileSystem] = {}


def remember_filesystem(fs: fsspec.AbstractFileSystem) -> None:
    """The landing filesystem of a protocol (as registered with DuckDB): files of its URLs open through it."""
    for protocol in [fs.protocol] if isinstance(fs.protocol, str) else fs.protocol:
        _ATTACHED[protocol] = fs


def open_binary(url: str, compression: str | None = None):
    """A landed file (or scratch file) opened for reading bytes, decompressed when `compression` says so
    (closing it closes the file too)."""
    protocol = url.split("://", 1)[0] if "://" in url else "file"
    fs = _ATTACHED.get(protocol) or fsspec.filesystem(protocol)
    return fs.open(url, "rb", compression=compression)


def compression_of(label: str, fmt: FileFormat, forced: str | None) -> str | None:
    """'gzip' when the file is read through gzip (the courier says so, or auto and a .gz name), else None."""
    if forced is not None:
        return None if forced == "none" else forced
    if fmt.compression == "gzip" or (fmt.compression == "auto" and label.lower().endswith((".gz", ".gzip"))):
        return "gzip"
    return None


def binary_kind(start: bytes) -> str | None:
    """What a file that is not text looks like ('a tar archive'), or None for text."""
    for magic, offset, kind in BINARY_KINDS:
        if start[offset:offset + len(magic)] == magic:
            return kind
    sample = start[:4096]
    if b"\x00" in sample:
        return "binary data (NUL bytes)"
    return None


@dataclass(frozen=True)
class Header:
    """A delimited file's columns as its first line names them (header: false: column1..N), and the encoding
    DuckDB must read it with (a byte-order mark wins over the courier's setting)."""

    names: list[str]
    encoding: str

    def reader_names(self) -> list[str]:
        """Unique names for DuckDB's reader (a repeated header name gets a suffix; feeds never map to those)."""
        seen: dict[str, int] = {}
        out = []
        for name in self.names:
            key = name.lower()
            seen[key] = seen.get(key, 0) + 1
            out.append(name if seen[key] == 1 else f"{name}__wp_repeat_{seen[key]}")
        return out


def read_header(url: str, label: str, fmt: FileFormat, compression: str | None) -> Header:
    """The first record of a delimited file, parsed as its courier says (delimiter, quote, escape, encoding)."""
    limits = fmt.limits
    wanted = min(limits.max_line_bytes, 16 * CHUNK) + 4
    with open_binary(url, compression) as handle:
        start = handle.read(wanted)
    whole = len(start) < wanted
    encoding = fmt.encoding
    for bom, name in BOMS:
        if start.startswith(bom):
            if name == "UTF-32":
                raise FileRefused(f"{label}: the file is UTF-32 (byte-order mark); export it as UTF-8 or UTF-16")
            encoding, start = name, start[len(bom):] if name == "utf-8" else start
            break
    else:
        kind = binary_kind(start)
        if kind:
            hint = "" if kind.startswith("binary") else (
                " (check the courier's file.compression, file.encryption and pattern; supported: gzip, zip, tar, "
                "tar.gz/.tgz, inside OpenPGP or not)")
            raise FileRefused(f"{label}: not a {fmt.format} text file: it looks like {kind}{hint}")
    text = start.decode(encoding, errors="replace")
    first = _first_record(text, fmt, whole)
    if first is None:
        raise FileRefused(f"{label}: its first line is longer than {limits.max_line_bytes:,} bytes "
                          "(file.limits.max_line_bytes): not a delimited file with this delimiter, or one endless line")
    if "\ufffd" in "".join(first):
        raise FileRefused(f"{label}: its first line is not valid {encoding}; the file is in another encoding "
                          "(set the courier's file.encoding, e.g. latin-1, or fix the export)")
    if not any(f.strip() for f in first):
        raise FileRefused(f"{label}: its first line is empty (a header was expected)" if fmt.header
                          else f"{label}: its first line is empty")
    if not fmt.header:
        return Header([f"column{i}" for i in range(1, len(first) + 1)], encoding)
    return Header([f.strip() for f in first], encoding)


def _first_record(text: str, fmt: FileFormat, whole: bool) -> list[str] | None:
    """The first CSV record of `text` (the file's start, or all of it when `whole`), or None when that record
    does not end within the text read."""
    escape = fmt.escape or fmt.quote
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=fmt.separator, quotechar=fmt.quote,
                        doublequote=escape == fmt.quote, escapechar=None if escape == fmt.quote else escape,
                        strict=False)
    try:
        record = next(reader)
    except StopIteration:
        return []
    except csv.Error:
        return None
    if whole:
        return record
    try:
        next(reader)  # a second record means the first one ended
    except (StopIteration, csv.Error):
        return None
    return record


def looks_like_data(names: list[str]) -> bool:
    """Whether header names are more likely a row's values (an email, a date, a number, free text)."""
    return any(not NAME_LIKE.match(name) or name.replace(".", "").replace("-", "").isdigit() for name in names if name)


def describe_columns(names: list[str], declared: list[str]) -> str:
    """The file's column names for a reason, when they are safe to show: header-like names, most of the feed's
    columns among them. Otherwise a description that quotes nothing."""
    found = {n.lower() for n in names}
    share = sum(d.lower() in found for d in declared) / max(len(declared), 1)
    if looks_like_data(names):
        return f"the header looks like a data row ({len(names)} fields; is the header missing? see file.header)"
    if share < 0.5:
        return (f"the first line has {len(names)} fields and few of the feed's column names (is the header "
                "missing, or another file landed here?)")
    return f"the file has {', '.join(names)}"


def unpacked_size_check(url: str, label: str, limits: FileLimits) -> int:
    """Stream a gzip file through zlib without keeping it, refusing it past the decompression limits; returns
    the unpacked size. Bounded memory (1 MB at a time) and no disk."""
    total = consumed = 0
    decompressor = zlib.decompressobj(wbits=47)
    with open_binary(url) as handle:
        while chunk := handle.read(CHUNK):
            data = chunk
            while data:
                out = decompressor.decompress(data, CHUNK)
                consumed += len(data) - len(decompressor.unconsumed_tail) - len(decompressor.unused_data)
                total += len(out)
                check_expansion(label, total, consumed or 1, limits)
                if decompressor.unused_data:  # another gzip member follows
                    data = decompressor.unused_data
                    decompressor = zlib.decompressobj(wbits=47)
                else:
                    data = decompressor.unconsumed_tail
    if not decompressor.eof:
        raise FileRefused(f"{label}: the gzip data ends before its end marker (a transfer cut off?); not loaded")
    return total


def check_expansion(label: str, total: int, consumed: int, limits: FileLimits) -> None:
    """Refuse a file that unpacks past the limits: `total` bytes out of `consumed` compressed bytes."""
    if total > limits.max_decompressed_bytes:
        raise FileRefused(f"{label}: unpacks to more than {limits.max_decompressed_bytes:,} bytes "
                          "(file.limits.max_decompressed_bytes); not loaded")
    if total > BOMB_FLOOR and total / consumed > limits.max_expansion_ratio:
        raise FileRefused(f"{label}: unpacks to over {limits.max_expansion_ratio:g} times its compressed size "
                          "(file.limits.max_expansion_ratio): a decompression bomb or a broken export; not loaded")


def copy_limited(source, target, label: str, compressed_size: int, limits: FileLimits) -> int:
    """Copy an archive member to a scratch file within the decompression limits; returns the bytes written."""
    total = 0
    while chunk := source.read(CHUNK):
        total += len(chunk)
        check_expansion(label, total, max(compressed_size, 1), limits)
        target.write(chunk)
    return total


def normalized_copy(url: str, compression: str | None, encoding: str, target: str, label: str,
                    limits: FileLimits) -> str:
    """Rewrite a delimited file with every line ending (CRLF, CR, mixed) as LF, into `target`; returns the
    encoding of the copy (UTF-16 is rewritten as UTF-8). Bytes invalid in the encoding are kept as they are,
    so the reader still reports them on their line."""
    out_encoding = "utf-8" if encoding == "utf-16" else encoding
    written = 0
    with open_binary(url, compression) as raw, \
            io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline=None) as text, \
            open(target, "w", encoding=out_encoding, errors="surrogateescape", newline="\n") as out:
        for piece in _pieces(text):
            written += len(piece)
            if written > limits.max_decompressed_bytes:
                raise FileRefused(f"{label}: unpacks to more than {limits.max_decompressed_bytes:,} bytes "
                                  "(file.limits.max_decompressed_bytes); not loaded")
            out.write(piece)
    return out_encoding


def _pieces(text: io.TextIOWrapper) -> Iterator[str]:
    while piece := text.read(CHUNK):
        yield piece


def has_lines_after(url: str, compression: str | None, line: int) -> bool:
    """Whether the file has more than `line` lines (read only as far as needed)."""
    seen = 0
    with open_binary(url, compression) as handle:
        while chunk := handle.read(CHUNK):
            seen += chunk.count(b"\n")
            if seen > line:
                return True
    return False

