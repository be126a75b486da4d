"""Typed model of one tenant's catalog: every section a YAML file may hold.

Each model forbids unknown fields so a typo is an error, not a silently ignored setting.
Cross-references between sections are checked in `catalog.validate`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

Identifier = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$"),
    Field(description="lowercase letters, digits and underscores, starting with a letter"),
]

PII_TAGS = (
    "given-name", "surname", "full-name", "email", "phone", "address", "address2", "city", "state",
    "postal", "country", "birthdate", "gender",
)
TRANSACTION_TAGS = (
    "order-id", "order-datetime", "item-quantity", "item-revenue", "product-id", "is-return",
    "is-cancellation", "store-id", "purchase-channel",
)
KEY_TAGS = ("pk", "update-dt")
SEMANTIC_TAGS = PII_TAGS + TRANSACTION_TAGS + KEY_TAGS
FK_TAG = re.compile(r"^fk-[a-z][a-z0-9_]*$")
SK_TAG = re.compile(r"^sk-[a-z][a-z0-9_]*$")
SINGLE_USE_TAGS = {"given-name", "surname", "full-name", "email", "birthdate", "gender"}

FIELD_TYPE = re.compile(
    r"^(string|integer|float|boolean|date|datetime|decimal\((?P<p>\d{1,2}),\s*(?P<s>\d{1,2})\))$"
)

OptionValue = str | int | float | bool | None | list[str] | dict[str, str]

DURATION = re.compile(r"^\s*(?P<n>\d+)\s*(?P<unit>seconds?|minutes?|hours?|days?|weeks?|s|m|h|d|w)\s*$")


OWNER = re.compile(r"^(team:[A-Za-z0-9_.-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")


def check_owners(value: list[str]) -> list[str]:
    bad = [o for o in value if not OWNER.match(o)]
    if bad:
        raise ValueError(f"owner(s) {', '.join(map(repr, bad))}: an owner is an email address or team:<name>")
    return value


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def is_valid_tag(tag: str) -> bool:
    return tag in SEMANTIC_TAGS or bool(FK_TAG.match(tag)) or bool(SK_TAG.match(tag))


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
    compression: Literal["auto", "none", "gzip", "zip"] = "auto"
    limits: FileLimits = Field(default_factory=FileLimits)

    @model_validator(mode="after")
    def _delimiter(self) -> FileFormat:
        if self.format == "delimited" and not self.delimiter:
            raise ValueError("format 'delimited' needs a 'delimiter'")
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

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        from workflow_platform.couriers.patterns import FilePattern

        FilePattern.parse(value)  # raises ValueError with a precise message
        return value


# --------------------------------------------------------------------------- feeds


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
            from workflow_platform.joda import check_joda_format

            check_joda_format(self.format)
        return self

    @field_validator("tag")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not is_valid_tag(tag):
                from difflib import get_close_matches

                close = get_close_matches(tag, SEMANTIC_TAGS, n=1)
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
        return f"domain.{self.name}"


# --------------------------------------------------------------------------- stitch and databases


class StitchSettings(Model):
    """Identity resolution settings. The deterministic rules link records outright."""

    email_blocklist: list[str] = Field(
        default_factory=lambda: [
            "test@", "noemail@", "none@", "no@", "na@", "null@", "fake@", "example@", "@example.com",
            "@test.com", "noreply@", "donotreply@",
        ],
        description="an email that starts with (x@) or ends with (@x) an entry is treated as missing",
    )
    phone_blocklist: list[str] = Field(
        default_factory=lambda: ["1234567890", "0123456789", "5555555555"],
        description="10-digit phones treated as missing (all-same-digit phones always are)",
    )
    rules: list[Literal["email", "phone_surname", "name_birthdate", "foreign_key"]] = Field(
        default_factory=lambda: ["email", "phone_surname", "name_birthdate", "foreign_key"],
        description="exact rules: the probabilistic resolver links on `email` and `foreign_key` outright; the "
        "deterministic resolver uses them all",
    )
    resolver: Literal["probabilistic", "deterministic"] = Field(
        "probabilistic", description="probabilistic: Splink model from the semantic tags; deterministic: exact rules")
    match_threshold: Literal["excellent", "high", "moderate", "weak"] = Field(
        "moderate", description="pairs scored at or below this level are not linked (default: link high and better)")
    mode: Literal["normal", "force_refresh", "incremental"] = Field(
        "normal", description="normal: reuse the trained model, re-cluster everything; force_refresh: retrain too; "
        "incremental: only attach new records (never split or merge)")
    blocking_rules: list[str] | None = Field(
        None, description="replace the derived blocking rules: Splink SQL conditions over l. and r.")
    comparisons: list[dict[str, Any]] | None = Field(
        None, description="replace the derived comparisons: Splink comparison dictionaries")
    name_blocklist: list[str] = Field(
        default_factory=lambda: ["TEST", "UNKNOWN", "CUSTOMER", "GUEST", "NONE", "NA", "NULL", "ANONYMOUS", "XXX"],
        description="given names or surnames treated as missing when matching")
    max_records_per_value: int = Field(
        50, ge=2, description="an email or phone held by more records than this is junk: it never drives a match")
    max_names_per_value: int = Field(
        5, ge=1, description="an email or phone held by more differently named people than this is junk too")
    max_cluster_size: int = Field(
        500, ge=2, description="clusters above this are re-clustered on their strongest links, and alert")
    churn_warning_pct: float = Field(2.0, ge=0, description="alert when more records than this changed customer id")

    class MatchColumn(Model):
        """An extra match column whose feed columns are named differently per feed."""

        kind: Literal["exact", "typo", "fuzzy"]
        columns: dict[Identifier, Identifier] = Field(
            default_factory=dict, description="feed -> its column; feeds not listed use a column of the match name")

    identifiers: dict[Annotated[str, StringConstraints(pattern=r"^fk-[a-z][a-z0-9_]*$")],
                      Literal["link", "evidence"]] = Field(
        default_factory=dict,
        description="how far a shared fk-<namespace> value is trusted: link (links outright) or evidence (a strong "
        "comparison that contradicting names and birthdates can outweigh); unlisted namespaces: link")
    match_columns: dict[Identifier, Literal["exact", "typo", "fuzzy"] | StitchSettings.MatchColumn] = Field(
        default_factory=dict,
        description="extra columns of the Stitch feeds compared by the model (e.g. street_number: typo): exact; "
        "typo (exact, one edit or transposition); fuzzy (exact, Jaro-Winkler >= 0.92, >= 0.8)")


class DatabaseTable(Model):
    name: Identifier
    sql: str
    description: str = ""


class Database(Model):
    """A schema of tables. A `customer_360` database gets unified_coalesced, merged_customers and
    customer_360 built from Stitch, plus its custom SQL tables."""

    name: Identifier
    type: Literal["customer_360", "empty"] = "customer_360"
    description: str = ""
    tables: list[DatabaseTable] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_tables(self) -> Database:
        names = [t.name for t in self.tables]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate table names: {', '.join(dupes)}")
        return self


class RowThresholds(Model):
    min_rows: int | None = Field(None, ge=0)
    max_rows: int | None = Field(None, ge=0)


class Segment(Model):
    """A SQL SELECT over database tables (a query or an audience), materialized as `segment.<name>`."""

    name: Identifier
    sql: str
    description: str = ""
    warn_when: RowThresholds | None = None
    fail_when: RowThresholds | None = None


# --------------------------------------------------------------------------- activations


class Destination(Model):
    """Where orchestrations and campaigns send rows: a folder (local, S3, SFTP, one code path through fsspec) or
    a webhook. Secrets come from environment variables named here, never from the catalog itself."""

    name: Identifier
    type: Literal["local", "s3", "sftp", "webhook"] = "local"
    url: str = Field("exports", description="local folder (relative: under the data folder), s3://bucket/prefix, "
                     "sftp://host[:port]/path, or the webhook's http(s) URL")
    folder: str = Field("", description="remote folder under the URL, e.g. /outbound/crm")
    storage_options: dict[str, OptionValue] = Field(default_factory=dict,
                                                    description="fsspec options, e.g. endpoint_url")
    storage_options_env: dict[str, str] = Field(
        default_factory=dict, description="storage option name -> environment variable holding its value"
    )
    # file settings
    format: Literal["csv", "tsv", "psv", "delimited", "parquet", "ndjson"] = "csv"
    delimiter: str | None = Field(None, description="for format 'delimited': one character")
    header: bool = True
    quote: str = '"'
    escape: str | None = Field(None, description="escape character inside quotes; default: the quote doubled")
    quote_mode: Literal["minimal", "all"] = Field("minimal", description="quote only when needed, or every value")
    compression: Literal["none", "gzip", "zip"] = "none"
    line_ending: Literal["LF", "CRLF"] = "LF"
    row_number: str | None = Field(None, description="name of a 1-based row number column to add first")
    split_rows: int | None = Field(None, ge=1, description="at most this many rows per file ({{ file_number }})")
    success_file: bool = Field(False, description="write <first file name>.DONE after all parts")
    # webhook settings
    headers_env: dict[str, str] = Field(default_factory=dict,
                                        description="HTTP header -> environment variable holding its value")
    url_env: str | None = Field(None, description="webhook: environment variable holding the whole URL, for URLs "
                                "whose path is the secret (shown as scheme://host only)")
    batch_size: int = Field(1000, ge=1, le=100_000)
    max_attempts: int = Field(5, ge=1, le=20, description="tries per file part or webhook batch")

    @field_validator("folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        parts = [p for p in value.replace("\\", "/").split("/") if p]
        if any(p == ".." for p in parts):
            raise ValueError(f"folder {value!r} must stay under the destination: no '..'")
        return "/".join(parts)

    @model_validator(mode="after")
    def _settings(self) -> Destination:
        if self.url_env is not None:
            if self.type != "webhook":
                raise ValueError("url_env is for webhook destinations")
            return self
        scheme = self.url.split("://")[0].lower() if "://" in self.url else ""
        expected = {"s3": ("s3",), "sftp": ("sftp", "ssh"), "webhook": ("http", "https"), "local": ("", "file")}
        if scheme not in expected[self.type]:
            raise ValueError(f"url {self.url!r} does not fit type {self.type!r} "
                             f"(expected {' or '.join(s + '://' if s else 'a folder' for s in expected[self.type])})")
        if self.format == "delimited" and (not self.delimiter or len(self.delimiter) != 1):
            raise ValueError("format 'delimited' needs a one-character delimiter")
        if self.delimiter and self.format != "delimited":
            raise ValueError(f"delimiter is only for format 'delimited' (format is {self.format!r})")
        if self.format in ("parquet", "ndjson") and self.line_ending == "CRLF":
            raise ValueError(f"line_ending CRLF is for delimited text, not {self.format}")
        if self.format == "parquet" and self.compression == "gzip":
            raise ValueError("parquet files are compressed inside; use compression 'none' or 'zip'")
        for name, value in (("quote", self.quote), ("escape", self.escape)):
            if value is not None and len(value) != 1:
                raise ValueError(f"{name} must be one character")
        separator = self.delimiter or {"tsv": "\t", "psv": "|"}.get(self.format, ",")
        if separator in ("\n", "\r"):
            raise ValueError("the delimiter cannot be a line break")
        if separator in (self.quote, self.escape):
            raise ValueError(f"the delimiter {separator!r} cannot also be the quote or escape character")
        return self


class Orchestration(Model):
    """Sends a segment's rows to a destination with a data template (columns chosen, renamed and ordered)."""

    name: Identifier
    segment: Identifier
    destination: Identifier
    filename: str = Field("{{ name }}.csv", description="file name template (docs/catalog.md: file name templates)")
    columns: dict[str, str] | None = Field(None, description="data template: segment column -> output name, in order")
    workflow: Literal["manual", "automatic"] = "manual"
    description: str = ""

    _template = field_validator("filename")(classmethod(lambda cls, v: _filename_template(v)))


