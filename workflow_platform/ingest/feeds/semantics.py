"""Semantic-tag standardization, as DuckDB SQL expressions.

Conventions (documented in docs/catalog.md): emails trimmed and lowercased, junk emails NULL; phones
digits only, last 10 kept, junk NULL; names and addresses uppercased, accents and punctuation removed,
spaces collapsed; street words abbreviated the USPS way (STREET -> ST); US postal codes cut to ZIP5.
"""

from __future__ import annotations

from collections.abc import Iterable

from workflow_platform.catalog.models import StitchSettings
from workflow_platform.sql import literal as sql_literal

STREET_ABBREVIATIONS = {
    "STREET": "ST", "AVENUE": "AVE", "ROAD": "RD", "BOULEVARD": "BLVD", "DRIVE": "DR", "LANE": "LN",
    "COURT": "CT", "PLACE": "PL", "TERRACE": "TER", "PARKWAY": "PKWY", "HIGHWAY": "HWY", "CIRCLE": "CIR",
    "SQUARE": "SQ", "APARTMENT": "APT", "SUITE": "STE", "NORTH": "N", "SOUTH": "S", "EAST": "E", "WEST": "W",
}




def clean_text(expr: str) -> str:
    """Uppercase, accents stripped, apostrophes and periods dropped (O'Brien -> OBRIEN, St. -> ST), any
    other run of punctuation or spaces one space; empty -> NULL. One regex pass."""
    # two plain replace() calls: DuckDB's translate() costs ~4x more on 2M rows
    upper = f"replace(replace(upper(strip_accents(CAST({expr} AS VARCHAR))), chr(39), ''), '.', '')"
    # a run holding any punctuation (with the spaces around it), or several spaces, becomes one space; single
    # spaces are left alone, so clean values have no match at all (the common case, and the cheap one)
    return f"nullif(trim(regexp_replace({upper}, '[^A-Z0-9]*[^A-Z0-9 ][^A-Z0-9]*| {{2,}}', ' ', 'g')), '')"


def email(expr: str, settings: StitchSettings) -> str:
    value = f"nullif(lower(trim(CAST({expr} AS VARCHAR))), '')"
    junk = []
    for entry in settings.email_blocklist:
        entry = entry.lower()
        if entry.startswith("@"):
            junk.append(f"ends_with(⟨v⟩, {sql_literal(entry)})")
        else:
            junk.append(f"starts_with(⟨v⟩, {sql_literal(entry)})")
    junk.append("NOT regexp_full_match(⟨v⟩, '[^@\\s]+@[^@\\s]+\\.[^@\\s]+')")
    return _case_null_when(value, junk)


def phone(expr: str, settings: StitchSettings) -> str:
    digits = f"right(regexp_replace(CAST({expr} AS VARCHAR), '[^0-9]+', '', 'g'), 10)"
    junk = ", ".join(sql_literal(p) for p in settings.phone_blocklist) or "''"
    return _case_null_when(digits, ["length(⟨v⟩) < 10", f"⟨v⟩ IN ({junk})", "length(replace(⟨v⟩, left(⟨v⟩, 1), '')) = 0"])


def _case_null_when(value: str, conditions: list[str]) -> str:
    """CASE WHEN <any condition, with ⟨v⟩ standing for value> THEN NULL ELSE value END.

    The repeated expression is folded by DuckDB's common-subexpression elimination."""
    checks = " OR ".join("(" + c.replace("⟨v⟩", f"({value})") + ")" for c in conditions)
    return f"CASE WHEN {checks} THEN NULL ELSE {value} END"


def address(expr: str) -> str:
    """clean_text, then every whole word looked up in STREET_ABBREVIATIONS, in one pass over the words (a CASE
    per word: ~15% faster than a MAP literal's lookup on 2M addresses)."""
    cases = " ".join(f"WHEN {sql_literal(k)} THEN {sql_literal(v)}" for k, v in STREET_ABBREVIATIONS.items())
    return (f"array_to_string(list_transform(string_split({clean_text(expr)}, ' '), "
            f"lambda w: CASE w {cases} ELSE w END), ' ')")


def postal(expr: str) -> str:
    value = f"upper(trim(CAST({expr} AS VARCHAR)))"
    zip_code = f"regexp_full_match({value}, '\\d{{5}}([- ]?\\d{{4}})?')"
    return f"CASE WHEN {zip_code} THEN left({value}, 5) ELSE nullif({value}, '') END"


def standardize(expr: str, tags: Iterable[str], settings: StitchSettings) -> str:
    """The SQL expression that standardizes a typed column according to its semantic tags."""
    tags = set(tags)
    if "email" in tags:
        return email(expr, settings)
    if "phone" in tags:
        return phone(expr, settings)
    if tags & {"address", "address2"}:
        return address(expr)
    if "postal" in tags:
        return postal(expr)
    if tags & {"given-name", "surname", "full-name", "city", "state", "country", "gender"}:
        return clean_text(expr)
    return expr
