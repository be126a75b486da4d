"""Catalog sections that send data out: destinations, orchestrations and campaigns."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from workflow_platform.catalog.fields import Identifier, Model, OptionValue, Owners, TimeZone
from workflow_platform.formats.filenames import check_filename_template
from workflow_platform.formats.pgp import public_key_problem

# --------------------------------------------------------------------------- file name templates


def _filename_template(value: str, for_campaign: bool) -> str:
    try:
        check_filename_template(value, for_campaign)
    except ValueError:
        raise
    except Exception as exc:  # the template is Jinja: {{ 1/0 }}, {{ name + 1 }}, a range too big, ...
        raise ValueError(f"file name template {value!r} does not render: {type(exc).__name__}: {exc}") from exc
    return value


def check_orchestration_filename(value: str) -> str:
    return _filename_template(value, for_campaign=False)


def check_campaign_filename(value: str) -> str:
    return _filename_template(value, for_campaign=True)


OrchestrationFilename = Annotated[str, AfterValidator(check_orchestration_filename)]
CampaignFilename = Annotated[str, AfterValidator(check_campaign_filename)]  # may also use campaign variables


# --------------------------------------------------------------------------- destinations


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
    compression: Literal["none", "gzip", "zip", "tar", "tgz"] = Field(
        "none", description="gzip inside the file, or the file inside a zip, tar or tar.gz archive")
    pgp_public_key: str | None = Field(None, description="the recipient's ASCII-armored OpenPGP public key: every "
                                       "file is encrypted to it last (after the archive)")
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
        if self.pgp_public_key is not None:
            if self.type == "webhook":
                raise ValueError("pgp_public_key encrypts files; a webhook sends rows, not files")
            if problem := public_key_problem(self.pgp_public_key):
                raise ValueError(f"pgp_public_key: {problem}")
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


# --------------------------------------------------------------------------- orchestrations and campaigns


class Orchestration(Model):
    """Sends a segment's rows to a destination with a data template (columns chosen, renamed and ordered)."""

    name: Identifier
    segment: Identifier
    destination: Identifier
    filename: OrchestrationFilename = Field("{{ name }}.csv",
                                            description="file name template (docs/catalog.md: file name templates)")
    columns: dict[str, str] | None = Field(None, description="data template: segment column -> output name, in order")
    workflow: Literal["manual", "automatic"] = "manual"
    description: str = ""


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
    filename: CampaignFilename = Field("{{ campaign }}_{{ sub_audience }}_{{ now | format('yyyyMMdd') }}.csv",
                                       description="file name template")
    columns: dict[str, str] | None = Field(None, description="data template: segment column -> output name")
    recurrence: Literal["once", "daily", "weekly"] = "once"
    start: dt.datetime | None = Field(None, description="local date-time of the (first) send")
    timezone: TimeZone = "UTC"
    end_date: dt.date | None = Field(None, description="recurring: no sends after this local date")
    end_after: int | None = Field(None, ge=1, description="recurring: stop after this many sends")
    active: bool = True
    owners: Owners = Field(default_factory=list, description="owners of the campaign: emails or team:<name>")

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