def _filename_template(value: str, for_campaign: bool = False) -> str:
    from workflow_platform.orchestrations.filenames import check_filename_template

    try:
        check_filename_template(value, for_campaign)
    except ValueError:
        raise
    except Exception as exc:  # the template is Jinja: {{ 1/0 }}, {{ name + 1 }}, a range too big, ...
        raise ValueError(f"file name template {value!r} does not render: {type(exc).__name__}: {exc}") from exc
    return value


class SubAudience(Model):
    name: Identifier
    percent: float = Field(gt=0, le=100)
    destinations: list[Identifier] = Field(default_factory=list)
    attributes: dict[Identifier, str] = Field(default_factory=dict, description="extra constant columns")


class Campaign(Model):
    """A segment split deterministically by customer id into sub-audiences, each sent to its destinations,
    once (at `start`, or as soon as possible without one) or recurring daily/weekly from `start` until `end_date`
    or `end_after` sends."""

    name: Identifier
    segment: Identifier
    sub_audiences: list[SubAudience] = Field(min_length=1)
    description: str = ""
    filename: str = Field("{{ campaign }}_{{ sub_audience }}_{{ now | format('yyyyMMdd') }}.csv",
                          description="file name template")
    columns: dict[str, str] | None = Field(None, description="data template: segment column -> output name")
    recurrence: Literal["once", "daily", "weekly"] = "once"
    start: dt.datetime | None = Field(None, description="local date-time of the (first) send")
    timezone: str = "UTC"
    end_date: dt.date | None = Field(None, description="recurring: no sends after this local date")
    end_after: int | None = Field(None, ge=1, description="recurring: stop after this many sends")
    active: bool = True
    owners: list[str] = Field(default_factory=list, description="owners of the campaign: emails or team:<name>")

    _template = field_validator("filename")(classmethod(lambda cls, v: _filename_template(v, for_campaign=True)))
    _owner_check = field_validator("owners")(classmethod(lambda cls, v: check_owners(v)))
    _tz = field_validator("timezone")(classmethod(lambda cls, v: _timezone(v)))

    @model_validator(mode="after")
    def _plan(self) -> Campaign:
        total = sum(s.percent for s in self.sub_audiences)
        if abs(total - 100) > 1e-9:
            raise ValueError(f"sub_audiences percents add up to {total:g}, expected 100")
        if len({s.name for s in self.sub_audiences}) != len(self.sub_audiences):
            raise ValueError("sub_audiences names must be unique")
        if self.start is not None and self.start.tzinfo is not None:
            raise ValueError("start is a local date-time without offset; set the zone in 'timezone'")
        if self.recurrence != "once" and self.start is None:
            raise ValueError(f"a {self.recurrence} campaign needs a start (the first send's local date-time)")
        if self.recurrence == "once" and (self.end_date or self.end_after):
            raise ValueError("end_date and end_after are for recurring campaigns")
        if self.end_date and self.end_after:
            raise ValueError("choose one end: end_date or end_after")
        shared = {d for i, s in enumerate(self.sub_audiences) for d in s.destinations
                  if any(d in other.destinations for other in self.sub_audiences[i + 1:])}
        if shared and "sub_audience" not in self.filename:
            raise ValueError(f"sub-audiences share destination(s) {', '.join(sorted(shared))}: the file name "
                             "template needs {{ sub_audience }} or one would overwrite the other")
        return self


