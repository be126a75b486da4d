"""Property tests (hypothesis): mutated and random catalogs load, or fail with CatalogInvalid errors that name a
file of the folder and say what is wrong; no other exception, hang or memory blow-up ever escapes."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflow_platform.catalog.loader import CatalogError, CatalogInvalid, load_catalog
from workflow_platform.catalog.models import LIST_SECTIONS, SINGLE_SECTIONS, Catalog, Model
from workflow_platform.settings import DEMO_CATALOG

FUZZ = settings(derandomize=True, deadline=None, max_examples=300, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DEMO_FILES = {p.name: p.read_text(encoding="utf-8") for p in sorted(DEMO_CATALOG.glob("*.yaml"))}
DEMO_DOCS = {name: yaml.safe_load(text) for name, text in DEMO_FILES.items()}


def alias_bomb(levels: int = 9) -> str:
    """'Billion laughs': each level is nine aliases of the one before, 9**levels strings when expanded."""
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


# top-level YAML oddities appended to (or replacing) a file
SNIPPETS = [
    alias_bomb(),
    "deep: " + "[" * 500 + "]" * 500,
    "deep: " + "{a: " * 60 + "1" + "}" * 60,
    "feeds: &loop [*loop]",
    "tenant: !!python/object/apply:os.system ['echo fuzz-executed']",
    "stitch: !!python/object/new:collections.OrderedDict [[]]",
    "alerts: !!python/name:os.system",
    "stitch: !!set {a, b}",
    "databases: !!binary aGVsbG8=",
    "tenant: !!int nope",
    "tenant: !!timestamp nope",
    "tenant: 2026-13-45",
    "tenant: " + "9" * 5000,
    "? [a, b]\n: 1",
    "? {a: 1}\n: 1",
    "base: &base {name: x}\nother: {<<: *base}",
    "segments:\n  - &seg {name: twice, sql: SELECT 1}\n  - *seg",
    "---\ntenant: second_document",
    "...\n---\n- a list document",
    "tenant: a\ntenant: b",
    "\tcouriers: []",
    "owners: 'team:x'",
    "owners: [42, null]",
]
FILE_REPLACEMENTS = ["", "42", "- a\n- b\n", "just text", "null", "~", "[]", "{}", "'quoted'", "!!binary AAAA",
                     "%YAML 1.1\n---\n{}", "%TAG ! tag:x,2000:\n--- !foo {}", "&a *a", "*undefined"]
BAD_BYTES = [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"\x1b[31m", b"\r", b"\t", b"\xef\xbb\xbf"]

# plausible values per field, so random catalogs get past the first checks and reach the deeper ones
NAMES = ["customers", "orders", "c360", "daily", "landing", "s", "d", "o", "g", "x", "Bad-Name", "", "pk"]
SQL = ["SELECT * FROM domain.customers", "SELECT * FROM segment.s", "SELECT * FROM c360.customer_360", "SELEC",
       "DELETE FROM domain.customers", "SELECT * FROM read_text('/etc/passwd')", "SELECT 1; SELECT 2", "l.a = r.a",
       "1 = (", "SELECT " + "(" * 1200 + "1" + ")" * 1200]
TEMPLATES = ["{{ name }}.csv", "{{ 1/0 }}", "{{ now | format('yyyy') }}.csv", "{% for %}", "{{ range(10**9) | list }}",
             "{name}.csv", "{{ nope }}", "../x.csv", "{{ campaign }}_{{ sub_audience }}.csv", "{{ name + 1 }}",
             "{{ now | local('Mars/Base') }}", "{{ file_number }}.csv", "{{ now.year ** 'a' }}", "{{ name[0][1] }}"]
FIELD_VALUES = {
    "sql": SQL, "blocking_rules": [[r] for r in SQL], "filename": TEMPLATES,
    "pattern": ["'c_'yyyyMMdd'.csv'", "'*", "'../x'", "yyyy", "''", "'a''b'*MM", "/abs"],
    "schedule": ["0 6 * * *", "61 * * * *", "*/0 * * * *", "0 5-1 * * *", "* * * *", "0 0 * * jan", "@daily",
                 "0 6 L * *", "0 0 31 2 *", "0 0 31 4 *", "@reboot"],
    "wait": ["2 hours", "soon", "99999999999999999999 days"], "look_back": ["1 day", "0 s", "-1 day"],
    "runtime_threshold": ["2 hours", "x"], "tag": ["pk", "email", "fk-shop", "sk-x", "bogus", ["pk", "pk"]],
    "type": ["string", "date", "datetime", "decimal(12,2)", "decimal(40,2)", "customer_360", "webhook", "s3"],
    "format": ["yyyy-MM-dd", "YYYY", "'", "csv", "delimited", "parquet", "ndjson"],
    "timezone": ["UTC", "Mars/Base", "America/New_York", "../../etc/passwd", ""],
    "url": ["s3://b/p", "http://x", "sftp://h/p", "landing", "file:///tmp"], "folder": ["../up", "a/b", ""],
    "owners": [["team:data"], ["a@b.example"], ["nobody"]], "email": [["a@b.example"], ["bad"]],
    "slack": [["#alerts"], ["alerts"]], "quarantine": ["_q", "/abs", "..", ""], "delimiter": [",", "\n", "ab", ""],
    "quote": ['"', "''", ""], "percent": [50, 100, 0, 150, float("nan")], "start": ["2026-01-01T09:00:00"],
    "recurrence": ["once", "daily", "weekly"], "run_after": NAMES, "last_updated": NAMES,
}
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63), st.floats(), st.sampled_from(NAMES),
    st.text(max_size=12), st.text(st.characters(max_codepoint=0x1F), max_size=4), st.dates(), st.datetimes(),
    st.just("x" * 50_000), st.sampled_from(["\u202e", "\ufeff", "\u0000", "é", "名前", "\U0001f600", "\u2028"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6) | st.sampled_from(NAMES), inner, max_size=3),
                      max_leaves=8)


def model_in(annotation):
    """The catalog model inside a field's annotation (list[FeedColumn] -> FeedColumn), or None."""
    if isinstance(annotation, type) and issubclass(annotation, Model):
        return annotation
    return next((m for m in map(model_in, getattr(annotation, "__args__", ())) if m), None)


