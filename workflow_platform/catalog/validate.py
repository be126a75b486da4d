"""Checks across a whole catalog: every name a section uses exists, the catalog's SQL parses and reads known tables
(never in a cycle), and couriers and orchestrations are each in one group at most."""

from __future__ import annotations

import difflib
import functools
import ipaddress
import json
import os
import posixpath
import re
from urllib.parse import urlsplit

import duckdb

from workflow_platform.catalog.errors import CatalogError, SqlParseError
from workflow_platform.catalog.models import PII_TAGS, Catalog, Destination
from workflow_platform.formats.filenames import uses_file_number
from workflow_platform.settings import allowed_hosts, allowed_roots, resolve_local

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
        elif "A CTE needs a SELECT" in message:  # DuckDB 1.5 does not parse DELETE/UPDATE/INSERT in a WITH clause
            found = re.search(r"\bAS\s*(?:NOT\s+)?(?:MATERIALIZED\s*)?\(\s*(DELETE|UPDATE|INSERT)\b", sql, re.IGNORECASE)
            kind = found.group(1).upper() if found else "data-modifying statement"
            message = f"must be a single SELECT statement: it holds a {kind} in a WITH clause"
        raise SqlParseError(message)
    if len(tree.get("statements", [])) != 1:
        raise SqlParseError("must be a single SELECT statement")
    tables: set[str] = set()
    ctes: set[str] = set()
    _collect_tables(tree["statements"], tables, ctes)
    return {t for t in tables if t not in ctes}


# what makes a SELECT's result change with the clock, not with its tables (Amperity's "normal" refresh rebuilds
# such tables every time): functions, and the SQL keywords DuckDB parses as column references
TIME_FUNCTIONS = frozenset({"now", "today", "random", "uuid", "uuidv4", "uuidv7", "gen_random_uuid",
                            "current_timestamp", "get_current_timestamp", "get_current_time", "current_time",
                            "current_localtime", "current_localtimestamp", "localtimestamp", "transaction_timestamp",
                            "current_date", "age/1"})  # age(x) with one argument: the age today


def is_time_dependent(sql: str) -> bool:
    """Whether a SELECT reads the clock or a random source (CURRENT_DATE, now(), random(), ...)."""
    tree = json.loads(_PARSER.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    return bool(_time_names(tree) & TIME_FUNCTIONS)


def _time_names(node) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_time_names(v) for v in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = set()
    if node.get("class") == "FUNCTION":
        name = str(node.get("function_name", "")).lower()
        found.add(f"{name}/{len(node.get('children') or node.get('arguments') or [])}" if name == "age" else name)
    if node.get("class") == "COLUMN_REF" and len(node.get("column_names") or []) == 1:
        found.add(str(node["column_names"][0]).lower())
    return found.union(*(_time_names(v) for v in node.values()))


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
    _check_reach(check)
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
        if courier.ingest_sql is not None:
            _check_ingest_sql(check, courier.name, courier.ingest_sql)


def _check_ingest_sql(check: _Checker, courier: str, sql: str) -> None:
    """An ingest SQL reads the file's rows (`file`) and nothing else."""
    try:
        tables = sql_tables(sql)
    except SqlParseError as exc:
        check.err("couriers", courier, "ingest_sql", f"SQL does not parse: {exc}")
        return
    outside = sorted(t for t in tables if t != "file")
    if outside:
        check.err("couriers", courier, "ingest_sql", f"reads {', '.join(map(repr, outside))}: an ingest SQL reads only "
                  "`file`, the rows of the file being loaded")
    elif not tables:
        check.err("couriers", courier, "ingest_sql", "reads no table: select from `file`, the rows of the file")


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
    sources = [("feeds", f) for f in catalog.feeds]
    sources += [("custom_domain_tables", t.as_feed) for t in catalog.custom_domain_tables]
    for section, feed in sources:
        linked = any(t.startswith("fk-") for c in feed.columns for t in c.tag)
        if feed.is_transactions and not feed.has_pii and not linked:
            check.err(section, feed.name, "columns",
                      "a transaction feed needs a column tagged fk-<namespace> that links orders to customers")


def _check_tables(check: _Checker) -> None:
    """Database and segment SQL: parse it and check every table it reads."""
    catalog = check.catalog
    loaded = {c.feed for c in catalog.couriers if c.load != "land_only"}  # feeds that get a domain table
    feed_tables = {f"domain.{f}" for f in loaded}
    feed_names = set(check.names("feeds"))
    for custom in catalog.custom_domain_tables:
        if custom.name in feed_names:
            check.err("custom_domain_tables", custom.name, "name",
                      f"feed {custom.name!r} has the domain table domain.{custom.name} already; choose another name")
        _check_sql(check, "custom_domain_tables", custom.name, "sql", custom.sql, feed_tables,
                   own=f"domain.{custom.name}", reads="the domain tables of feeds")
    known_tables = feed_tables | {f"domain.{t.name}" for t in catalog.custom_domain_tables}
    known_tables |= {f"segment.{s.name}" for s in catalog.segments}
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
        check.ref("orchestration_groups", group.name, "when_new_data_from", "courier_groups", group.when_new_data_from)
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
               own: str, reads: str = "") -> None:
    """The SQL parses, and reads only known tables (qualified with their schema), never its own; `reads` says
    which tables it may read when that is narrower than the warehouse's."""
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
                scope = f" (it may read {reads})" if reads else ""
                check.err(section, entry, field, f"unknown table {table!r}{scope}{hint}")


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