# --------------------------------------------------------------------------- automation


def _duration_seconds(value: str) -> int:
    match = DURATION.match(str(value))
    if not match:
        raise ValueError(f"invalid duration {value!r}; expected e.g. '30 minutes', '2 hours', '1 day'")
    unit = match.group("unit")[0]
    return int(match.group("n")) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]


class GroupCourier(Model):
    courier: Identifier
    wait: str = "0 seconds"
    look_back: str = "1 day"
    notify_when_missing: bool = True
    stop_when_missing: bool = False

    @field_validator("wait", "look_back")
    @classmethod
    def _duration(cls, value: str) -> str:
        _duration_seconds(value)
        return value

    @property
    def wait_seconds(self) -> int:
        return _duration_seconds(self.wait)

    @property
    def look_back_seconds(self) -> int:
        return _duration_seconds(self.look_back)


def _cron(value: str | None) -> str | None:
    """A cron Dagster accepts for a schedule (the same check as `dg.ScheduleDefinition`; workflow_platform/cron.py)."""
    if value is None:
        return value
    from workflow_platform.cron import cron_problem  # imports Dagster: deferred to catalogs with a cron

    if problem := cron_problem(value):
        raise ValueError(f"invalid cron schedule {value!r}: {problem}")
    return value


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(value)
    except Exception as exc:
        raise ValueError(f"unknown time zone {value!r}; expected an IANA name such as 'America/New_York'") from exc
    return value