def entry(model: type[Model], depth: int = 0) -> st.SearchStrategy:
    """A mapping with any of the model's fields (nested models too), each a plausible or a random value."""
    optional = {}
    for name, info in model.model_fields.items():
        nested = model_in(info.annotation) if depth < 2 else None
        plausible = st.sampled_from(FIELD_VALUES.get(name, NAMES))
        options = [plausible, plausible, VALUES]
        if nested:
            options = [entry(nested, depth + 1), st.lists(entry(nested, depth + 1) | plausible, min_size=1, max_size=3),
                       *options]
        optional[name] = st.one_of(options)
    return st.fixed_dictionaries({}, optional={**optional, "bogus_field": VALUES})


SECTION_BODIES = {
    **{name: st.one_of(st.lists(entry(model), min_size=1, max_size=3), st.lists(entry(model), max_size=3), VALUES)
       for name, model in LIST_SECTIONS.items()},
    **{name: entry(model) | VALUES for name, model in SINGLE_SECTIONS.items()},
    "tenant": st.sampled_from(NAMES) | VALUES,
    "owners": st.sampled_from(FIELD_VALUES["owners"]) | VALUES,
    "courier_group": VALUES,
}


@contextmanager
def catalog_folder(files: dict[str, str | bytes]):
    """A temporary catalog folder with these files (made here, not with tmp_path: hypothesis runs many examples)."""
    with tempfile.TemporaryDirectory(prefix="catalog-fuzz-") as tmp:
        folder = Path(tmp) / "catalog"
        folder.mkdir()
        for name, content in files.items():
            path = folder / name
            if isinstance(content, str):
                path.write_text(content, encoding="utf-8", errors="surrogatepass")
            else:
                path.write_bytes(content)
        yield folder


def load_or_report(folder: Path) -> Catalog | list[CatalogError]:
    """The property: a Catalog, or CatalogInvalid whose every error names a file of the folder and says why."""
    started = time.monotonic()
    files = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    try:
        result = load_catalog(folder)
    except CatalogInvalid as exc:
        assert exc.errors, "CatalogInvalid without errors"
        for error in exc.errors:
            assert isinstance(error, CatalogError), error
            assert error.file in files, f"{error} does not name a file of the catalog ({sorted(files)})"
            assert isinstance(error.line, int) and error.line >= 0, error
            assert isinstance(error.message, str) and error.message.strip(), error
            assert str(error)
        result = exc.errors
    else:
        assert Catalog.model_validate(result.model_dump()) == result  # nothing slipped past the models
    assert time.monotonic() - started < 10, "loading took too long"
    return result


def dump(doc) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: the long strings make the Python one slow
    return yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True, width=200)


def paths_in(value, path: tuple = ()) -> list[tuple]:
    """Every path to a nested value (dict key or list index), the root excluded."""
    out = []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        out.append(path + (key,))
        out.extend(paths_in(child, path + (key,)))
    return out


def parent_of(doc, path: tuple):
    for key in path[:-1]:
        doc = doc[key]
    return doc


