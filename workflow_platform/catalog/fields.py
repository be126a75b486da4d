"""What every catalog section shares: the strict base `Model`, names, semantic tags, owners and time zones.

Validators follow one rule across the catalog models: a check reused by several fields is an `Annotated` type
with an `AfterValidator` (`Identifier`, `Owners`, `TimeZone`, ...); a check of one field is a `@field_validator`;
a check across fields is a `@model_validator(mode="after")`.
"""

from __future__ import annotations

import re
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints


class Model(BaseModel):
    """A catalog entry: unknown fields are errors (a typo is never silently ignored), and entries are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Identifier = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$"),
    Field(description="lowercase letters, digits and underscores, starting with a letter"),
]

EnvName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"),
    Field(description="the name of an environment variable (its value is read when a run needs it)"),
]

OptionValue = str | int | float | bool | None | list[str] | dict[str, str]

# --------------------------------------------------------------------------- semantic tags of feed columns

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


def is_valid_tag(tag: str) -> bool:
    return tag in SEMANTIC_TAGS or bool(FK_TAG.match(tag)) or bool(SK_TAG.match(tag))


# --------------------------------------------------------------------------- owners and time zones

OWNER = re.compile(r"^(team:[A-Za-z0-9_.-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")


def check_owners(value: list[str]) -> list[str]:
    bad = [o for o in value if not OWNER.match(o)]
    if bad:
        raise ValueError(f"owner(s) {', '.join(map(repr, bad))}: an owner is an email address or team:<name>")
    return value


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except Exception as exc:
        raise ValueError(f"unknown time zone {value!r}; expected an IANA name such as 'America/New_York'") from exc
    return value


Owners = Annotated[list[str], AfterValidator(check_owners)]  # emails or team:<name>
TimeZone = Annotated[str, AfterValidator(check_timezone)]  # an IANA name