class CourierGroup(Model):
    """Couriers that run together, on a schedule or manually."""

    name: Identifier
    couriers: list[GroupCourier] = Field(min_length=1)
    description: str = ""
    schedule: str | None = None
    timezone: str = "UTC"
    active: bool = True
    run_type: Literal["full", "refresh", "source"] = "full"
    runtime_threshold: str | None = Field(None, description="warn when a run exceeds this, e.g. '2 hours'")
    alert_on_success: bool = Field(False, description="also alert the recipients when a run succeeds")
    owners: list[str] = Field(default_factory=list, description="owners of the group's assets: emails or team:<name>")

    _owner_check = field_validator("owners")(classmethod(lambda cls, v: check_owners(v)))

    @field_validator("couriers", mode="before")
    @classmethod
    def _names(cls, value):
        if not isinstance(value, list):
            return value  # pydantic reports "Input should be a valid list"
        return [{"courier": v} if isinstance(v, str) else v for v in value]

    _schedule = field_validator("schedule")(classmethod(lambda cls, v: _cron(v)))
    _tz = field_validator("timezone")(classmethod(lambda cls, v: _timezone(v)))

    @field_validator("runtime_threshold")
    @classmethod
    def _threshold(cls, value):
        if value is not None:
            _duration_seconds(value)
        return value


