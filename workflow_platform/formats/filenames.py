"""File-name templates for sends: Jinja with Amperity's `now` token and `local`, `next_day`, `format` filters.

    C360_{{ now | local('America/Los_Angeles') | format('MM-dd-yyyy') }}.csv.gz
    C360_{{now|local:'America/Los_Angeles'|format:'MM-dd-yyyy'}}.csv.gz      (Amperity's spelling, also accepted)
    audience_{{ file_number }}.csv                                            (0000001, 0000002, ... per split part)

Variables: `now` (the send time, UTC until `local`), `name` (the orchestration or campaign), `campaign`,
`sub_audience`, `file_number`. `format` takes Joda tokens (yyyy, MM, dd, HH, mm, ss); `now` without `format`
renders as yyyy-MM-dd. The template runs in Jinja's sandbox and an unknown variable is an error.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from workflow_platform.formats.joda import format_datetime

VARIABLES = ("now", "name", "campaign", "sub_audience", "file_number")
OLD_PLACEHOLDER = re.compile(r"(?<!{){(name|date)}(?!})")  # the first release's {name} / {date}
AMPERITY_FILTER_ARGUMENT = re.compile(r"\|\s*(\w+)\s*:\s*('[^']*'|\"[^\"]*\")")


class Moment(dt.datetime):
    """`now` in a template: prints as a date unless a `format` filter says otherwise."""

    def __str__(self) -> str:
        return self.strftime("%Y-%m-%d")


def _moment(value: dt.datetime) -> Moment:
    return Moment(value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond,
                  tzinfo=value.tzinfo)


def _local(value: dt.datetime, zone: str) -> Moment:
    try:
        return _moment(value.astimezone(zoneinfo.ZoneInfo(zone)))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"local({zone!r}): unknown time zone") from exc


def _next_day(value: dt.datetime) -> Moment:
    return _moment(value + dt.timedelta(days=1))


class _FileNameSandbox(SandboxedEnvironment):
    """Jinja's sandbox, with `*` and `**` bounded: a file name template cannot build a huge string or number."""

    intercepted_binops = frozenset({"*", "**"})
    LIMIT = 1000

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise jinja2.exceptions.SecurityError(f"exponent {right} is too large in a file name template")
        if operator == "*" and any(isinstance(a, str | list | tuple) for a in (left, right)):
            count = right if isinstance(left, str | list | tuple) else left
            if isinstance(count, int) and count * len(left if isinstance(left, str | list | tuple) else right) > self.LIMIT:
                raise jinja2.exceptions.SecurityError("a repeated text in a file name template is too long")
        return super().call_binop(context, operator, left, right)


ENVIRONMENT = _FileNameSandbox(undefined=jinja2.StrictUndefined, autoescape=False)
ENVIRONMENT.filters.update({"local": _local, "next_day": _next_day, "format": format_datetime})


class FilenameTemplateError(ValueError):
    """The template does not parse, uses an unknown variable or filter, or renders to an unsafe name."""


def render_filename(template: str, now: dt.datetime, *, name: str = "", campaign: str | None = None,
                    sub_audience: str | None = None, file_number: int = 1) -> str:
    """The file name for one send (one part when split): never a path (see `is_plain_file_name`).
    `campaign` and `sub_audience` exist only for campaign sends (elsewhere they are unknown variables)."""
    old_style = OLD_PLACEHOLDER.search(template)
    if old_style:
        raise FilenameTemplateError(f"file name template {template!r}: {old_style.group(0)} is not a template "
                                    f"variable; write {{{{ {old_style.group(1).replace('date', 'now')} }}}}")
    source = AMPERITY_FILTER_ARGUMENT.sub(r"| \1(\2)", template)
    variables = {"now": _moment(now.astimezone(dt.UTC)), "name": name, "file_number": f"{file_number:07d}"}
    if campaign is not None:
        variables |= {"campaign": campaign, "sub_audience": sub_audience or ""}
    try:
        rendered = ENVIRONMENT.from_string(source).render(**variables)
    except jinja2.TemplateError as exc:
        raise FilenameTemplateError(f"file name template {template!r}: {exc}") from exc
    except ValueError as exc:
        raise FilenameTemplateError(f"file name template {template!r}: {exc}") from exc
    rendered = rendered.strip()
    if not is_plain_file_name(rendered):
        raise FilenameTemplateError(f"file name template {template!r} renders to {rendered!r}: a file name must be "
                                    "non-empty, without '/', '\\', control characters or a leading '.'")
    return rendered


def is_plain_file_name(name: str) -> bool:
    """A name that stays in the folder it is written to: not a path, not hidden, not '.' or '..'."""
    return (bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")
            and not any(ord(char) < 32 or ord(char) == 127 for char in name))


def check_filename_template(template: str, for_campaign: bool = False) -> None:
    """Raise FilenameTemplateError when the template cannot render (checked when the catalog loads)."""
    render_filename(template, dt.datetime(2026, 1, 31, 23, 59, tzinfo=dt.UTC), name="n",
                    campaign="c" if for_campaign else None, sub_audience="s" if for_campaign else None)


def uses_file_number(template: str) -> bool:
    return bool(re.search(r"{{[^}]*\bfile_number\b", template))