def mutate_document(doc, data: st.DataObject):
    """One structural mutation at a random place: delete, retype, rename or duplicate."""
    paths = paths_in(doc)
    if not paths:
        return data.draw(VALUES, label="new document")
    path = data.draw(st.sampled_from(paths), label="path")
    parent, key = parent_of(doc, path), path[-1]
    kind = data.draw(st.sampled_from(["delete", "replace", "rename", "duplicate"]), label="mutation")
    if kind == "delete":
        del parent[key]
    elif kind == "replace":
        plausible = st.sampled_from(FIELD_VALUES.get(key, NAMES))
        parent[key] = data.draw(plausible | plausible | VALUES, label="value")
    elif kind == "rename" and isinstance(parent, dict):
        new = data.draw(st.sampled_from(NAMES) | st.text(max_size=8) | st.sampled_from([f"{key}s", f"{key}"[:-1]]),
                        label="new key")
        parent[new] = parent.pop(key)
    elif isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    return doc


def mutate_text(text: str, data: st.DataObject) -> str | bytes:
    """One textual mutation: truncate, splice bytes, a tab, a YAML oddity appended, or a whole new content."""
    raw = text.encode("utf-8")
    kind = data.draw(st.sampled_from(["snippet", "truncate", "bytes", "snippet", "tab", "replace"]), label="text")
    at = data.draw(st.integers(0, len(raw)), label="at")
    if kind == "truncate":
        return raw[:at]
    if kind == "bytes":
        return raw[:at] + data.draw(st.sampled_from(BAD_BYTES) | st.binary(min_size=1, max_size=6)) + raw[at:]
    if kind == "tab":
        lines = text.splitlines(keepends=True)
        index = data.draw(st.integers(0, max(len(lines) - 1, 0)), label="line")
        lines[index:index + 1] = ["\t" + line.lstrip(" ") for line in lines[index:index + 1]]
        return "".join(lines)
    if kind == "snippet":
        snippet = data.draw(st.sampled_from(SNIPPETS), label="snippet")
        return snippet + "\n" + text if data.draw(st.booleans(), label="prepend") else text + "\n" + snippet + "\n"
    return data.draw(st.sampled_from(FILE_REPLACEMENTS), label="replacement")


@st.composite
def mutated_demo(draw) -> dict[str, str | bytes]:
    """The demo catalog with one to three mutations; sometimes a file is dropped."""
    data = draw(st.data())
    docs = copy.deepcopy(DEMO_DOCS)
    if draw(st.integers(0, 3), label="drop a file") == 0:
        docs.pop(draw(st.sampled_from(sorted(docs)), label="dropped"))
    targets = draw(st.lists(st.sampled_from(sorted(docs)), min_size=1, max_size=3), label="mutated files")
    kinds = [draw(st.sampled_from(["structure", "text", "both"]), label="kind") for _ in targets]
    for name, kind in zip(targets, kinds, strict=True):
        if kind != "text":
            docs[name] = mutate_document(docs[name], data)
    files = {name: dump(doc) for name, doc in docs.items()}
    for name, kind in zip(targets, kinds, strict=True):
        if kind != "structure":
            files[name] = mutate_text(files[name] if isinstance(files[name], str) else files[name].decode(
                "utf-8", "replace"), data)
    return files


@st.composite
def random_catalog(draw) -> dict[str, str]:
    """A catalog made from scratch: one to three files of random sections with fields the models know."""
    files = {}
    for index in range(draw(st.integers(1, 3), label="files")):
        sections = draw(st.fixed_dictionaries({}, optional=SECTION_BODIES))
        sections |= draw(st.dictionaries(st.text(max_size=8), VALUES, max_size=1), label="unknown sections")
        files[f"f{index}.{draw(st.sampled_from(['yaml', 'yml']))}"] = dump(sections)
    return files


def test_demo_catalog_satisfies_the_property():
    with catalog_folder(DEMO_FILES) as folder:
        assert isinstance(load_or_report(folder), Catalog)


@settings(FUZZ, max_examples=500)
@given(mutated_demo())
def test_mutated_demo_catalogs_load_or_report_clear_errors(files):
    with catalog_folder(files) as folder:
        load_or_report(folder)


@pytest.mark.slow  # hypothesis: many random catalogs loaded, ~25 s
@FUZZ
@given(random_catalog())
def test_random_catalogs_load_or_report_clear_errors(files):
    with catalog_folder(files) as folder:
        load_or_report(folder)


def named_lists(doc, path: tuple = ()) -> list[tuple]:
    """Paths of lists whose items are mappings with a `name` (or a group's `courier`)."""
    out = []
    if isinstance(doc, list) and doc and all(isinstance(i, dict) and ("name" in i or "courier" in i) for i in doc):
        out.append(path)
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, child in items:
        out.extend(named_lists(child, path + (key,)))
    return out


