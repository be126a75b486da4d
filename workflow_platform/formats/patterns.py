"""Amperity-style file patterns.

Literal text goes in single quotes (``''`` inside quotes is one quote), the unquoted date tokens are
``yyyy``, ``MM`` and ``dd``, and ``*`` (quoted or not) matches zero or more characters but never ``/``.
Unquoted ``/ - _ .`` are literal too. ``'files/'yyyy'/'MM'/'dd'/customers-*.csv'`` on 2020-04-10
looks for ``files/2020/04/10/customers-*.csv``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

TOKENS = {"yyyy": "%Y", "MM": "%m", "dd": "%d"}
UNQUOTED_LITERALS = set("/-_.")


@dataclass(frozen=True)
class FilePattern:
    text: str
    parts: tuple[tuple[str, str], ...]  # (kind, value): kind is "lit", "token" or "star"

    @classmethod
    def parse(cls, text: str) -> FilePattern:
        if not text or not text.strip():
            raise ValueError("empty file pattern")
        parts: list[tuple[str, str]] = []
        i = 0
        while i < len(text):
            char = text[i]
            if char == "'":
                end = i + 1
                literal = []
                while True:
                    if end >= len(text):
                        raise ValueError(f"unclosed quote starting at character {i + 1} of pattern {text!r}")
                    if text[end] == "'":
                        if end + 1 < len(text) and text[end + 1] == "'":
                            literal.append("'")
                            end += 2
                            continue
                        break
                    literal.append(text[end])
                    end += 1
                cls._add_literal(parts, "".join(literal))
                i = end + 1
            elif char == "*":
                parts.append(("star", "*"))
                i += 1
            elif char in UNQUOTED_LITERALS or char.isdigit():
                cls._add_literal(parts, char)
                i += 1
            else:
                token = next((t for t in TOKENS if text.startswith(t, i)), None)
                if token is None:
                    raise ValueError(
                        f"unexpected {char!r} at character {i + 1} of pattern {text!r}: put literal text in "
                        "single quotes; the only date tokens are yyyy, MM and dd"
                    )
                parts.append(("token", token))
                i += len(token)
        path = "".join(v if k != "token" else "0" for k, v in parts)
        if path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"pattern {text!r} must stay inside its location (no leading '/' or '..')")
        return cls(text, tuple(parts))

    @staticmethod
    def _add_literal(parts: list[tuple[str, str]], literal: str) -> None:
        for piece in re.split(r"(\*)", literal):
            if piece == "*":
                parts.append(("star", "*"))
            elif piece:
                if parts and parts[-1][0] == "lit":
                    parts[-1] = ("lit", parts[-1][1] + piece)
                else:
                    parts.append(("lit", piece))

    @property
    def dated(self) -> bool:
        return any(kind == "token" for kind, _ in self.parts)

    @property
    def has_year(self) -> bool:
        return ("token", "yyyy") in self.parts

    def regex(self, day: dt.date | None = None) -> re.Pattern[str]:
        """A regex that fully matches relative paths for `day` (any date when None)."""
        out = []
        for kind, value in self.parts:
            if kind == "lit":
                out.append(re.escape(value))
            elif kind == "star":
                out.append("[^/]*")
            elif day is None:
                out.append(r"\d{4}" if value == "yyyy" else r"\d{2}")
            else:
                out.append(day.strftime(TOKENS[value]))
        return re.compile("".join(out))

    def day_of(self, relative_path: str) -> dt.date | None:
        """The date a matching path names through its date tokens (None: it does not match, names no year or no
        valid date, such as month 13, or its tokens disagree)."""
        out, seen = [], set()
        for kind, value in self.parts:
            if kind == "lit":
                out.append(re.escape(value))
            elif kind == "star":
                out.append("[^/]*")
            else:
                name = {"yyyy": "y", "MM": "m", "dd": "d"}[value]
                digits = r"\d{4}" if name == "y" else r"\d{2}"
                out.append(f"(?P={name})" if name in seen else f"(?P<{name}>{digits})")
                seen.add(name)
        match = re.compile("".join(out)).fullmatch(relative_path)
        if not match or "y" not in seen:
            return None
        try:  # a monthly pattern (no dd) names the month's first day
            return dt.date(int(match["y"]), int(match["m"]) if "m" in seen else 1, int(match["d"]) if "d" in seen else 1)
        except ValueError:
            return None

    def glob(self, day: dt.date | None = None) -> str:
        """An fsspec glob that finds a superset of the matches (the regex filters exactly)."""
        out = []
        for kind, value in self.parts:
            if kind == "lit":
                out.append(re.sub(r"[\[\]?]", "?", value))
            elif kind == "star" or day is None:
                out.append("*")
            else:
                out.append(day.strftime(TOKENS[value]))
        return "".join(out)

    def describe(self, day: dt.date | None) -> str:
        """Human text for messages: the pattern resolved for a day."""
        return self.glob(day) if day else self.text

    def matches(self, relative_path: str, day: dt.date | None = None) -> bool:
        return self.regex(day).fullmatch(relative_path) is not None
