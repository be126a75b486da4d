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
from jinja2 import nodes
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


MAX_PART = 255  # characters of a rendered file name (one path part on every common file system)
MAX_TEXT = 1024  # characters of any text a template builds on the way, and of its whole output
MAX_RANGE = 1000  # items of range() in a template
MAX_BITS = 100_000  # bits of a number a template builds
STATEMENTS = (nodes.Output, nodes.If)  # {{ ... }} and {% if %}: no loops, no set/with, no macros
WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill"})
REFUSED_METHODS = frozenset({"format", "format_map", "expandtabs"})  # widths inside a text: use `%` or filters
PRINTF_WIDTH = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
STRFTIME_WIDTH = re.compile(r"%[-_0^#]*\d")


def _too_long(what: str) -> jinja2.exceptions.SecurityError:
    return jinja2.exceptions.SecurityError(f"{what} would be longer than {MAX_TEXT} characters")


def _range(*args: int) -> range:
    items = range(*args)
    if len(items) > MAX_RANGE:
        raise jinja2.exceptions.SecurityError(f"range() of more than {MAX_RANGE} items in a file name template")
    return items


def _replace(text, old, new, count=None):
    """Jinja's `replace` filter, refused when the result would be longer than MAX_TEXT."""
    text, old, new = str(text), str(old), str(new)
    _check_replace(text, old, new, count)
    return text.replace(old, new, -1 if count is None else count)


def _check_replace(text: str, old: str, new: str, count=None) -> None:
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    if len(text) + found * (len(new) - len(old)) > MAX_TEXT:
        raise _too_long("replace()")


def _check_printf(template: str) -> None:
    for width, precision in PRINTF_WIDTH.findall(template):
        for number in (width, precision):
            if number == "*" or (number and int(number) > MAX_PART):
                raise jinja2.exceptions.SecurityError(f"a % format wider than {MAX_PART} in a file name template")


class _FileNameSandbox(SandboxedEnvironment):
    """Jinja's sandbox, bounded so that a file name template renders in moments to a short name: `*`, `**` and `%`
    checked, str methods with widths (ljust, rjust, center, zfill, replace, join, strftime) checked, format /
    format_map / expandtabs refused, range() of at most MAX_RANGE items, only a few filters, and (checked when
    the template is parsed) no loops, macros or assignments. The output itself is cut at MAX_TEXT characters."""

    intercepted_binops = frozenset({"*", "**", "%"})
    LIMIT = 1000

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise jinja2.exceptions.SecurityError(f"exponent {right} is too large in a file name template")
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and left.bit_length() * right > MAX_BITS:
            raise jinja2.exceptions.SecurityError("a number in a file name template is too large")
        if operator == "*" and any(isinstance(a, str | list | tuple) for a in (left, right)):
            count = right if isinstance(left, str | list | tuple) else left
            if isinstance(count, int) and count * len(left if isinstance(left, str | list | tuple) else right) > self.LIMIT:
                raise jinja2.exceptions.SecurityError("a repeated text in a file name template is too long")
        elif operator == "*" and isinstance(left, int) and isinstance(right, int) and (
                left.bit_length() + right.bit_length() > MAX_BITS):
            raise jinja2.exceptions.SecurityError("a number in a file name template is too large")
        if operator == "%" and isinstance(left, str):
            _check_printf(left)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value):
        """str.format and str.format_map are refused (a `{:>900000000}` width): Jinja hands them out here."""
        if super().wrap_str_format(value) is None:
            return None

        def refused(*args, **kwargs):
            raise jinja2.exceptions.SecurityError(f"str.{value.__name__}() is not allowed in a file name template")

        return refused

    def call(self, context, obj, /, *args, **kwargs):
        owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
        if isinstance(owner, str):
            if name in REFUSED_METHODS:
                raise jinja2.exceptions.SecurityError(f"str.{name}() is not allowed in a file name template")
            if name in WIDTH_METHODS and any(isinstance(a, int) and a > MAX_PART for a in [*args, *kwargs.values()]):
                raise jinja2.exceptions.SecurityError(f"str.{name}() wider than {MAX_PART} in a file name template")
            if name == "replace" and len(args) >= 2:
                _check_replace(owner, str(args[0]), str(args[1]), args[2] if len(args) > 2 else kwargs.get("count"))
            if (name == "join" and args and isinstance(args[0], list | tuple)
                    and sum(len(str(item)) + len(owner) for item in args[0]) > MAX_TEXT):
                raise _too_long("join()")
        if isinstance(owner, dt.date) and name == "strftime" and args and STRFTIME_WIDTH.search(str(args[0])):
            raise jinja2.exceptions.SecurityError("a strftime width is not allowed in a file name template")
        return super().call(context, obj, *args, **kwargs)


SAFE_FILTERS = ("abs", "capitalize", "count", "d", "default", "first", "float", "int", "last", "length", "lower",
                "round", "string", "title", "trim", "truncate", "upper")
ENVIRONMENT = _FileNameSandbox(undefined=jinja2.StrictUndefined, autoescape=False)
ENVIRONMENT.filters = {name: ENVIRONMENT.filters[name] for name in SAFE_FILTERS}
ENVIRONMENT.filters.update({"local": _local, "next_day": _next_day, "format": format_datetime, "replace": _replace})
ENVIRONMENT.globals = {"range": _range}


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
        rendered = _render_bounded(source, variables)
    except jinja2.TemplateError as exc:
        raise FilenameTemplateError(f"file name template {template!r}: {exc}") from exc
    except ValueError as exc:
        raise FilenameTemplateError(f"file name template {template!r}: {exc}") from exc
    rendered = rendered.strip()
    if len(rendered) > MAX_PART:
        raise FilenameTemplateError(f"file name template {template!r} renders to a name of {len(rendered)} "
                                    f"characters: at most {MAX_PART}")
    if not is_plain_file_name(rendered):
        raise FilenameTemplateError(f"file name template {template!r} renders to {rendered!r}: a file name must be "
                                    "non-empty, without '/', '\\', control characters or a leading '.'")
    return rendered


def _render_bounded(source: str, variables: dict) -> str:
    """Render with the sandbox's bounds: the template may hold only output and {% if %} (so its work is linear in
    its length), and rendering stops as soon as the output passes MAX_TEXT characters."""
    parsed = ENVIRONMENT.parse(source)
    for node in parsed.find_all(nodes.Stmt):
        if not isinstance(node, STATEMENTS):
            tag = type(node).__name__.lower().replace("assignblock", "set").replace("assign", "set")
            raise jinja2.exceptions.SecurityError(
                f"{{% {tag} %}} is not allowed in a file name template (only {{{{ ... }}}}, filters and {{% if %}})")
    chunks, length = [], 0
    for chunk in ENVIRONMENT.from_string(parsed).generate(**variables):
        length += len(chunk)
        if length > MAX_TEXT:
            raise jinja2.exceptions.SecurityError(f"the file name would be longer than {MAX_TEXT} characters")
        chunks.append(chunk)
    return "".join(chunks)


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
