"""The catalog's errors: one `CatalogError` per problem found, all of them raised together as `CatalogInvalid`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogError:
    """One problem: the file, the line (0 when unknown), the field path ('' for the whole file) and what is wrong."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class CatalogInvalid(Exception):
    """The catalog has errors; `errors` lists all of them."""

    def __init__(self, errors: list[CatalogError]):
        self.errors = errors
        super().__init__(f"{len(errors)} catalog error(s):\n" + "\n".join(f"  {e}" for e in errors))


class SqlParseError(ValueError):
    """Catalog SQL that is not one parseable SELECT."""
