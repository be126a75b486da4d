"""Catalog sections that bring data in: locations, couriers (with their file formats) and feeds."""

from __future__ import annotations

import difflib
import functools
import re
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from workflow_platform.catalog.fields import (
    PII_TAGS,
    SEMANTIC_TAGS,
    SINGLE_USE_TAGS,
    EnvName,
    Identifier,
    Model,
    OptionValue,
    is_valid_tag,
)
from workflow_platform.formats.joda import check_joda_format
from workflow_platform.formats.patterns import FilePattern
from workflow_platform.sql import ident

# --------------------------------------------------------------------------- couriers


class Location(Model):
    """A named landing location. `url` is a local path (relative paths resolve against the data
    folder) or an fsspec URL such as `s3://bucket/prefix` or `sftp://host/path`."""

    name: Identifier
    url: str = "landing"
    storage_options: dict[str, OptionValue] = Field(default_factory=dict)
    storage_options_env: dict[str, str] = Field(
        default_factory=dict, description="storage option name -> environment variable holding its value"
    )
    quarantine: str = Field("_quarantine", description="folder under the location root that refused files move to, "
                                                       "each with a .reason.txt beside it")

    @field_validator("quarantine")
    @classmethod
    def _quarantine(cls, value: str) -> str:
        parts = value.strip("/").split("/")
        if not value.strip("/") or value.startswith("/") or ".." in parts or "\\" in value:
            raise ValueError(f"quarantine {value!r} must be a relative folder inside the location (no '/', '..')")
        return value.strip("/")


class FileLimits(Model):
    """How much one landed file may ask of the machine (docs/catalog.md, "Limits"). Past a line or value limit,
    that row or value is refused; past a decompression limit, the whole file is quarantined."""

    max_line_bytes: int = Field(2_000_000, ge=1_024, le=1_000_000_000,
                                description="delimited files: a longer line (one row) is rejected with its line number")
    max_value_chars: int = Field(65_536, ge=1, description="a longer value does not fit its column (value policy)")
    max_decompressed_bytes: int = Field(50_000_000_000, ge=1,
                                        description="a compressed file or archive member expanding past this is "
                                                    "quarantined")
    max_expansion_ratio: float = Field(250.0, ge=1, description="decompressed / compressed size allowed once past "
                                                                "100 MB (a decompression bomb is quarantined)")


class FileFormat(Model):
    format: Literal["csv", "tsv", "psv", "delimited", "json", "ndjson", "parquet"] = "csv"
    delimiter: str | None = None
    header: bool = True
    quote: str = '"'
    escape: str | None = None
    encoding: Literal["utf-8", "latin-1", "utf-16"] = "utf-8"
    compression: Literal["auto", "none", "gzip", "zip", "tar", "tgz"] = Field(
        "auto", description="how the file is packed once decrypted; auto: by its name (.gz, .zip, .tar, .tar.gz or "
                            ".tgz); other names are read as they are")
    encryption: Literal["auto", "none", "pgp"] = Field(
        "auto", description="pgp: an OpenPGP message, decrypted first; auto: pgp when the name ends .pgp or .gpg")
    pgp_key_env: EnvName | None = Field(None, description="environment variable holding the ASCII-armored OpenPGP "
                                                          "secret key that decrypts the files")
    pgp_passphrase_env: EnvName | None = Field(None, description="environment variable holding that key's "
                                                                 "passphrase, when it has one")
    members: list[str] = Field(default_factory=list, description="archives: the members to load, as patterns ('*' "
                                                                 "within one folder level); default every file")
    skip_missing_members: bool = Field(False, description="archives: a pattern of `members` that matches no member "
                                                          "is skipped, not an error (Amperity's skip-missing-contents)")
    limits: FileLimits = Field(default_factory=FileLimits)

    @model_validator(mode="after")
    def _delimiter(self) -> FileFormat:
        if self.format == "delimited" and not self.delimiter:
            raise ValueError("format 'delimited' needs a 'delimiter'")
        if self.members and self.compression in ("none", "gzip"):
            raise ValueError(f"members select archive members; compression {self.compression!r} is not an archive")
        if self.encryption == "none" and (self.pgp_key_env or self.pgp_passphrase_env):
            raise ValueError("pgp_key_env is set but encryption is 'none'")
        if self.pgp_passphrase_env and not self.pgp_key_env:
            raise ValueError("pgp_passphrase_env needs pgp_key_env (the key it unlocks)")
        for name in ("delimiter", "quote", "escape"):
            value = getattr(self, name)
            if value is not None and len(value.encode()) != 1:
                raise ValueError(f"{name} must be exactly one (ASCII) character, got {value!r}")
        return self

    @property
    def separator(self) -> str:
        return self.delimiter or {"tsv": "\t", "psv": "|"}.get(self.format, ",")