class OrchestrationGroup(Model):
    """Orchestrations that run as a unit: after a courier group, on a schedule, or manually."""

    name: Identifier
    orchestrations: list[Identifier] = Field(min_length=1)
    description: str = ""
    enabled: bool = True
    run_after: Identifier | None = Field(None, description="courier group whose success triggers this group")
    schedule: str | None = None
    timezone: str = "UTC"
    owners: list[str] = Field(default_factory=list, description="owners of the group's assets: emails or team:<name>")

    _owner_check = field_validator("owners")(classmethod(lambda cls, v: check_owners(v)))

    _schedule = field_validator("schedule")(classmethod(lambda cls, v: _cron(v)))
    _tz = field_validator("timezone")(classmethod(lambda cls, v: _timezone(v)))

    @model_validator(mode="after")
    def _one_trigger(self) -> OrchestrationGroup:
        if self.run_after and self.schedule:
            raise ValueError("choose one run option: run_after or schedule, not both")
        return self


class Recipients(Model):
    email: list[str] = Field(default_factory=list)
    slack: list[str] = Field(default_factory=list)

    @field_validator("slack")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        for channel in value:
            if not re.match(r"^#[a-z0-9][a-z0-9_-]*$", channel):
                raise ValueError(f"slack channel {channel!r} must look like '#data-alerts'")
        return value

    @field_validator("email")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for address in value:
            if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", address):
                raise ValueError(f"invalid email address {address!r}")
        return value


class Alerts(Model):
    allowed_email_domains: list[str] = Field(default_factory=list)
    courier_groups: Recipients = Field(default_factory=Recipients)
    orchestration_groups: Recipients = Field(default_factory=Recipients)
    campaigns: Recipients = Field(default_factory=Recipients)

    @model_validator(mode="after")
    def _domains(self) -> Alerts:
        if self.allowed_email_domains:
            for recipients in (self.courier_groups, self.orchestration_groups, self.campaigns):
                for address in recipients.email:
                    if address.rsplit("@", 1)[1].lower() not in self.allowed_email_domains:
                        raise ValueError(f"email {address!r} is outside allowed_email_domains")
        return self


