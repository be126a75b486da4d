"""Checks across a whole catalog: every name a section uses exists, the catalog's SQL parses and reads known tables
(never in a cycle), and couriers and orchestrations are each in one group at most."""

from __future__ import annotations

import difflib
import functools
import json

import duckdb

from workflow_platform.catalog.errors import CatalogError, SqlParseError
from workflow_platform.catalog.models import PII_TAGS, Catalog, Destination
from workflow_platform.formats.filenames import uses_file_number

RESERVED_SCHEMAS = {"raw", "staging", "domain", "stitch", "segment", "campaign", "audit", "main",
                    "information_schema"}
STANDARD_TABLES = ("unified_coalesced", "merged_customers", "customer_360")


def database_tables(catalog: Catalog) -> dict[str, list[str]]:
    """Qualified table names each database provides, in build order."""
    out = {}
    for db in catalog.databases:
        standard = list(STANDARD_TABLES) if db.type == "customer_360" else []
        out[db.name] = [f"{db.name}.{t}" for t in standard] + [f"{db.name}.{t.name}" for t in db.tables]
    return out


_PARSER = duckdb.connect()  # an in-memory connection used only to parse SQL


def sql_tables(sql: str) -> set[str]:
    """Qualified names (`schema.table`, lowercase) of the tables a SELECT reads; CTE names are left out.

    Parses only (DuckDB's json_serialize_sql), so it needs no warehouse; raises SqlParseError."""
    tree = json.loads(_PARSER.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    if tree.get("error"):
        message = tree.get("error_message", "cannot parse")
        if "Only SELECT" in message or tree.get("error_type") == "not implemented":
            message = "must be a single SELECT statement"
        raise SqlParseError(message)
    if len(tree.get("statements", [])) != 1:
        raise SqlParseError("must be a single SELECT statement")
    tables: set[str] = set()
    ctes: set[str] = set()
    _collect_tables(tree["statements"], tables, ctes)
    return {t for t in tables if t not in ctes}


def _collect_tables(node, tables: set[str], ctes: set[str]) -> None:
    """Add the tables and the CTE names of a json_serialize_sql tree, depth first; raise SqlParseError at the first
    node catalog SQL may not hold."""
    if isinstance(node, list):
        for value in node:
            _collect_tables(value, tables, ctes)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "TABLE_FUNCTION":
        name = (node.get("function") or {}).get("function_name", "?")
        raise SqlParseError(f"table function {name}() is not allowed: catalog SQL reads warehouse tables only")
    kind = str(node.get("type", ""))
    if kind.endswith("_QUERY_NODE"):  # DELETE/UPDATE/INSERT inside a WITH clause
        raise SqlParseError(f"must be a single SELECT statement: it holds a {kind.removesuffix('_QUERY_NODE')} "
                            "in a WITH clause")
    if node.get("type") == "BASE_TABLE":
        name = node.get("table_name", "").lower()
        schema = node.get("schema_name", "").lower()
        tables.add(f"{schema}.{name}" if schema else name)
    for entry in (node.get("cte_map") or {}).get("map", []) if isinstance(node.get("cte_map"), dict) else []:
        ctes.add(str(entry.get("key", "")).lower())
    for value in node.values():
        _collect_tables(value, tables, ctes)


def _node_types(node) -> set[str]:
    """Every `type` in a json_serialize_sql tree."""
    if isinstance(node, dict):
        found = {str(node["type"])} if "type" in node else set()
        return found.union(*(_node_types(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_node_types(v) for v in node))
    return set()


def check_references(
    catalog: Catalog, origins: dict[tuple[str, str], tuple[str, int]], broken: set[tuple[str, str]] = frozenset()
) -> list[CatalogError]:
    """Every error between sections, in this order: Stitch settings, couriers, courier groups, feeds, database and
    segment SQL (and its cycles), orchestrations, campaigns, orchestration groups.

    `origins` gives the file and line of each (section, name); `broken` names the entries that failed to load, so a
    reference to one is not reported again."""
    check = _Checker(catalog, origins, broken)
    _check_stitch(check)
    _check_couriers(check)
    member_of = _check_courier_groups(check)
    _check_feeds(check, member_of)
    _check_tables(check)
    check.errors.extend(_cycles(catalog, origins))
    _check_orchestrations(check)
    _check_campaigns(check)
    _check_orchestration_groups(check)
    return check.errors


class _Checker:
    """The catalog being checked and the errors found so far, with the two ways of reporting one."""

    def __init__(self, catalog: Catalog, origins: dict[tuple[str, str], tuple[str, int]],
                 broken: set[tuple[str, str]]):
        self.catalog, self.origins, self.broken = catalog, origins, broken
        self.errors: list[CatalogError] = []
        self._known: dict[str, set[str]] = {}

    def names(self, section: str) -> list[str]:
        """The names a section defines, the entries that failed to load included."""
        return [e.name for e in getattr(self.catalog, section)] + [n for s, n in self.broken if s == section]

    def err(self, section: str, entry: str, field: str, message: str) -> None:
        file, line = self.origins.get((section, entry), ("catalog", 0))
        self.errors.append(CatalogError(file, line, f"{section}.{entry}.{field}", message))

    def ref(self, section: str, entry: str, field: str, target_section: str, value: str | None, extra=()) -> None:
        """Report `value` unless `target_section` (or `extra`) has an entry of that name."""
        if value is None:
            return
        if target_section not in self._known:
            self._known[target_section] = set(self.names(target_section))
        if value not in self._known[target_section] and value not in extra:
            choices = self.names(target_section) + list(extra)
            close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.err(section, entry, field, f"unknown {target_section[:-1].replace('_', ' ')} {value!r}{hint}")

    @functools.cached_property
    def destinations(self) -> dict[str, Destination]:
        return {d.name: d for d in self.catalog.destinations}


def _check_stitch(check: _Checker) -> None:
    file, line = check.origins.get(("stitch", "stitch"), ("catalog", 0))
    check.errors.extend(_check_blocking_rules(check.catalog, file, line))
    check.errors.extend(_check_stitch_columns(check.catalog, file, line))


def _check_blocking_rules(catalog: Catalog, file: str, line: int) -> list[CatalogError]:
    """A Splink blocking rule is a condition over the two records l and r, and reads nothing else."""
    errors = []
    for i, rule in enumerate(catalog.stitch.blocking_rules or []):
        tree = json.loads(_PARSER.execute("SELECT json_serialize_sql(?)",
                                          [f"SELECT 1 FROM records AS l, records AS r WHERE {rule}"]).fetchone()[0])
        if tree.get("error"):
            errors.append(CatalogError(file, line, f"stitch.blocking_rules[{i}]",
                                       f"does not parse as a condition over l. and r.: {tree.get('error_message', '')}"))
        elif {"SUBQUERY", "TABLE_FUNCTION"} & _node_types(tree):  # it would read beyond the two records
            errors.append(CatalogError(file, line, f"stitch.blocking_rules[{i}]",
                                       "must compare columns of l. and r. only: no subqueries or table functions"))
    return errors


def _check_couriers(check: _Checker) -> None:
    for courier in check.catalog.couriers:
        check.ref("couriers", courier.name, "feed", "feeds", courier.feed)
        check.ref("couriers", courier.name, "location", "locations", courier.location, extra=["landing"])


def _check_courier_groups(check: _Checker) -> dict[str, str]:
    """A courier is in one courier group at most; returns courier -> its group."""
    member_of: dict[str, str] = {}
    for group in check.catalog.courier_groups:
        for item in group.couriers:
            check.ref("courier_groups", group.name, "couriers", "couriers", item.courier)
            if item.courier in member_of and member_of[item.courier] != group.name:
                check.err("courier_groups", group.name, "couriers",
                          f"courier {item.courier!r} is already in courier group {member_of[item.courier]!r}")
            elif item.courier in member_of:
                check.err("courier_groups", group.name, "couriers", f"courier {item.courier!r} is listed twice")
            member_of[item.courier] = group.name
    return member_of


def _check_feeds(check: _Checker, member_of: dict[str, str]) -> None:
    catalog = check.catalog
    for feed in catalog.feeds:  # a feed loads in one step, so its couriers run in one group (or none)
        groups = {member_of.get(c.name) for c in catalog.couriers_of_feed(feed.name) if c.load != "land_only"}
        if len(groups) > 1:
            named = ", ".join(sorted(g or "(no group)" for g in groups))
            check.err("feeds", feed.name, "couriers",
                      f"the couriers of feed {feed.name!r} are in different courier groups "
                      f"({named}); a feed loads in one step, so put them in one group")
        linked = any(t.startswith("fk-") for c in feed.columns for t in c.tag)
        if feed.is_transactions and not feed.has_pii and not linked:
            check.err("feeds", feed.name, "columns",
                      "a transaction feed needs a column tagged fk-<namespace> that links orders to customers")


def _check_tables(check: _Checker) -> None:
    """Database and segment SQL: parse it and check every table it reads."""
    catalog = check.catalog
    loaded = {c.feed for c in catalog.couriers if c.load != "land_only"}  # feeds that get a domain table
    known_tables = {f"domain.{f}" for f in loaded} | {f"segment.{s.name}" for s in catalog.segments}
    for tables in database_tables(catalog).values():
        known_tables |= set(tables)
    for db in catalog.databases:
        if db.name in RESERVED_SCHEMAS:
            check.err("databases", db.name, "name",
                      f"{db.name!r} is reserved; reserved names: {', '.join(sorted(RESERVED_SCHEMAS))}")
        for table in db.tables:
            if db.type == "customer_360" and table.name in STANDARD_TABLES:
                check.err("databases", db.name, f"tables.{table.name}", "name clashes with a table Stitch builds")
            _check_sql(check, "databases", db.name, f"tables.{table.name}.sql", table.sql, known_tables,
                       own=f"{db.name}.{table.name}")
    for segment in catalog.segments:
        _check_sql(check, "segments", segment.name, "sql", segment.sql, known_tables, own=f"segment.{segment.name}")


def _split_needs_number(check: _Checker, section: str, entry: str, destination: str, template: str) -> None:
    """A destination that splits files needs a file name template that numbers the parts."""
    target = check.destinations.get(destination)
    if target and target.split_rows and target.type != "webhook" and not uses_file_number(template):
        check.err(section, entry, "filename",
                  f"destination {destination!r} splits files every {target.split_rows} "
                  "rows: the file name template needs {{ file_number }} so the parts get different names")


def _check_orchestrations(check: _Checker) -> None:
    for orch in check.catalog.orchestrations:
        check.ref("orchestrations", orch.name, "segment", "segments", orch.segment)
        check.ref("orchestrations", orch.name, "destination", "destinations", orch.destination)
        _split_needs_number(check, "orchestrations", orch.name, orch.destination, orch.filename)


def _check_campaigns(check: _Checker) -> None:
    for campaign in check.catalog.campaigns:
        check.ref("campaigns", campaign.name, "segment", "segments", campaign.segment)
        for sub in campaign.sub_audiences:
            for dest in sub.destinations:
                check.ref("campaigns", campaign.name, f"sub_audiences.{sub.name}.destinations", "destinations", dest)
                _split_needs_number(check, "campaigns", campaign.name, dest, campaign.filename)


def _check_orchestration_groups(check: _Checker) -> None:
    """An orchestration is in one group at most and runs automatically; run_after names a 'full' courier group."""
    catalog = check.catalog
    in_group: dict[str, str] = {}
    for group in catalog.orchestration_groups:
        for orch in group.orchestrations:
            check.ref("orchestration_groups", group.name, "orchestrations", "orchestrations", orch)
            if orch in in_group:
                check.err("orchestration_groups", group.name, "orchestrations",
                          f"orchestration {orch!r} is already in orchestration group {in_group[orch]!r}")
            in_group[orch] = group.name
            if any(o.name == orch and o.workflow == "manual" for o in catalog.orchestrations):
                check.err("orchestration_groups", group.name, "orchestrations",
                          f"orchestration {orch!r} is manual; set its workflow to 'automatic' to run it in a group")
        check.ref("orchestration_groups", group.name, "run_after", "courier_groups", group.run_after)
        upstream = next((g for g in catalog.courier_groups if g.name == group.run_after), None)
        if upstream and upstream.run_type != "full":
            check.err("orchestration_groups", group.name, "run_after",
                      f"courier group {upstream.name!r} has run_type {upstream.run_type!r}, which never runs activations; "
                      "run after a 'full' group, or use a schedule")


def _check_stitch_columns(catalog: Catalog, file: str, line: int) -> list[CatalogError]:
    """stitch.identifiers name fk tags of Stitch feeds; stitch.match_columns name columns the Stitch feeds have,
    under names that are not already Stitch record columns."""
    errors = []
    feeds = {f.name: f for f in catalog.stitch_feeds}
    tags = {t for f in feeds.values() for c in f.columns for t in c.tag}
    for tag in catalog.stitch.identifiers:
        if tag not in tags:
            errors.append(CatalogError(file, line, f"stitch.identifiers.{tag}", f"no Stitch feed has a column tagged {tag}"))
    taken = {"source", "pk", "record_key", "priority", "updated_at", "unique_id", "is_new", "name_key",
             "given_name_forms", "given_name_root"} | {t.replace("-", "_") for t in PII_TAGS}
    for name, spec in catalog.stitch.match_columns.items():
        where = f"stitch.match_columns.{name}"
        if name in taken or name.startswith(("fk_", "sk_")):
            errors.append(CatalogError(file, line, where, f"{name!r} is a Stitch record column already; give the "
                                                          "match column another name"))
            continue
        mapped = {} if isinstance(spec, str) else spec.columns
        for feed, column in mapped.items():
            if feed not in feeds:
                errors.append(CatalogError(file, line, f"{where}.columns.{feed}", f"{feed!r} is not a Stitch feed"))
            elif not any(c.name == column for c in feeds[feed].columns):
                errors.append(CatalogError(file, line, f"{where}.columns.{feed}",
                                           f"feed {feed!r} has no column {column!r}"))
        if not any(any(c.name == mapped.get(f.name, name) for c in f.columns) for f in feeds.values()):
            errors.append(CatalogError(file, line, where, f"no Stitch feed has a column {name!r}; map the feeds' "
                                                          "columns with {kind: ..., columns: {feed: column}}"))
    return errors


def _check_sql(check: _Checker, section: str, entry: str, field: str, sql: str, known_tables: set[str],
               own: str) -> None:
    """The SQL parses, and reads only known tables (qualified with their schema), never its own."""
    try:
        tables = sql_tables(sql)
    except SqlParseError as exc:
        check.err(section, entry, field, f"SQL does not parse: {exc}")
        return
    for table in sorted(tables):
        if table == own:
            check.err(section, entry, field, f"reads itself ({table})")
        elif table not in known_tables:
            if "." not in table:
                candidates = [t for t in known_tables if t.endswith("." + table)]
                hint = f"; did you mean {candidates[0]!r}?" if candidates else ""
                check.err(section, entry, field, f"table {table!r} must be qualified with its schema{hint}")
            else:
                close = difflib.get_close_matches(table, sorted(known_tables), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                check.err(section, entry, field, f"unknown table {table!r}{hint}")


def _cycles(catalog: Catalog, origins) -> list[CatalogError]:
    """Segments and custom tables that read each other in a circle can never be built."""
    sql_of = {f"segment.{s.name}": ("segments", s.name, "sql", s.sql) for s in catalog.segments}
    for db in catalog.databases:
        for t in db.tables:
            sql_of[f"{db.name}.{t.name}"] = ("databases", db.name, f"tables.{t.name}.sql", t.sql)
    reads = {}
    for table, (*_, sql) in sql_of.items():
        try:
            reads[table] = sorted(sql_tables(sql) & set(sql_of))
        except SqlParseError:
            reads[table] = []  # reported already
    errors, state = [], {}

    def visit(table: str, path: list[str]) -> None:
        state[table] = "open"
        for read in reads[table]:
            if state.get(read) == "open":
                cycle = path[path.index(read):] + [table, read] if read in path else [table, read]
                section, entry, field, _ = sql_of[table]
                file, line = origins.get((section, entry), ("catalog", 0))
                errors.append(CatalogError(file, line, f"{section}.{entry}.{field}",
                                           f"tables read each other in a cycle: {' -> '.join(cycle)}"))
            elif read not in state:
                visit(read, path + [table])
        state[table] = "done"

    for table in sorted(sql_of):
        if table not in state:
            visit(table, [])
    return errors