class Courier(Model):
    """Pulls files matching an Amperity-style pattern from a location and loads them into one feed."""

    name: Identifier
    description: str = ""
    location: Identifier = "landing"
    pattern: str
    feed: Identifier
    load: Literal["upsert", "truncate_upsert", "land_only"] = "upsert"
    optional: bool = False
    file: FileFormat = Field(default_factory=FileFormat)
    ingest_sql: str | None = Field(None, description="one SELECT over `file` (the file's rows as read) whose result "
                                                     "the feed loads instead of the file's columns")

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        FilePattern.parse(value)  # raises ValueError with a precise message
        return value


# --------------------------------------------------------------------------- feeds

FIELD_TYPE = re.compile(
    r"^(string|integer|float|boolean|date|datetime|decimal\((?P<p>\d{1,2}),\s*(?P<s>\d{1,2})\))$"
)


class FeedColumn(Model):
    name: Identifier
    source: str | None = Field(None, description="the file's column name when it differs (e.g. 'First Name'); "
                                                 "matched ignoring case and surrounding spaces")
    type: str = "string"
    format: str | None = Field(None, description="date/datetime format in Joda tokens, e.g. yyyy-MM-dd")
    tag: list[str] = Field(default_factory=list)
    description: str = ""
    on_invalid: Literal["null", "reject_row"] = Field(
        "null", description="a value that does not fit the column: loaded as NULL and recorded in "
                            "audit.value_problems, or the whole row rejected; key and last_updated columns always "
                            "reject the row")

    @property
    def source_name(self) -> str:
        """The column's name in the files."""
        return (self.source or self.name).strip()

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("source must name the file's column (it is blank)")
        return value

    @field_validator("tag", mode="before")
    @classmethod
    def _tag_list(cls, value):
        return [value] if isinstance(value, str) else value

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        value = value.strip().lower()
        match = FIELD_TYPE.match(value)
        if not match:
            raise ValueError(
                f"unknown type {value!r}; expected one of string, integer, float, boolean, date, datetime, "
                "decimal(p,s)"
            )
        if match.group("p") and not (0 <= int(match.group("s")) <= int(match.group("p")) and 1 <= int(match.group("p")) <= 38):
            raise ValueError("decimal(p,s) needs 1 <= p <= 38 and 0 <= s <= p")
        return value

    @model_validator(mode="after")
    def _format(self) -> FeedColumn:
        if self.format is not None:
            if self.type not in ("date", "datetime"):
                raise ValueError(f"format applies to date and datetime columns, not {self.type}")
            check_joda_format(self.format)
        return self

    @field_validator("tag")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not is_valid_tag(tag):
                close = difflib.get_close_matches(tag, SEMANTIC_TAGS, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"unknown semantic tag {tag!r}{hint} (or fk-<namespace>, sk-<namespace>)")
        return value