# --------------------------------------------------------------------------- what the catalog may reach
# The operator's settings (WORKFLOW_PLATFORM_ALLOWED_ROOTS, WORKFLOW_PLATFORM_ALLOWED_HOSTS). storage.open_url
# enforces the roots again when a run opens a location or destination, and network.py checks every host at
# connection time (a name can change its address); here the catalog is refused early, naming the setting.

_SCHEME_ALIASES = {"ssh": "sftp", "s3a": "s3", "gs": "gcs", "local": "file"}


def _scheme(url: str) -> str:
    scheme = url.split("://", 1)[0].lower() if "://" in url else "file"
    return _SCHEME_ALIASES.get(scheme, scheme)


def local_path(url: str) -> str | None:
    """The real local folder a location or destination URL names (symbolic links and '..' resolved; relative
    paths under the data folder), or None for a remote URL."""
    if _scheme(url) != "file":
        return None
    path = urlsplit(url).path if "://" in url else resolve_local(url)
    return os.path.realpath(os.path.expanduser(path))


def _remote_parts(url: str) -> tuple[str, str, int | None, str]:
    """(scheme, host or bucket, port, normalized path) of a remote URL; user info and query left out."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1  # never matches a root
    path = posixpath.normpath("/" + parts.path.lstrip("/")) if parts.path.strip("/") else "/"
    return _scheme(url), (parts.hostname or "").lower(), port, path.replace("//", "/")


def _under(path: str, folder: str, sep: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(sep) + sep)


def within_roots(url: str) -> bool:
    """Whether a location or destination URL lies inside one of the operator's allowed roots
    (settings.allowed_roots): a local path compared after resolving links and '..', a remote URL by protocol,
    host (or bucket), port when the root names one, and path prefix. Chained URLs (`a::b`) are never inside."""
    if "::" in url:
        return False
    local = local_path(url)
    for root in allowed_roots():
        if _scheme(root) == "file":
            if local is not None and _under(local, local_path(root) or os.sep, os.sep):
                return True
        elif local is None:
            scheme, host, port, path = _remote_parts(url)
            r_scheme, r_host, r_port, r_path = _remote_parts(root)
            if (scheme, host) == (r_scheme, r_host) and r_port in (None, port) and _under(path, r_path, "/"):
                return True
    return False


def shown_url(url: str) -> str:
    """A URL for messages: a local path as given, a remote one without user info or query string."""
    if _scheme(url) == "file":
        return url
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    try:
        netloc += f":{parts.port}" if parts.port else ""
    except ValueError:
        pass
    return f"{parts.scheme}://{netloc}{parts.path}"


def outside_roots_message(url: str) -> str:
    return (f"url {shown_url(url)!r} is outside the folders and remote prefixes the operator allows; add it to "
            "WORKFLOW_PLATFORM_ALLOWED_ROOTS (set by the operator; the data folder is always allowed) or use a folder "
            "under the data folder")


def literal_blocked_host(url: str) -> str | None:
    """The host of `url` when it is a literal loopback, private, link-local or reserved IP address that
    WORKFLOW_PLATFORM_ALLOWED_HOSTS does not list; None otherwise (names are checked when connecting)."""
    host = urlsplit(url).hostname if "://" in url else None
    if not host:
        return None
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_global and not address.is_multicast:
        return None
    for entry in allowed_hosts():
        if entry.lower() == host.lower():
            return None
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return None
        except (ValueError, TypeError):
            continue
    return host


def _blocked_message(host: str) -> str:
    return (f"host {host} is a loopback, private or link-local address; the operator can allow it in "
            "WORKFLOW_PLATFORM_ALLOWED_HOSTS")


def _endpoints(options: dict) -> list[str]:
    """endpoint_url storage options (top level or in client_kwargs) written in the catalog."""
    found = [options.get("endpoint_url")]
    if isinstance(options.get("client_kwargs"), dict):
        found.append(options["client_kwargs"].get("endpoint_url"))
    return [value for value in found if isinstance(value, str)]


def _check_reach(check: _Checker) -> None:
    """Locations and file destinations stay inside the operator's allowed roots; literal addresses the operator has
    not allowed are refused (webhooks, SFTP hosts, S3 endpoints)."""
    locations = list(check.catalog.locations)
    if any(c.location == "landing" for c in check.catalog.couriers) and "landing" not in check.names("locations"):
        locations.append(check.catalog.location("landing"))  # the implicit one: `landing` under the data folder
    for location in locations:
        if not within_roots(location.url):
            check.err("locations", location.name, "url", outside_roots_message(location.url))
        for field, url in (("url", location.url),
                           *(("storage_options.endpoint_url", e) for e in _endpoints(location.storage_options))):
            if host := literal_blocked_host(url):
                check.err("locations", location.name, field, _blocked_message(host))
    for destination in check.catalog.destinations:
        if destination.type != "webhook" and not within_roots(destination.url):
            check.err("destinations", destination.name, "url", outside_roots_message(destination.url))
        for field, url in (("url", destination.url),
                           *(("storage_options.endpoint_url", e) for e in _endpoints(destination.storage_options))):
            if host := literal_blocked_host(url):
                check.err("destinations", destination.name, field, _blocked_message(host))
