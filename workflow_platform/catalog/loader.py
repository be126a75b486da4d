"""Load a catalog folder of YAML files into one validated `Catalog`, or report every error.

Errors carry the file, the line and the field path, and suggest the closest valid name. Nothing is
returned unless the whole folder is valid, so an invalid catalog never half-loads.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from workflow_platform.catalog.errors import CatalogError, CatalogInvalid  # re-exported: callers import them here
from workflow_platform.catalog.models import LIST_SECTIONS, SINGLE_SECTIONS, Catalog, Model, check_owners
from workflow_platform.catalog.validate import check_references


@dataclass
class Located:
    """A YAML value with the line of every nested key and item (path tuple -> 1-based line)."""

    value: Any
    file: str
    lines: dict[tuple, int] = field(default_factory=dict)

    def line(self, path: tuple) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)


COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: several times faster
MAX_DEPTH = 64  # nested mappings and lists; the catalog needs about 6
ALIAS_GROWTH = 10  # aliases may expand a document to this many times its own nodes (plus a margin), no more
PLAIN_TAGS = {yaml.MappingNode: "tag:yaml.org,2002:map", yaml.SequenceNode: "tag:yaml.org,2002:seq"}


def _fail(problem: str, node: yaml.Node) -> yaml.MarkedYAMLError:
    return yaml.MarkedYAMLError(problem=problem, problem_mark=node.start_mark)


def _node_count(root: yaml.Node) -> int:
    """Distinct nodes of a composed document (an alias is the node it names, counted once)."""
    seen, todo = set(), [root]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            todo.extend(n for pair in node.value for n in pair)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
    return len(seen)


def _to_python(node: yaml.Node, path: tuple, lines: dict[tuple, int], scalars: yaml.SafeLoader,
               budget: list[int]) -> Any:
    """Plain Python values from a node, refusing what a catalog never needs: tags on mappings and lists
    (`!!python/object`...), non-scalar keys, nesting deeper than MAX_DEPTH and alias bombs."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _fail("aliases expand to far more data than the file holds (an alias bomb?)", node)
    if len(path) > MAX_DEPTH:
        raise _fail(f"nests deeper than {MAX_DEPTH} levels (a recursive alias?)", node)
    lines.setdefault(path, node.start_mark.line + 1)
    if type(node) in PLAIN_TAGS and node.tag != PLAIN_TAGS[type(node)]:
        raise _fail(f"tag {node.tag!r} is not supported in a catalog", node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _fail("a key must be a plain value, not a mapping or a list", key_node)
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _fail("merge keys (<<) are not supported: write the keys out", key_node)
            key = _to_python(key_node, path + ("<key>",), {}, scalars, budget)
            if key in out:
                raise _fail(f"duplicate key {key!r}", key_node)
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, path + (key,), lines, scalars, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, path + (i,), lines, scalars, budget) for i, item in enumerate(node.value)]
    try:
        return scalars.construct_object(node)  # scalars: typed like yaml.safe_load
    except (ValueError, TypeError, AttributeError) as exc:  # e.g. 2026-13-45, !!int abc, 5000 digits
        detail = f": {exc}" if isinstance(exc, ValueError) else ""
        raise _fail(f"invalid {node.tag.rsplit(':', 1)[-1]} {node.value[:80]!r}{detail}", node) from exc


def _mark(display: str, text: str, position: int) -> yaml.Mark:
    line = text.count("\n", 0, position)
    return yaml.Mark(display, position, line, position - text.rfind("\n", 0, position) - 1, None, None)