# --------------------------------------------------------------------------- the whole catalog

LIST_SECTIONS: dict[str, type[Model]] = {
    "locations": Location,
    "couriers": Courier,
    "feeds": Feed,
    "databases": Database,
    "segments": Segment,
    "destinations": Destination,
    "orchestrations": Orchestration,
    "campaigns": Campaign,
    "courier_groups": CourierGroup,
    "orchestration_groups": OrchestrationGroup,
}
SINGLE_SECTIONS: dict[str, type[Model]] = {"stitch": StitchSettings, "alerts": Alerts}


class Catalog(Model):
    """One tenant's validated configuration."""

    tenant: str = "tenant"
    owners: list[str] = Field(default_factory=list, description="default owners of every asset: emails or team:<name>")
    locations: list[Location] = Field(default_factory=list)
    couriers: list[Courier] = Field(default_factory=list)
    feeds: list[Feed] = Field(default_factory=list)
    stitch: StitchSettings = Field(default_factory=StitchSettings)
    databases: list[Database] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)
    destinations: list[Destination] = Field(default_factory=list)
    orchestrations: list[Orchestration] = Field(default_factory=list)
    campaigns: list[Campaign] = Field(default_factory=list)
    courier_groups: list[CourierGroup] = Field(default_factory=list)
    orchestration_groups: list[OrchestrationGroup] = Field(default_factory=list)
    alerts: Alerts = Field(default_factory=Alerts)

    _owner_check = field_validator("owners")(classmethod(lambda cls, v: check_owners(v)))

    @functools.cached_property
    def _index(self) -> dict[str, dict]:
        """Name -> entry lookups, built once: a catalog of thousands of couriers is looked up per asset."""
        group_of_courier: dict[str, CourierGroup] = {}
        for group in self.courier_groups:
            for item in group.couriers:
                group_of_courier.setdefault(item.courier, group)
        group_of_orchestration: dict[str, OrchestrationGroup] = {}
        for group in self.orchestration_groups:
            for name in group.orchestrations:
                group_of_orchestration.setdefault(name, group)
        couriers_of_feed: dict[str, list[Courier]] = {}
        for courier in self.couriers:
            couriers_of_feed.setdefault(courier.feed, []).append(courier)
        first = lambda entries: {e.name: e for e in reversed(entries)}  # the first of duplicates wins
        return {"feed": first(self.feeds), "courier": first(self.couriers), "location": first(self.locations),
                "destination": first(self.destinations), "group_of_courier": group_of_courier,
                "group_of_orchestration": group_of_orchestration, "couriers_of_feed": couriers_of_feed}

    def feed(self, name: str) -> Feed:
        return self._index["feed"][name]

    def courier(self, name: str) -> Courier:
        return self._index["courier"][name]

    def location(self, name: str) -> Location:
        return self._index["location"].get(name) or Location(name=name)

    def destination(self, name: str) -> Destination:
        return self._index["destination"][name]

    def couriers_of_feed(self, feed: str) -> list[Courier]:
        return self._index["couriers_of_feed"].get(feed, [])

    def group_of_courier(self, courier: str) -> CourierGroup | None:
        return self._index["group_of_courier"].get(courier)

    def group_of_orchestration(self, orchestration: str) -> OrchestrationGroup | None:
        return self._index["group_of_orchestration"].get(orchestration)

    @property
    def stitch_feeds(self) -> list[Feed]:
        return [f for f in self.feeds if f.in_stitch and self._loaded(f)]

    @property
    def transaction_feeds(self) -> list[Feed]:
        return [f for f in self.feeds if f.is_transactions and self._loaded(f)]

    def _loaded(self, feed: Feed) -> bool:
        return any(c.load != "land_only" for c in self.couriers_of_feed(feed.name))