class Feed(Model):
    """Types and standardizes a courier's files into the domain table `domain.<name>`."""

    name: Identifier
    source: Identifier
    description: str = ""
    columns: list[FeedColumn] = Field(min_length=1)
    last_updated: Identifier | None = Field(None, description="column that decides between duplicate keys")
    error_threshold: float = Field(1.0, ge=0, le=100, description="percent of rejected rows a file may have")
    priority: int = Field(999, ge=0, description="source priority in merged_customers (lower wins)")
    stitch: bool | None = Field(None, description="take part in identity resolution; default: when it has PII tags")
    strict: bool = Field(False, description="refuse (quarantine) a file with columns the feed does not declare; "
                                            "otherwise new columns are reported as schema drift and not loaded")

    @model_validator(mode="after")
    def _columns(self) -> Feed:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        sources = [c.source_name.lower() for c in self.columns]
        dupes += sorted({f"source {n!r}" for n in sources if sources.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate column names: {', '.join(dupes)}")
        if not self.primary_key:
            raise ValueError("a feed needs at least one column tagged 'pk'")
        for tag in SINGLE_USE_TAGS:
            used = [c.name for c in self.columns if tag in c.tag]
            if len(used) > 1:
                raise ValueError(f"tag {tag!r} may appear once per feed, found on {', '.join(used)}")
        for column in self.columns:
            if "birthdate" in column.tag and column.type != "date":
                raise ValueError(f"column {column.name!r}: the birthdate tag needs type date")
            if {"phone", "postal"} & set(column.tag) and column.type != "string":
                raise ValueError(f"column {column.name!r}: phone and postal columns must be type string")
        if self.last_updated and self.last_updated not in names:
            raise ValueError(f"last_updated names unknown column {self.last_updated!r}")
        if self.last_updated:
            kind = next(c.type for c in self.columns if c.name == self.last_updated)
            if kind not in ("date", "datetime", "integer"):
                raise ValueError(f"last_updated column {self.last_updated!r} must be a date, datetime or integer "
                                 f"column, not {kind}")
        return self

    @property
    def primary_key(self) -> list[str]:
        return [c.name for c in self.columns if "pk" in c.tag]

    @property
    def has_pii(self) -> bool:
        return any(set(c.tag) & set(PII_TAGS) for c in self.columns)

    @property
    def in_stitch(self) -> bool:
        return self.has_pii if self.stitch is None else self.stitch

    @property
    def is_transactions(self) -> bool:
        return any(set(c.tag) & {"order-id", "item-revenue"} for c in self.columns)

    @property
    def table(self) -> str:
        """The domain table's name as people read it: `domain.<name>`."""
        return f"domain.{self.name}"

    @property
    def table_sql(self) -> str:
        """The domain table's name in SQL (the feed name quoted)."""
        return f"domain.{ident(self.name)}"


class CustomDomainTable(Model):
    """SQL over the feeds' domain tables (union, clean, reshape several sources), materialized as
    `domain.<name>` after the loads and before Stitch. Its columns' semantic tags make it a Stitch (or
    transaction) source like a feed; it is rebuilt only when a table it reads changed."""

    name: Identifier
    source: Identifier = Field("custom", description="the source name its records carry, as a feed's")
    description: str = ""
    sql: str = Field(description="one SELECT over domain.<feed> tables; its result holds every declared column")
    columns: list[FeedColumn] = Field(min_length=1, description="the result's columns to keep: name, type, tags")
    last_updated: Identifier | None = Field(None, description="column that orders records in merged_customers")
    priority: int = Field(999, ge=0, description="source priority in merged_customers (lower wins)")
    stitch: bool | None = Field(None, description="take part in identity resolution; default: when it has PII tags")

    @model_validator(mode="after")
    def _columns(self) -> CustomDomainTable:
        for column in self.columns:
            if column.source is not None or column.format is not None:
                raise ValueError(f"column {column.name!r}: source and format are for files; a custom domain table's "
                                 "columns come from its SQL (rename or convert them there)")
        try:  # the feed rules: a pk, tags used once, tag types, last_updated
            self.as_feed  # noqa: B018
        except ValidationError as exc:
            message = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise ValueError(message.replace("a feed needs", "a custom domain table needs")) from None
        return self

    @functools.cached_property
    def as_feed(self) -> Feed:
        """The table as Stitch, customer_360 and the UI see a feed's domain table."""
        return Feed(name=self.name, source=self.source, description=self.description, columns=self.columns,
                    last_updated=self.last_updated, priority=self.priority, stitch=self.stitch)