def read_yaml(path: Path, display: str) -> Located:
    """A file's YAML as plain values with their lines; raises yaml.MarkedYAMLError with the line of the problem."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise yaml.MarkedYAMLError(problem=f"not UTF-8 text (byte {data[exc.start]:#04x})",
                                   problem_mark=_mark(display, data.decode("latin-1"), exc.start)) from exc
    lines: dict[tuple, int] = {}
    try:
        node = yaml.compose(text, Loader=COMPOSER)
    except yaml.reader.ReaderError as exc:  # carries a position, not a line
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise yaml.MarkedYAMLError(problem=f"character {char!r} is not allowed ({exc.reason})",
                                   problem_mark=_mark(display, text, exc.position)) from exc
    if node is None:
        return Located({}, display, lines)
    budget = [ALIAS_GROWTH * _node_count(node) + 10_000]
    return Located(_to_python(node, (), lines, yaml.SafeLoader(""), budget), display, lines)


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _pydantic_errors(exc: ValidationError, model: type[Model], doc: Located, base: tuple) -> list[CatalogError]:
    errors = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _fields_at(model, loc[:-1])
            message = f"unknown field {loc[-1]!r}{_suggest(loc[-1], allowed)}"
        elif err["type"] == "missing":
            message = "required field is missing"
        elif err["type"] == "literal_error":
            message = f"{message}, got {err.get('input')!r}{_suggest(err.get('input'), _literal_choices(err))}"
        elif err["type"] == "string_pattern_mismatch" and str(loc[-1]).endswith("_env"):
            message = (f"{err.get('input')!r} is not an environment variable name: letters, digits and _ (not "
                       "starting with a digit)")
        elif err["type"] == "string_pattern_mismatch":
            message = f"{err.get('input')!r} is not a valid name: use lowercase letters, digits and _ (start with a letter)"
        field_path = ".".join(str(p) for p in base + loc)
        errors.append(CatalogError(doc.file, doc.line(base + loc), field_path, message))
    return errors


def _literal_choices(err: dict) -> list[str]:
    expected = (err.get("ctx") or {}).get("expected", "")
    return [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",") if c.strip()]


def _fields_at(model: type[Model], loc: tuple) -> list[str]:
    """Field names of the (nested) model at `loc`, for 'did you mean' on unknown fields."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        info = getattr(current, "model_fields", {}).get(part)
        if info is None:
            return []
        current = _model_in(info.annotation)
    return list(getattr(current, "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, Model):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


SECTIONS = ["tenant", "owners", *LIST_SECTIONS, *SINGLE_SECTIONS]


def load_catalog(folder: str | Path) -> Catalog:
    """Load and validate every `*.yaml`/`*.yml` file under `folder`; raise `CatalogInvalid` on any error."""
    folder = Path(folder)
    parts = _Parts()
    for path in _catalog_files(folder):
        display = str(path.relative_to(folder))
        doc = _read_document(path, display, parts.errors)
        if doc is not None:
            parts.add_document(doc)
    catalog = parts.catalog(default_tenant=folder.name)
    errors = parts.errors + check_references(catalog, parts.origins, parts.broken)
    if errors:
        raise CatalogInvalid(errors)
    return catalog


def _catalog_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise CatalogInvalid([CatalogError(str(folder), 0, "", "catalog folder does not exist")])
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    if not files:
        raise CatalogInvalid([CatalogError(str(folder), 0, "", "no .yaml files in the catalog folder")])
    return files


def _read_document(path: Path, display: str, errors: list[CatalogError]) -> Located | None:
    """The file's mapping of sections, or None: empty, or unreadable with the reason added to `errors`."""
    try:
        doc = read_yaml(path, display)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        errors.append(CatalogError(display, mark.line + 1 if mark else 0, "", f"invalid YAML: {exc.problem}"))
        return None
    except (yaml.YAMLError, OSError) as exc:
        errors.append(CatalogError(display, 0, "", f"cannot read YAML: {exc}"))
        return None
    except RecursionError:
        errors.append(CatalogError(display, 0, "", "YAML nests too deeply (a recursive alias?)"))
        return None
    if doc.value in (None, {}):
        return None
    if not isinstance(doc.value, dict):
        errors.append(CatalogError(display, 1, "", "expected a mapping of sections (couriers:, feeds:, ...)"))
        return None
    return doc


@dataclass
class _Parts:
    """The sections read so far from the catalog's files, and the errors found in them."""

    errors: list[CatalogError] = field(default_factory=list)
    sections: dict[str, list] = field(default_factory=lambda: {name: [] for name in LIST_SECTIONS})
    singles: dict[str, Any] = field(default_factory=dict)
    origins: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)  # (section, name) -> (file, line)
    broken: set[tuple[str, str]] = field(default_factory=set)  # failed entries: references to them are not reported
    tenant: str | None = None
    owners: list[str] = field(default_factory=list)

    def add_document(self, doc: Located) -> None:
        for section, body in doc.value.items():
            if section == "tenant":
                self._add_tenant(doc, body)
            elif section == "owners":
                self._add_owners(doc, body)
            elif section in LIST_SECTIONS:
                self._add_list(doc, section, body)
            elif section in SINGLE_SECTIONS:
                self._add_single(doc, section, body)
            else:
                self.errors.append(CatalogError(doc.file, doc.line((section,)), str(section),
                                                f"unknown section{_suggest(section, SECTIONS)}"))

    def catalog(self, default_tenant: str) -> Catalog:
        """The catalog of every valid entry read (not validated again: its entries are, one by one)."""
        return Catalog.model_construct(tenant=self.tenant or default_tenant, owners=self.owners, **self.sections, **{
            name: self.singles.get(name, model()) for name, model in SINGLE_SECTIONS.items()
        })

    def _add_tenant(self, doc: Located, body: Any) -> None:
        if isinstance(body, str) and body.strip():
            self.tenant = body
        else:
            self.errors.append(CatalogError(doc.file, doc.line(("tenant",)), "tenant",
                                            f"expected the tenant's name, got {body!r:.80}"))

    def _add_owners(self, doc: Located, body: Any) -> None:
        try:
            if not isinstance(body, list) or not all(isinstance(o, str) for o in body):
                raise ValueError("expected a list of owners (emails or team:<name>)")
            self.owners = check_owners(body)
        except ValueError as exc:
            self.errors.append(CatalogError(doc.file, doc.line(("owners",)), "owners", str(exc)))

    def _add_list(self, doc: Located, section: str, body: Any) -> None:
        if not isinstance(body, list):
            self.errors.append(CatalogError(doc.file, doc.line((section,)), section, "expected a list of entries"))
            return
        for index, item in enumerate(body):
            self._add_entry(doc, section, index, item)

    def _add_entry(self, doc: Located, section: str, index: int, item: Any) -> None:
        """One entry of a list section: validated, and its name not taken by an entry before it."""
        model = LIST_SECTIONS[section]
        try:
            entry = model.model_validate(item)
        except (TypeError, AttributeError) as exc:  # a value of a shape no validator expects
            self.errors.append(CatalogError(doc.file, doc.line((section, index)), f"{section}.{index}",
                                            f"invalid entry: {exc}"))
            return
        except ValidationError as exc:
            self.errors.extend(_pydantic_errors(exc, model, doc, (section, index)))
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                self.broken.add((section, item["name"]))
            return
        key = (section, entry.name)
        line = doc.line((section, index))
        if key in self.origins:
            first = self.origins[key]
            self.errors.append(CatalogError(doc.file, line, f"{section}.{index}.name",
                                            f"duplicate name {entry.name!r} (first defined at {first[0]}:{first[1]})"))
            return
        self.origins[key] = (doc.file, line)
        self.sections[section].append(entry)

    def _add_single(self, doc: Located, section: str, body: Any) -> None:
        model = SINGLE_SECTIONS[section]
        if section in self.singles:
            self.errors.append(CatalogError(doc.file, doc.line((section,)), section, "section is defined in two files"))
            return
        self.origins[(section, section)] = (doc.file, doc.line((section,)))
        try:
            self.singles[section] = model.model_validate(body if body is not None else {})
        except ValidationError as exc:
            self.errors.extend(_pydantic_errors(exc, model, doc, (section,)))