DUPLICABLE = [(name, path) for name, doc in DEMO_DOCS.items() for path in named_lists(doc)]


@settings(FUZZ, max_examples=len(DUPLICABLE) * 2)
@given(st.sampled_from(DUPLICABLE), st.data())
def test_a_duplicated_named_entry_is_an_error(where, data):
    name, path = where
    docs = copy.deepcopy(DEMO_DOCS)
    items = docs[name]
    for key in path:
        items = items[key]
    index = data.draw(st.integers(0, len(items) - 1), label="item")
    items.insert(index, copy.deepcopy(items[index]))
    with catalog_folder({n: dump(d) for n, d in docs.items()}) as folder:
        errors = load_or_report(folder)
    assert isinstance(errors, list), f"a duplicated item of {name}:{'.'.join(map(str, path))} was accepted"
    assert any(e.file == name for e in errors), errors


def test_an_alias_bomb_is_refused_quickly():
    started = time.monotonic()
    with catalog_folder({**DEMO_FILES, "bomb.yaml": alias_bomb(levels=12)}) as folder:
        errors = load_or_report(folder)
    assert time.monotonic() - started < 5
    [error] = errors
    assert error.file == "bomb.yaml" and error.line >= 1 and "alias bomb" in error.message


def test_python_tags_never_execute(tmp_path: Path):
    marker = tmp_path / "executed"
    payloads = [f"!!python/object/apply:os.system ['touch {marker}']",
                f"!!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path ['{marker}']]",
                f"!!python/object/new:pathlib.Path ['{marker}']", "!!python/name:os.system"]
    for payload in payloads:
        with catalog_folder({**DEMO_FILES, "evil.yaml": f"tenant: {payload}\n"}) as folder:
            errors = load_or_report(folder)
        assert [(e.file, e.line) for e in errors] == [("evil.yaml", 1)], errors
        assert "tag" in errors[0].message
    assert not marker.exists()


@pytest.mark.parametrize("text, line, message", [
    ("tenant: x\n? [a, b]\n: 1\n", 2, "a key must be a plain value"),
    ("tenant: x\nstitch: {max_cluster_size: 2026-13-45}\n", 2, "invalid timestamp '2026-13-45'"),
    ("tenant: !!int nope\n", 1, "invalid int 'nope'"),
    ("tenant: " + "9" * 5000 + "\n", 1, "invalid int"),
    ("tenant: x\nfeeds: &loop [*loop]\n", 2, "nests deeper than"),
    ("tenant: x\nfeeds: !!set {a: null}\n", 2, "tag 'tag:yaml.org,2002:set' is not supported"),
    ("a: &a {x: 1}\nb: {<<: *a}\n", 2, "merge keys (<<) are not supported"),
    ("tenant: x\nowners: [\"a\x00b\"]\n", 2, "is not allowed"),
    (b"tenant: x\nowners: [\xff]\n", 2, "not UTF-8"),
    ("tenant: [a]\n", 1, "expected the tenant's name"),
])
def test_yaml_oddities_are_errors_with_file_and_line(text, line, message):
    with catalog_folder({"odd.yaml": text}) as folder:
        errors = load_or_report(folder)
    assert isinstance(errors, list)
    assert any(e.file == "odd.yaml" and e.line == line and message in e.message for e in errors), errors


def test_template_errors_name_the_field():
    text = DEMO_FILES["activations.yaml"].replace('filename: "high_value_customers_', 'filename: "{{ 1/0 }}')
    with catalog_folder({**DEMO_FILES, "activations.yaml": text}) as folder:
        errors = load_or_report(folder)
    [error] = errors
    assert error.field == "orchestrations.0.filename" and "ZeroDivisionError" in error.message


@pytest.mark.parametrize("name, content", [
    ("sources.yaml", DEMO_FILES["sources.yaml"][:1500]),  # truncated mid-entry
    ("bomb.yaml", alias_bomb()),
    ("databases.yaml", DEMO_FILES["databases.yaml"].encode() + b"\n\xff\xfe tenant: !!python/name:os.system\n"),
])
def test_cli_validate_reports_mutated_catalogs_without_traceback(tmp_path: Path, name, content):
    folder = tmp_path / "catalog"
    shutil.copytree(DEMO_CATALOG, folder)
    target = folder / name
    target.write_bytes(content if isinstance(content, bytes) else content.encode())
    run = subprocess.run([sys.executable, "-m", "workflow_platform.cli", "validate", str(folder)],
                         check=False, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert f"error {name}:" in run.stderr
