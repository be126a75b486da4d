"""Benchmark: how long one tenant's code location takes to serve, at 100, 500 and 2,000 couriers.

Targets (issue #21), measured the way a user feels them:

- **serve**: the time from starting `dagster-webserver` on the generated tenant (the real webserver with its own
  code-server subprocess, through a workspace file that loads `workflow_platform.definitions`) until the webserver
  answers the GraphQL query for the asset graph (`{ assetNodes { id } }`, polled every 0.2 s) with every asset
  node the in-process measurement counted: **<= 5 s at 500 couriers and <= 20 s at 2,000**, judged on **serve
  minus the baseline**. The baseline is the same measurement, in the same run, of a webserver serving an empty
  `dg.Definitions()`: Python, Dagster's imports and the webserver's and code server's own start-up, which no change
  of ours removes. The absolute serve figure is printed beside it.
- **build**: the `build_definitions` phase below <= 4 s at 2,000 couriers.

**Floor**: what Dagster alone needs for a location of the tenant's shape, measured in the same run. The tenant's
child writes the shape of its built definitions to `floor_<n>/structure.json`: every executable `AssetsDefinition`
(op name, `can_subset`, each asset key with its deps, each check's asset and name) and every asset job's executable
keys (not Dagster's implicit `__ASSET_JOB`). The generated module beside it (`bench_floor_definitions.py`, FLOOR_SOURCE)
rebuilds that as bare Dagster: one `@dg.multi_asset(specs=..., check_specs=..., name=<op>, can_subset=...)` with a body
that does nothing per assets definition, one `dg.define_asset_job(name, selection=[keys])` per job, and nothing else
(no metadata, descriptions, tags, owners, kinds, freshness policies, resources, sensors, schedules, config or
executor). It is served like the tenant (its own asset count expected) and timed in a fresh child like the tenant
(import = `import dagster` and the module; catalog = reading structure.json; build = the decorators, jobs and
`dg.Definitions`; resolve; snapshot). Reported: floor, floor - baseline (Dagster's own cost of the shape) and
ours - floor (our overhead over it), the floor's build beside ours, and whether a target is below the floor (floor -
baseline > target, or the floor's build > target). The targets are still judged on ours. `--no-floor` skips it.

The script writes realistic catalog folders (several YAML files, as a tenant has them): every courier with its
own feed (5-12 typed columns with semantic tags: customer feeds with PII so Stitch applies, transaction feeds
with fk-<source>, reference feeds without either), a `customer_360` database `c360` with custom tables, an
`analytics` database, about one segment per ten couriers (reading c360.customer_360, custom tables, domain
tables or other segments; some with row thresholds), eight destinations, two orchestrations per orchestration
group plus some manual ones, a few campaigns, 30-200 courier groups with schedules, and 50 orchestration groups
(after a full courier group, on a schedule, or manual).

Where the serve time goes: each size is also measured in a **fresh child process** (this script again,
`--child`), so the import is paid once, as a code server pays it, and the phases are timed inside the child:

1. import: `import workflow_platform.definitions` (dagster and the product modules);
2. load_catalog: YAML, pydantic models, cross-references and SQL checks (`catalog.loader.load_catalog`);
3. build_definitions: assets, checks, jobs, sensors and schedules (`definitions.build_definitions`);
4. resolve: what the code server does before it serves (`dagster api grpc` / `code-server`:
   `LoadedRepositories`): `defs.get_repository_def()` and `repo.load_all_definitions()` (asset graph, every
   asset job resolved against it);
5. snapshot: what it serves on the first request of the webserver or daemon (`ExternalRepository` with
   `defer_snapshots=True`, then one `ExternalJob` per job): `RepositorySnap.from_def` and `JobDataSnap.from_job_def`
   of every job, serialized.

"in-process" is phases 1-5. Growth is reported as time per courier and as the marginal cost per courier between
sizes (in-process, and served where both sizes were served). Peak RSS is the child's ru_maxrss from os.wait4 (the
parent never imports dagster, so it stays lean); the served location's is the code server's VmHWM.

The webserver listens on a free loopback port with a temporary DAGSTER_HOME (the repository's dagster.yaml, plus
a code-server startup timeout, `code_servers.local_startup_timeout`, long enough for 2,000 couriers) and the
environment of this process (the operator's allowed roots and hosts, bench_env.py) plus WORKFLOW_PLATFORM_CATALOG,
WORKFLOW_PLATFORM_WAREHOUSE and WORKFLOW_PLATFORM_DATA pointing at the generated tenant and scratch folders. It runs
in its own process group, killed afterwards together with its code server. `--no-serve` skips the webserver,
`--serve-couriers N ...` serves only some sizes.
It is a benchmark, not a test: the exit code is 0 unless something crashed (e.g. a generated catalog is invalid, or
a webserver never served its location).

    .venv/bin/python bench/definitions_scale.py                      # 100, 500, 2,000 couriers, one round
    .venv/bin/python bench/definitions_scale.py --couriers 100 500 --repeat 1
    .venv/bin/python bench/definitions_scale.py --couriers 500 --no-serve --json /tmp/scale.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

try:  # the benchmark's allowed roots: it is its own operator (bench_env.py)
    import bench_env  # run as a script: bench/ is on sys.path
except ModuleNotFoundError:
    from bench import bench_env  # noqa: F401  (imported by the tests as bench.<module>)


DEFAULT_SIZES = (100, 500, 2000)
GROUP_POINTS = ((100, 30), (500, 100), (2000, 200))  # couriers -> courier groups (from the issue)
ORCHESTRATION_GROUPS = 50
# Issue #21's targets. Serve: dagster-webserver started -> the full asset graph over GraphQL, judged on serve minus
# the baseline (the same webserver serving an empty dg.Definitions(), measured in the same run). Build: the
# build_definitions phase of the in-process measurement.
SERVE_TARGETS_S = {500: 5.0, 2000: 20.0}
BUILD_TARGETS_S = {2000: 4.0}
LINEAR_TOLERANCE = 1.25  # marginal ms/courier of the larger step may be at most this times the smaller step's
PHASES = ("import", "load_catalog", "build_definitions", "resolve", "snapshot")
LOAD_PHASES = PHASES[:3]

REPO = Path(__file__).resolve().parent.parent
LOCATION = "workflow_platform"  # as in the repository's workspace.yaml
BASELINE_LOCATION = "empty"
SERVE_POLL_S = 0.2
SERVE_TIMEOUT_S = 1800  # give up on a webserver after this long (also the code server's startup timeout)
GRAPHQL_QUERY = """{
  workspaceOrError { __typename
    ... on Workspace { locationEntries { name loadStatus
      locationOrLoadError { __typename ... on PythonError { message } } } }
    ... on PythonError { message } }
  assetNodes { id }
}"""
FLOOR_LOCATION = "floor"
FLOOR_MODULE = "bench_floor_definitions"
# The floor's code location, written beside its structure.json by write_floor(): bare Dagster in the tenant's shape.
FLOOR_SOURCE = '''"""Dagster's floor for a tenant's shape (bench/definitions_scale.py): bare Dagster."""

import json
from pathlib import Path

import dagster as dg

STRUCTURE = Path(__file__).with_name("structure.json")


def _nothing():
    pass  # never runs: the floor is only loaded and served


def build(structure: dict) -> dg.Definitions:
    """One multi-asset per assets definition (same op, keys, deps, checks, can_subset), one asset job per job."""
    assets = []
    for a in structure["assets"]:
        checks = [dg.AssetCheckSpec(name, asset=dg.AssetKey(key)) for key, name in a["checks"]]
        if not a["specs"]:  # a check-only definition
            assets.append(dg.multi_asset_check(specs=checks, name=a["op"], can_subset=a["can_subset"])(_nothing))
            continue
        specs = [dg.AssetSpec(dg.AssetKey(key), deps=[dg.AssetKey(d) for d in deps]) for key, deps in a["specs"]]
        assets.append(dg.multi_asset(specs=specs, check_specs=checks, name=a["op"], can_subset=a["can_subset"])(
            _nothing))
    jobs = [dg.define_asset_job(name, selection=[dg.AssetKey(k) for k in keys])
            for name, keys in structure["jobs"].items()]
    return dg.Definitions(assets=assets, jobs=jobs)


@dg.definitions
def defs() -> dg.Definitions:
    return build(json.loads(STRUCTURE.read_text()))
'''

# --------------------------------------------------------------------------- catalog generation

SOURCES = ["shopify", "pos", "loyalty", "crm", "zendesk", "klaviyo", "netsuite", "salesforce", "braze", "mailchimp"]
TIMEZONES = ["UTC", "America/New_York", "America/Los_Angeles", "Europe/London", "America/Chicago"]


def default_groups(couriers: int) -> int:
    """Courier groups for a size: 30 at 100, 100 at 500, 200 at 2,000 (linear in between, n/10 beyond)."""
    if couriers <= GROUP_POINTS[0][0]:
        return max(1, round(couriers * GROUP_POINTS[0][1] / GROUP_POINTS[0][0]))
    for (n0, g0), (n1, g1) in itertools.pairwise(GROUP_POINTS):
        if couriers <= n1:
            return round(g0 + (g1 - g0) * (couriers - n0) / (n1 - n0))
    return max(GROUP_POINTS[-1][1], couriers // 10)


def _customer_feed(rng: random.Random, name: str, source: str) -> dict:
    """A customer feed: pk + fk-<source>, then 4-11 of the usual PII and attribute columns (email or phone)."""
    pool = [
        {"name": "first_name", "tag": "given-name"},
        {"name": "last_name", "tag": "surname"},
        {"name": "email", "tag": "email"},
        {"name": "phone", "tag": "phone"},
        {"name": "address", "tag": "address"},
        {"name": "city", "tag": "city"},
        {"name": "state", "tag": "state"},
        {"name": "zip", "tag": "postal"},
        {"name": "birth_date", "type": "date", "format": rng.choice(["yyyy-MM-dd", "MM/dd/yyyy"]), "tag": "birthdate"},
        {"name": "gender", "tag": "gender"},
        {"name": "updated_at", "type": "datetime", "format": "yyyy-MM-dd HH:mm:ss"},
        {"name": "loyalty_tier"},
        {"name": "opt_in", "type": "boolean"},
        {"name": "created_on", "type": "date"},
    ]
    extra = rng.randint(4, 11)
    chosen = sorted(rng.sample(range(len(pool)), extra))
    if 2 not in chosen and 3 not in chosen:
        chosen = sorted(set(chosen[1:]) | {2})  # every customer feed has an email (or a phone)
    columns = [{"name": "customer_id", "type": "string", "tag": ["pk", f"fk-{source}"]}]
    columns += [dict(pool[i]) for i in chosen]
    if rng.random() < 0.3:  # files with spreadsheet-style headers
        for column in columns[1:3]:
            column["source"] = column["name"].replace("_", " ").title()
    feed = {"name": name, "source": source, "description": f"{source} customer records.",
            "priority": rng.randint(1, 10), "columns": columns}
    if any(c["name"] == "updated_at" for c in columns):
        feed["last_updated"] = "updated_at"
    return feed


def _transaction_feed(rng: random.Random, name: str, source: str) -> dict:
    """Order lines: pk, order-id, fk-<source> to the customers, order-datetime, then 1-6 more."""
    columns = [
        {"name": "order_line_id", "tag": "pk"},
        {"name": "order_id", "tag": "order-id"},
        {"name": "customer_ref", "tag": f"fk-{source}"},
        {"name": "order_ts", "type": "datetime", "format": "yyyy-MM-dd HH:mm:ss", "tag": "order-datetime"},
    ]
    pool = [
        {"name": "product_id", "tag": "product-id"},
        {"name": "quantity", "type": "integer", "tag": "item-quantity"},
        {"name": "revenue", "type": "decimal(12,2)", "tag": "item-revenue"},
        {"name": "store_id", "tag": "store-id"},
        {"name": "channel", "tag": "purchase-channel"},
        {"name": "is_return", "type": "boolean", "tag": "is-return"},
        {"name": "discount", "type": "decimal(10,2)"},
    ]
    columns += [dict(pool[i]) for i in sorted(rng.sample(range(len(pool)), rng.randint(1, 6)))]
    return {"name": name, "source": source, "description": f"{source} order lines.",
            "error_threshold": rng.choice([1, 2, 5]), "columns": columns}


def _reference_feed(rng: random.Random, name: str, source: str) -> dict:
    """Product/store reference data: no PII, not in Stitch."""
    columns = [{"name": "product_id", "tag": "pk"}, {"name": "product_name"}, {"name": "category"},
               {"name": "price", "type": "decimal(10,2)"}]
    pool = [{"name": "brand"}, {"name": "active", "type": "boolean"},
            {"name": "updated_at", "type": "datetime", "format": "yyyy-MM-dd HH:mm:ss"}, {"name": "launched_on",
                                                                                           "type": "date"}]
    columns += [dict(pool[i]) for i in sorted(rng.sample(range(len(pool)), rng.randint(1, 4)))]
    feed = {"name": name, "source": source, "description": f"{source} product catalog.", "columns": columns}
    if any(c["name"] == "updated_at" for c in columns):
        feed["last_updated"] = "updated_at"
    return feed


def _courier(i: int, name: str, kind: str, source: str) -> dict:
    """A courier with one of the usual pattern shapes; some tsv/ndjson/parquet, optional, truncate or land_only."""
    stem = f"{kind}_{i:04d}"
    shape = i % 6
    courier: dict = {"name": name, "feed": name}
    if shape in (0, 1, 2):
        courier["pattern"] = f"'{source}/{stem}_'yyyyMMdd'.csv'"
    elif shape == 3:
        courier["pattern"] = f"'{source}/'yyyy'/'MM'/'dd'/{stem}-*.csv'"
    elif shape == 4:
        courier["pattern"] = f"'{source}/{stem}_'yyyy'-'MM'-'dd'.tsv.gz'"
        courier["file"] = {"format": "tsv"}
    else:
        courier["pattern"] = f"'{source}/{stem}_'yyyyMMdd'.ndjson'" if kind == "orders" else f"'{source}/{stem}.parquet'"
        courier["file"] = {"format": "ndjson" if kind == "orders" else "parquet"}
    courier["location"] = {7: "partner_sftp", 8: "vendor_s3"}.get(i % 10, "landing")
    if i % 50 == 11:
        courier["load"] = "land_only"
    elif i % 25 == 3:
        courier["load"] = "truncate_upsert"
    if i % 9 == 0:
        courier["optional"] = True
    if i % 4 == 0:
        courier["description"] = f"Daily {kind} extract from {source}."
    return courier


def _cron(rng: random.Random) -> str:
    return rng.choice([f"{rng.choice([0, 15, 30, 45])} {rng.randint(0, 20)} * * *",
                       f"{rng.choice([0, 30])} {rng.randint(1, 9)} * * 1-5",
                       f"0 */{rng.choice([2, 4, 6, 12])} * * *",
                       f"{rng.randint(0, 59)} {rng.randint(0, 23)} * * 0"])


def generate_catalog(couriers: int, folder: Path, groups: int | None = None, seed: int = 7) -> dict:
    """Write a tenant's catalog folder for `couriers` couriers; return the entry counts."""
    import yaml  # the parent only: children must pay for their own imports

    rng = random.Random(seed + couriers)
    groups = groups or default_groups(couriers)
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "sources").mkdir(parents=True)

    # sources: one courier and one feed each, grouped per source system into sources/<source>.yaml
    by_source: dict[str, dict[str, list]] = {s: {"couriers": [], "feeds": []} for s in SOURCES}
    courier_names, loaded, customer_feeds, order_feeds = [], [], [], []
    for i in range(couriers):
        source = SOURCES[i % len(SOURCES)]
        bucket = (i * 7 + i // 10) % 20  # 60% customers, 25% order lines, 15% reference data, in every source
        kind = "customers" if bucket < 12 else "orders" if bucket < 17 else "products"
        name = f"{source}_{kind}_{i:04d}"
        feed = {"customers": _customer_feed, "orders": _transaction_feed, "products": _reference_feed}[kind](
            rng, name, source)
        courier = _courier(i, name, kind, source)
        by_source[source]["couriers"].append(courier)
        by_source[source]["feeds"].append(feed)
        courier_names.append(name)
        if courier.get("load") != "land_only":
            loaded.append(name)
            if kind == "customers":
                customer_feeds.append(feed)
            elif kind == "orders":
                order_feeds.append(feed)

    # databases: c360 (customer_360) with custom tables, analytics (empty) over domain tables
    c360_tables = []
    for j in range(max(2, couriers // 50)):
        shape = j % 3
        if shape == 0:
            sql = ("SELECT customer_id, total_revenue, order_count,\n"
                   f"       CASE WHEN total_revenue >= {500 + 50 * j} THEN 'high'\n"
                   f"            WHEN total_revenue >= {100 + 10 * j} THEN 'medium'\n"
                   "            WHEN order_count > 0 THEN 'low' ELSE 'none' END AS value_tier\n"
                   "FROM c360.customer_360")
            c360_tables.append({"name": f"customer_value_{j:03d}", "description": "Value tier per customer.",
                                "sql": sql})
        elif shape == 1 and order_feeds:
            orders = order_feeds[j % len(order_feeds)]["name"]
            sql = ("SELECT customer_ref, count(DISTINCT order_id) AS orders, max(order_ts) AS last_order_ts\n"
                   f"FROM domain.{orders}\nGROUP BY customer_ref")
            c360_tables.append({"name": f"order_summary_{j:03d}", "sql": sql})
        else:
            sql = ("SELECT c.customer_id, count(*) AS source_records, count(DISTINCT u.source) AS sources\n"
                   "FROM c360.customer_360 c JOIN c360.unified_coalesced u USING (customer_id)\nGROUP BY 1")
            c360_tables.append({"name": f"source_coverage_{j:03d}", "sql": sql})
    value_tables = [t["name"] for t in c360_tables if t["name"].startswith("customer_value")]
    analytics_tables = []
    for j in range(max(1, couriers // 100)):
        picks = [customer_feeds[(j * 3 + k) % len(customer_feeds)]["name"] for k in range(3)]
        union = "\nUNION ALL\n".join(f"SELECT customer_id, '{p}' AS feed FROM domain.{p}" for p in picks)
        analytics_tables.append({"name": f"identities_{j:03d}", "sql": union})
    databases = [
        {"name": "c360", "type": "customer_360", "description": "Customer 360.", "tables": c360_tables},
        {"name": "analytics", "type": "empty", "description": "Analyst tables.", "tables": analytics_tables},
    ]

    # segments: about one per ten couriers
    segments = []
    for j in range(max(5, couriers // 10)):
        shape = j % 6
        name = f"audience_{j:04d}"
        if shape == 0:
            sql = ("SELECT customer_id, given_name, surname, email, total_revenue\nFROM c360.customer_360\n"
                   f"WHERE order_count >= {1 + j % 5} AND email IS NOT NULL")
        elif shape == 1 and value_tables:
            sql = ("SELECT c.customer_id, c.given_name, c.email, v.value_tier\n"
                   f"FROM c360.customer_360 c JOIN c360.{value_tables[j % len(value_tables)]} v USING (customer_id)\n"
                   "WHERE v.value_tier IN ('high', 'medium')")
        elif shape == 2 and order_feeds:
            orders = order_feeds[j % len(order_feeds)]["name"]
            sql = (f"WITH recent AS (\n  SELECT customer_ref, max(order_ts) AS last_ts FROM domain.{orders} "
                   "GROUP BY customer_ref\n)\nSELECT c.customer_id, c.email, r.last_ts\n"
                   "FROM c360.customer_360 c JOIN recent r ON r.customer_ref = c.customer_id\n"
                   f"WHERE r.last_ts < current_date - INTERVAL {30 + j % 90} DAY")
        elif shape == 3:
            sql = (f"SELECT i.customer_id, i.feed FROM analytics.{analytics_tables[j % len(analytics_tables)]['name']} i\n"
                   "WHERE i.feed IS NOT NULL")
        elif shape == 4 and segments:
            sql = f"SELECT * FROM segment.{segments[-1]['name']}\nWHERE email ILIKE '%@gmail.com'"
        else:
            sql = ("SELECT customer_id, email, phone, last_order_date\nFROM c360.customer_360\n"
                   f"WHERE last_order_date >= current_date - INTERVAL {7 + j % 60} DAY")
        segment = {"name": name, "description": f"Audience {j}.", "sql": sql}
        if j % 5 == 0:
            segment["warn_when"] = {"min_rows": 1}
        if j % 11 == 0:
            segment["fail_when"] = {"min_rows": 0, "max_rows": 50_000_000}
        segments.append(segment)

    destinations = [
        {"name": "crm_exports", "type": "local", "url": "exports/crm"},
        {"name": "ads_exports", "type": "local", "url": "exports/ads", "compression": "gzip"},
        {"name": "bi_parquet", "type": "local", "url": "exports/bi", "format": "parquet"},
        {"name": "esp_s3", "type": "s3", "url": "s3://acme-esp/outbound", "folder": "audiences",
         "storage_options_env": {"key": "ESP_AWS_KEY", "secret": "ESP_AWS_SECRET"}, "split_rows": 500_000},
        {"name": "dw_s3", "type": "s3", "url": "s3://acme-dw/segments", "format": "ndjson"},
        {"name": "agency_sftp", "type": "sftp", "url": "sftp://sftp.agency.example/inbound",
         "storage_options_env": {"password": "AGENCY_SFTP_PASSWORD"}, "format": "delimited", "delimiter": "|"},
        {"name": "partner_sftp", "type": "sftp", "url": "sftp://files.partner.example:2222/drop",
         "compression": "zip", "success_file": True},
        {"name": "cdp_webhook", "type": "webhook", "url": "https://hooks.example.com/audiences",
         "headers_env": {"Authorization": "CDP_WEBHOOK_TOKEN"}, "batch_size": 500},
    ]
    templates = ["{{ name }}.csv", "{{ name }}_{{ now | format('yyyyMMdd') }}.csv",
                 "{{ name }}_{{ now | local('America/New_York') | format('yyyy-MM-dd') }}.csv"]

    def orchestration(name: str, k: int, workflow: str) -> dict:
        destination = destinations[k % len(destinations)]
        filename = templates[k % len(templates)]
        if destination.get("split_rows"):
            filename = "{{ name }}_{{ file_number }}.csv"
        entry = {"name": name, "segment": segments[k % len(segments)]["name"], "destination": destination["name"],
                 "filename": filename, "workflow": workflow}
        if k % 2 == 0:
            entry["columns"] = {"customer_id": "id", "email": "email_address"}
        return entry

    orchestrations = [orchestration(f"send_{k:04d}", k, "automatic") for k in range(2 * ORCHESTRATION_GROUPS)]
    orchestrations += [orchestration(f"manual_send_{k:04d}", k + 3, "manual") for k in range(max(2, couriers // 50))]
    campaigns = []
    for k in range(5):
        campaigns.append({
            "name": f"campaign_{k}", "segment": segments[(k * 7) % len(segments)]["name"],
            "recurrence": ["weekly", "daily", "once", "weekly", "daily"][k],
            "start": f"2027-0{k + 1}-0{k + 4}T09:00:00", "timezone": TIMEZONES[k % len(TIMEZONES)],
            **({"end_after": 12} if k % 2 == 0 and k != 2 else {}),
            "sub_audiences": [{"name": "treatment", "percent": 90, "destinations": ["crm_exports"],
                               "attributes": {"offer_code": f"OFFER{k}"}},
                              {"name": "holdout", "percent": 10, "destinations": ["ads_exports"]}],
        })

    # courier groups: every group gets couriers; 5% of couriers stay ungrouped (run by the workflow job only)
    members: list[list[str]] = [[] for _ in range(groups)]
    grouped = [c for i, c in enumerate(courier_names) if i % 20 != 19]
    rng.shuffle(grouped)
    for index, name in enumerate(grouped):
        members[index if index < groups else rng.randrange(groups)].append(name)
    courier_groups, full_groups = [], []
    for g, names in enumerate(members):
        run_type = "refresh" if g % 7 == 2 else "source" if g % 7 == 4 else "full"
        group: dict = {"name": f"group_{g:03d}", "description": f"Sources of group {g}.", "run_type": run_type,
                       "couriers": [n if k % 3 else {"courier": n, "look_back": "2 days", "wait": "30 minutes",
                                                     "stop_when_missing": k % 2 == 0}
                                    for k, n in enumerate(sorted(names))]}
        if g % 8 != 7:
            group["schedule"] = _cron(rng)
            group["timezone"] = TIMEZONES[g % len(TIMEZONES)]
        if g % 2 == 0:
            group["runtime_threshold"] = rng.choice(["90 minutes", "2 hours", "4 hours"])
        if g % 13 == 12:
            group["active"] = False
        if g % 10 == 0:
            group["alert_on_success"] = True
        courier_groups.append(group)
        if run_type == "full":
            full_groups.append(group["name"])
    orchestration_groups = []
    for k in range(ORCHESTRATION_GROUPS):
        group = {"name": f"activation_{k:02d}", "orchestrations": [f"send_{2 * k:04d}", f"send_{2 * k + 1:04d}"]}
        if k % 10 < 5:
            group["run_after"] = full_groups[k % len(full_groups)]
        elif k % 10 < 9:
            group["schedule"] = _cron(rng)
            group["timezone"] = TIMEZONES[k % len(TIMEZONES)]
        if k % 17 == 16:
            group["enabled"] = False
        orchestration_groups.append(group)

    tenant = {
        "tenant": f"scale_{couriers}",
        "locations": [{"name": "landing", "url": "landing"},
                      {"name": "partner_sftp", "url": "sftp://sftp.partner.example/outbound",
                       "storage_options": {"username": "acme"}, "storage_options_env": {"password": "PARTNER_PW"}},
                      {"name": "vendor_s3", "url": "s3://vendor-drop/acme",
                       "storage_options_env": {"key": "VENDOR_KEY", "secret": "VENDOR_SECRET"}}],
        "stitch": {"rules": ["email", "phone_surname", "name_birthdate", "foreign_key"]},
        "alerts": {"allowed_email_domains": ["acme.example"],
                   "courier_groups": {"email": ["data-team@acme.example"], "slack": ["#data-alerts"]},
                   "orchestration_groups": {"slack": ["#marketing-ops"]},
                   "campaigns": {"slack": ["#marketing-ops"]}},
    }
    files = {
        "tenant.yaml": tenant,
        "databases.yaml": {"databases": databases},
        "segments.yaml": {"segments": segments},
        "activations.yaml": {"destinations": destinations, "orchestrations": orchestrations, "campaigns": campaigns},
        "courier_groups.yaml": {"courier_groups": courier_groups},
        "orchestration_groups.yaml": {"orchestration_groups": orchestration_groups},
        **{f"sources/{s}.yaml": body for s, body in by_source.items() if body["couriers"]},
    }

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value: str):  # SQL as literal blocks, as people write it
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    Dumper.add_representer(str, text)
    total_bytes = 0
    for relative, body in files.items():
        path = folder / relative
        path.write_text(yaml.dump(body, Dumper=Dumper, sort_keys=False, default_flow_style=None, width=120,
                                  allow_unicode=True))
        total_bytes += path.stat().st_size
    columns = sum(len(f["columns"]) for b in by_source.values() for f in b["feeds"])
    return {"couriers": couriers, "feeds": couriers, "columns": columns, "courier_groups": groups,
            "orchestration_groups": ORCHESTRATION_GROUPS, "custom_tables": len(c360_tables) + len(analytics_tables),
            "segments": len(segments), "orchestrations": len(orchestrations), "campaigns": len(campaigns),
            "destinations": len(destinations), "yaml_files": len(files), "yaml_bytes": total_bytes}


# --------------------------------------------------------------------------- child (one measurement)


def measure_phases(catalog_dir: Path, warehouse: str, after_import=None, structure: Path | None = None) -> dict:
    """Time the five phases in this process (import first: call it in a fresh process).

    `after_import(definitions_module)` runs between the import and the catalog load (not timed): a hook for
    trying a change to the product code by monkeypatching, from a scratch script. With `structure`, the shape of the
    built definitions is written there afterwards (untimed), for the floor."""
    seconds: dict[str, float] = {}
    mark = time.perf_counter()
    from workflow_platform import definitions  # dagster, pydantic, duckdb and the product modules

    seconds["import"] = time.perf_counter() - mark
    from workflow_platform.catalog.loader import load_catalog

    if after_import:
        after_import(definitions)

    mark = time.perf_counter()
    catalog = load_catalog(catalog_dir)
    seconds["load_catalog"] = time.perf_counter() - mark

    mark = time.perf_counter()
    defs = definitions.build_definitions(catalog, warehouse=warehouse)
    seconds["build_definitions"] = time.perf_counter() - mark

    repo, counts = _resolve_and_snapshot(defs, seconds)
    if structure is not None:
        structure.write_text(json.dumps(dump_structure(repo)))
    return {"seconds": seconds, "counts": counts}


def measure_floor_phases(folder: Path) -> dict:
    """The five phases of the floor module in `folder` (write_floor), in this process (a fresh one, for the import):
    import = dagster and the module, load_catalog = reading structure.json, build = `build(structure)`."""
    seconds: dict[str, float] = {}
    mark = time.perf_counter()
    module = load_floor_module(folder)
    seconds["import"] = time.perf_counter() - mark

    mark = time.perf_counter()
    structure = json.loads(module.STRUCTURE.read_text())
    seconds["load_catalog"] = time.perf_counter() - mark

    mark = time.perf_counter()
    defs = module.build(structure)
    seconds["build_definitions"] = time.perf_counter() - mark

    _, counts = _resolve_and_snapshot(defs, seconds)
    return {"seconds": seconds, "counts": counts}


def _resolve_and_snapshot(defs, seconds: dict[str, float]) -> tuple:
    """Phases 4 and 5 of `defs` into `seconds`; the repository and its counts."""
    from dagster._core.remote_representation.external_data import JobDataSnap, RepositorySnap
    from dagster._serdes import serialize_value

    mark = time.perf_counter()  # dagster._grpc.server.LoadedRepositories
    repo = defs.get_repository_def()
    repo.load_all_definitions()
    seconds["resolve"] = time.perf_counter() - mark

    mark = time.perf_counter()  # the ExternalRepository(defer_snapshots=True) + ExternalJob requests
    snapshot_bytes = len(serialize_value(RepositorySnap.from_def(repo, defer_snapshots=True)))
    jobs = repo.get_all_jobs()
    for job in jobs:
        snapshot_bytes += len(serialize_value(JobDataSnap.from_job_def(job, include_parent_snapshot=True)))
    seconds["snapshot"] = time.perf_counter() - mark

    graph = repo.asset_graph
    return repo, {"assets": len(graph.get_all_asset_keys()), "asset_checks": len(graph.asset_check_keys),
                  "jobs": len(jobs), "sensors": len(repo.sensor_defs), "schedules": len(repo.schedule_defs),
                  "snapshot_bytes": snapshot_bytes}


# --------------------------------------------------------------------------- floor (bare Dagster, same shape)


def dump_structure(repo) -> dict:
    """The shape of a resolved repository, as FLOOR_SOURCE rebuilds it: each executable assets definition's op name,
    can_subset, asset keys with their deps and checks (keys as path lists); each asset job's executable keys."""
    assets = [{"op": ad.node_def.name, "can_subset": ad.can_subset,
               "specs": [[spec.key.path, [d.asset_key.path for d in spec.deps]] for spec in ad.specs],
               "checks": [[c.asset_key.path, c.name] for c in ad.check_specs]}
              for ad in repo.asset_graph.assets_defs if ad.is_executable]
    jobs = {job.name: sorted(key.path for key in job.asset_layer.executable_asset_keys)
            for job in repo.get_all_jobs() if not job.name.startswith("__")}
    return {"assets": assets, "jobs": jobs}


def write_floor(folder: Path) -> Path:
    """The floor location: FLOOR_SOURCE as a module in `folder` (its structure.json comes from the tenant's child),
    and a workspace file loading it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{FLOOR_MODULE}.py").write_text(FLOOR_SOURCE)
    return write_workspace(folder / "workspace.yaml", FLOOR_MODULE, FLOOR_LOCATION, folder)


def load_floor_module(folder: Path):
    """Import the floor module written by write_floor() in `folder`."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(FLOOR_MODULE, folder / f"{FLOOR_MODULE}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _vm_hwm_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def run_child(args: argparse.Namespace) -> int:
    if args.floor:
        result = measure_floor_phases(args.floor)
    else:
        result = measure_phases(args.catalog, args.warehouse, structure=args.structure)
    result["vm_hwm_mb"] = _vm_hwm_mb()
    args.result.write_text(json.dumps(result))
    return 0


def tenant_env(catalog: Path | None, scratch: Path, home: Path | None = None) -> dict[str, str]:
    """This process's environment (the operator's allowed roots and hosts: bench_env.py) with the code location
    pointed at `catalog`, a scratch warehouse and data folder, and DAGSTER_HOME at `home`."""
    env = dict(os.environ)
    for name in ("WORKFLOW_PLATFORM_CATALOG", "WORKFLOW_PLATFORM_WAREHOUSE", "WORKFLOW_PLATFORM_DATA"):
        env.pop(name, None)
    env["WORKFLOW_PLATFORM_WAREHOUSE"] = str(scratch / "warehouse.duckdb")
    env["WORKFLOW_PLATFORM_DATA"] = str(scratch / "data")
    if catalog is not None:
        env["WORKFLOW_PLATFORM_CATALOG"] = str(catalog)
    if home is not None:
        env["DAGSTER_HOME"] = str(home)
    return env


def spawn(catalog: Path | None, result_path: Path, scratch: Path, *options: str) -> dict:
    """Run this script as a child measuring `catalog` (or, with `--floor DIR` in `options`, that floor); its
    figures, wall time and ru_maxrss (from wait4)."""
    env = tenant_env(catalog, scratch)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--result", str(result_path),
               "--warehouse", env["WORKFLOW_PLATFORM_WAREHOUSE"], *options]
    if catalog is not None:
        command += ["--catalog", str(catalog)]
    env["PYTHONWARNINGS"] = "ignore"  # Dagster's beta/preview warnings: not part of the timing
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    process_seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"child for {catalog or options} exited with {code}")
    result = json.loads(result_path.read_text())
    result.update(process_seconds=process_seconds, peak_rss_mb=usage.ru_maxrss / 1024.0)
    return result


def validate_cli(catalog: Path, scratch: Path, home: Path) -> dict:
    """Cross-check: the wall time of `dagster definitions validate -m workflow_platform.definitions` on the
    catalog (an in-process code location: import, `defs()`, `RepositorySnap.from_def` of everything)."""
    env = {**tenant_env(catalog, scratch, home), "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "workflow_platform.definitions"]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=scratch)
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"dagster definitions validate failed on {catalog}:\n{stderr.decode()[-2000:]}")
    return {"seconds": seconds}



# --------------------------------------------------------------------------- serve (the real webserver)


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_home(scratch: Path, timeout_s: int = SERVE_TIMEOUT_S) -> Path:
    """A temporary DAGSTER_HOME: the repository's dagster.yaml (telemetry off) plus a code-server startup timeout
    (`code_servers.local_startup_timeout`, default 180 s in Dagster) that a 2,000-courier location fits in. Its
    SQLite storages are created here, in a child process and untimed, as a user's instance already has them (and so
    that the webserver and its code server do not race to create them)."""
    home = scratch / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    repo_yaml = REPO / ".dagster_home" / "dagster.yaml"
    text = repo_yaml.read_text() if repo_yaml.exists() else "telemetry:\n  enabled: false\n"
    if "code_servers:" not in text:
        text += ("\n# bench/definitions_scale.py: the webserver waits this long for its code server to load\n"
                 f"code_servers:\n  local_startup_timeout: {timeout_s}\n")
    (home / "dagster.yaml").write_text(text)
    create = "import sys, dagster as dg\nwith dg.DagsterInstance.from_config(sys.argv[1]):\n    pass"
    subprocess.run([sys.executable, "-c", create, str(home)], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return home


def write_workspace(path: Path, module: str, location: str, working_directory: Path | None = None) -> Path:
    """A workspace file with one python_module code location (the shape of the repository's workspace.yaml)."""
    lines = ["load_from:", "  - python_module:", f"      module_name: {module}", f"      location_name: {location}"]
    if working_directory is not None:
        lines.append(f"      working_directory: {working_directory}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_baseline(folder: Path) -> Path:
    """The baseline location: a module holding an empty `dg.Definitions()`, and a workspace file loading it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench_empty_definitions.py").write_text(
        '"""An empty code location: the serve baseline of bench/definitions_scale.py."""\n\n'
        "import dagster as dg\n\ndefs = dg.Definitions()\n")
    return write_workspace(folder / "workspace.yaml", "bench_empty_definitions", BASELINE_LOCATION, folder)


def webserver_env(catalog: Path | None, scratch: Path, home: Path, timeout_s: int = SERVE_TIMEOUT_S) -> dict:
    """tenant_env() for the webserver, which its code server inherits, with the timeout of the webserver's
    repository requests to the code server raised to `timeout_s` (DAGSTER_REPOSITORY_GRPC_TIMEOUT_SECONDS, 180 s by
    default; an operator's own setting is kept)."""
    env = tenant_env(catalog, scratch, home)
    env.setdefault("DAGSTER_REPOSITORY_GRPC_TIMEOUT_SECONDS", str(timeout_s))
    return env


def _graphql(url: str, body: bytes, timeout: float) -> dict:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _location_state(answer: dict, location: str) -> str:
    """"loaded" or "loading"; raises if the location failed to load (its error, as the UI would show it)."""
    workspace = (answer.get("data") or {}).get("workspaceOrError") or {}
    if workspace.get("__typename") == "PythonError":
        raise RuntimeError(f"the webserver's workspace failed: {workspace.get('message')}")
    entry = next((e for e in workspace.get("locationEntries") or [] if e["name"] == location), None)
    if entry is None or entry["loadStatus"] != "LOADED":
        return "loading"
    loaded = entry["locationOrLoadError"] or {}
    if loaded.get("__typename") == "PythonError":
        raise RuntimeError(f"code location {location} failed to load: {loaded.get('message', '')[-3000:]}")
    return "loaded"


def _group_hwm_mb(pgid: int) -> dict[int, float]:
    """VmHWM (peak RSS) of every process in process group `pgid`, by pid (Linux /proc; empty elsewhere)."""
    peaks: dict[int, float] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2:].split()[2]) != pgid:  # fields after "(comm)": state ppid pgrp
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[int(entry.name)] = int(line.split()[1]) / 1024.0
        except (OSError, ValueError, IndexError):
            continue
    return peaks


def stop_group(process: subprocess.Popen, grace_s: float = 20.0) -> None:
    """SIGTERM the process group `process` leads (the webserver and its code server), SIGKILL what is left."""
    def signal_group(sig: int) -> None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass

    signal_group(signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + grace_s
    while _group_hwm_mb(process.pid) and time.monotonic() < deadline:  # the code server shuts down on its own
        time.sleep(0.2)
    signal_group(signal.SIGKILL)
    process.wait()


def measure_serve(workspace: Path, env: dict[str, str], location: str, expected_assets: int | None, log: Path,
                  timeout_s: float = SERVE_TIMEOUT_S) -> dict:
    """Start `dagster-webserver -w workspace` on a free loopback port (its own process group), poll GraphQL every
    SERVE_POLL_S until the location is loaded and `assetNodes` holds `expected_assets` nodes (any number when
    None); the seconds from the start to that answer. The webserver and its code server are stopped afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/graphql"
    body = json.dumps({"query": GRAPHQL_QUERY}).encode()
    command = [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port), "-w", str(workspace)]
    with open(log, "wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=workspace.parent, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        polls, first_answer_s, loaded_at, nodes = 0, None, None, None
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"dagster-webserver exited with {process.returncode} before serving {location}; "
                                   f"log {log}:\n{log.read_text(errors='replace')[-3000:]}")
            elapsed = time.perf_counter() - started
            if elapsed > timeout_s:
                raise TimeoutError(f"dagster-webserver did not serve {location} with {expected_assets} asset nodes "
                                   f"within {timeout_s:.0f} s (last count {nodes}); log {log}")
            polls += 1
            try:
                answer = _graphql(url, body, timeout=max(5.0, timeout_s - elapsed))
            except (OSError, ValueError):  # not listening yet (the workspace loads first), or a torn answer
                time.sleep(SERVE_POLL_S)
                continue
            now = time.perf_counter() - started
            first_answer_s = now if first_answer_s is None else first_answer_s
            if _location_state(answer, location) == "loaded":
                nodes = len((answer.get("data") or {}).get("assetNodes") or [])
                if expected_assets is None or nodes == expected_assets:
                    seconds = now
                    break
                loaded_at = now if loaded_at is None else loaded_at
                if now - loaded_at > 10:
                    raise RuntimeError(f"{location} is loaded but the webserver serves {nodes} asset nodes, "
                                       f"not the {expected_assets} of the in-process measurement")
            time.sleep(SERVE_POLL_S)
        peaks = _group_hwm_mb(process.pid)
    finally:
        stop_group(process)
    return {"seconds": seconds, "first_answer_s": first_answer_s, "asset_nodes": nodes, "polls": polls,
            "pgid": process.pid, "webserver_hwm_mb": peaks.get(process.pid),
            "code_server_hwm_mb": max((mb for pid, mb in peaks.items() if pid != process.pid), default=None)}


# --------------------------------------------------------------------------- report


def _best_run(runs: list[dict]) -> dict:
    """One location's child runs: best time per phase and in total, worst RSS, the counts of the best run."""
    return {
        "phases_s": {p: min(r["seconds"][p] for r in runs) for p in PHASES},
        "load_s": min(sum(r["seconds"][p] for p in LOAD_PHASES) for r in runs),
        "in_process_s": min(sum(r["seconds"].values()) for r in runs),
        "process_s": min(r["process_seconds"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "vm_hwm_mb": max((r["vm_hwm_mb"] or 0.0) for r in runs) or None,
        "counts": min(runs, key=lambda r: sum(r["seconds"].values()))["counts"],
        "rounds_in_process_s": [sum(r["seconds"].values()) for r in runs],
    }


def _best_serve(served: list[dict]) -> dict:
    """One location's serve measurements: best seconds, worst code-server peak RSS."""
    return {"serve_s": min(s["seconds"] for s in served), "serve_rounds_s": [s["seconds"] for s in served],
            "serve_first_answer_s": min(s["first_answer_s"] for s in served),
            "serve_asset_nodes": served[0]["asset_nodes"],
            "serve_code_server_hwm_mb": max((s["code_server_hwm_mb"] or 0.0) for s in served) or None}


def summarize(sizes: list[int], stats: dict[int, dict], runs: dict[int, list[dict]], repeat: int,
              cli: dict[int, float] | None = None, serves: dict[int, list[dict]] | None = None,
              baselines: list[dict] | None = None, floor_runs: dict[int, list[dict]] | None = None,
              floor_serves: dict[int, list[dict]] | None = None) -> dict:
    """Best time of each phase (and of the totals) over the rounds, worst RSS, served seconds against the best
    baseline, the floor beside ours, growth and verdicts."""
    serves, baselines, floor_runs, floor_serves = serves or {}, baselines or [], floor_runs or {}, floor_serves or {}
    baseline_s = min((b["seconds"] for b in baselines), default=None)
    result: dict = {"repeat": repeat, "serve_targets_s": {str(k): v for k, v in SERVE_TARGETS_S.items()},
                    "serve_target_on": "serve minus baseline",
                    "build_targets_s": {str(k): v for k, v in BUILD_TARGETS_S.items()},
                    "linear_tolerance": LINEAR_TOLERANCE, "python": sys.version.split()[0], "cpus": os.cpu_count(),
                    "served": bool(serves), "serve_baseline_s": baseline_s,
                    "serve_baseline_rounds_s": [b["seconds"] for b in baselines], "floor": bool(floor_runs),
                    "sizes": {}}
    for n in sizes:
        entry = {"catalog": stats[n], **_best_run(runs[n]), "validate_cli_s": (cli or {}).get(n)}
        entry["in_process_ms_per_courier"] = 1000 * entry["in_process_s"] / n
        entry["scaling_ms_per_courier"] = 1000 * (entry["in_process_s"] - entry["phases_s"]["import"]) / n
        floor = _best_run(floor_runs[n]) if floor_runs.get(n) else None
        if floor:
            entry["floor"] = floor
        if n in BUILD_TARGETS_S:
            entry["build_target_s"] = BUILD_TARGETS_S[n]
            entry["build_pass"] = entry["phases_s"]["build_definitions"] <= BUILD_TARGETS_S[n]
            if floor:
                entry["build_floor_s"] = floor["phases_s"]["build_definitions"]
                entry["build_target_below_floor"] = entry["build_floor_s"] > BUILD_TARGETS_S[n]
        if serves.get(n):
            entry.update(_best_serve(serves[n]))
            entry["serve_baseline_s"] = baseline_s
            entry["serve_net_s"] = entry["serve_s"] - baseline_s
            if n in SERVE_TARGETS_S:
                entry["serve_target_s"] = SERVE_TARGETS_S[n]
                entry["serve_pass"] = entry["serve_net_s"] <= SERVE_TARGETS_S[n]
        if floor and floor_serves.get(n):
            floor.update(_best_serve(floor_serves[n]))
            floor["serve_net_s"] = floor["serve_s"] - baseline_s  # Dagster's own cost of the shape
            if "serve_s" in entry:
                entry["serve_over_floor_s"] = entry["serve_s"] - floor["serve_s"]  # ours over Dagster's
            if n in SERVE_TARGETS_S:
                entry["serve_target_below_floor"] = floor["serve_net_s"] > SERVE_TARGETS_S[n]
        result["sizes"][str(n)] = entry
    # growth: marginal cost per courier between consecutive sizes, per phase, in-process and served
    steps = []
    for a, b in itertools.pairwise(sizes):
        ea, eb = result["sizes"][str(a)], result["sizes"][str(b)]
        step = {"from": a, "to": b,
                "marginal_ms_per_courier": 1000 * (eb["in_process_s"] - ea["in_process_s"]) / (b - a),
                "marginal_phase_ms_per_courier": {p: 1000 * (eb["phases_s"][p] - ea["phases_s"][p]) / (b - a)
                                                  for p in PHASES},
                "marginal_serve_ms_per_courier": (1000 * (eb["serve_s"] - ea["serve_s"]) / (b - a)
                                                  if "serve_s" in ea and "serve_s" in eb else None),
                "exponent": _exponent(ea["in_process_s"] - ea["phases_s"]["import"],
                                      eb["in_process_s"] - eb["phases_s"]["import"], a, b)}
        steps.append(step)
    result["growth"] = steps
    if len(steps) >= 2:
        first, last = steps[0]["marginal_ms_per_courier"], steps[-1]["marginal_ms_per_courier"]
        result["marginal_ratio"] = last / first if first > 0 else None
        result["linear_pass"] = result["marginal_ratio"] is not None and result["marginal_ratio"] <= LINEAR_TOLERANCE
    small, large = str(sizes[0]), str(sizes[-1])
    if small != large:
        result["ms_per_courier_small_vs_large"] = [result["sizes"][small]["in_process_ms_per_courier"],
                                                   result["sizes"][large]["in_process_ms_per_courier"]]
        result["scaling_exponent"] = _exponent(
            result["sizes"][small]["in_process_s"] - result["sizes"][small]["phases_s"]["import"],
            result["sizes"][large]["in_process_s"] - result["sizes"][large]["phases_s"]["import"],
            int(small), int(large))
    return result


def _exponent(t0: float, t1: float, n0: int, n1: int) -> float | None:
    """k in t ~ n^k between two sizes (1 = linear, 2 = quadratic)."""
    return math.log(t1 / t0) / math.log(n1 / n0) if t0 > 0 and t1 > 0 and n1 != n0 else None


def _fmt(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.2f}"


def print_report(result: dict) -> None:
    def verdict(ok: bool | None) -> str:
        return "" if ok is None else ("PASS" if ok else "MISS")

    sizes = [int(n) for n in result["sizes"]]
    print(f"\ncode-location scale benchmark: best of {result['repeat']} round(s) per size, "
          f"{result['cpus']} CPUs, Python {result['python']}")
    print(f"  {'couriers':>8} {'groups':>6} {'segs':>5} {'assets':>6} {'checks':>6} {'jobs':>5} {'sensors':>7} "
          f"{'sched':>5} {'yaml KB':>8} {'snapshot MB':>11}")
    for n in sizes:
        e = result["sizes"][str(n)]
        c, k = e["catalog"], e["counts"]
        print(f"  {n:>8,} {c['courier_groups']:>6} {c['segments']:>5} {k['assets']:>6} {k['asset_checks']:>6} "
              f"{k['jobs']:>5} {k['sensors']:>7} {k['schedules']:>5} {c['yaml_bytes'] / 1024:>8,.0f} "
              f"{k['snapshot_bytes'] / 2**20:>11.1f}")

    if result["served"]:
        print(f"\n  serve: dagster-webserver started -> GraphQL assetNodes complete (the real webserver and code "
              f"server); baseline (empty dg.Definitions(), same run) {result['serve_baseline_s']:.2f} s")
        print(f"  {'couriers':>8} {'serve':>7} {'baseline':>9} {'serve-base':>11} {'floor':>7} {'floor-base':>11} "
              f"{'ours-floor':>11} {'asset nodes':>11} {'code server MB':>14}  target on serve - baseline")
        for n in sizes:
            e = result["sizes"][str(n)]
            if "serve_s" not in e:
                print(f"  {n:>8,} {'(not served)':>28}")
                continue
            target = (f"<= {e['serve_target_s']:.0f} s: {verdict(e['serve_pass'])}" if "serve_target_s" in e else "")
            hwm = e["serve_code_server_hwm_mb"]
            floor = e.get("floor", {})
            print(f"  {n:>8,} {e['serve_s']:>7.2f} {e['serve_baseline_s']:>9.2f} {e['serve_net_s']:>11.2f} "
                  f"{_fmt(floor.get('serve_s')):>7} {_fmt(floor.get('serve_net_s')):>11} "
                  f"{_fmt(e.get('serve_over_floor_s')):>11} {e['serve_asset_nodes']:>11,} "
                  f"{'' if hwm is None else format(hwm, ',.0f'):>14}  {target}")
        print("  (seconds; serve = absolute, from starting the webserver; the targets judge serve - baseline; floor =\n"
              "   the same shape as bare Dagster: floor - baseline is Dagster's own cost of it, ours - floor ours)")
        for n in sizes:
            e = result["sizes"][str(n)]
            if "serve_target_below_floor" in e:
                print(f"  {n:,} couriers: floor - baseline {e['floor']['serve_net_s']:.2f} s "
                      + (f"> target {e['serve_target_s']:.0f} s: target below Dagster's own floor for this shape"
                         if e["serve_target_below_floor"] else f"<= target {e['serve_target_s']:.0f} s: "
                         "the target is above Dagster's floor for this shape"))
    else:
        print("\n  serve: not measured (--no-serve)")

    print("\n  in-process phases (where the time goes; a fresh child per size; floor: the same shape as bare Dagster):")
    print(f"  {'couriers':>8} {'import':>7} {'catalog':>8} {'build':>7} {'resolve':>8} {'snapshot':>9} "
          f"{'load 1-3':>9} {'total 1-5':>10} {'process':>8} {'ms/courier':>11} {'peak RSS MB':>12}  build target")
    for n in sizes:
        e = result["sizes"][str(n)]
        target = (f"<= {e['build_target_s']:.0f} s: {verdict(e['build_pass'])}" if "build_target_s" in e else "")
        for label, x in ((f"{n:,}", e), ("floor", e.get("floor"))):
            if x is None:
                continue
            p = x["phases_s"]
            print(f"  {label:>8} {p['import']:>7.2f} {p['load_catalog']:>8.2f} {p['build_definitions']:>7.2f} "
                  f"{p['resolve']:>8.2f} {p['snapshot']:>9.2f} {x['load_s']:>9.2f} {x['in_process_s']:>10.2f} "
                  f"{x['process_s']:>8.2f} {1000 * x['in_process_s'] / n:>11.2f} {x['peak_rss_mb']:>12.0f}  "
                  + (target if x is e else ""))
    print("  (seconds; load = import + catalog + build; total = load + resolve + snapshot, what a code server spends\n"
          "   before it answers; process = child wall time incl. interpreter start; the floor's import is dagster,\n"
          "   its catalog reading structure.json)")
    for n in sizes:
        e = result["sizes"][str(n)]
        if "build_target_below_floor" in e:
            print(f"  {n:,} couriers: the floor's build {e['build_floor_s']:.2f} s "
                  + (f"> target {e['build_target_s']:.0f} s: target below Dagster's own floor for this shape"
                     if e["build_target_below_floor"] else f"<= target {e['build_target_s']:.0f} s: "
                     "the target is above Dagster's floor for this shape"))
    checked = [n for n in sizes if result["sizes"][str(n)].get("validate_cli_s") is not None]
    if checked:
        print("  cross-check, `dagster definitions validate` wall time: " + ", ".join(
            f"{n:,}: {result['sizes'][str(n)]['validate_cli_s']:.2f} s" for n in checked))
    if result["growth"]:
        print("\n  growth: marginal ms per added courier (per phase, in-process total, served), and exponent k of "
              "t ~ n^k (in-process, without import)")
        print(f"  {'step':>13} " + " ".join(f"{p[:9]:>9}" for p in PHASES) + f" {'total':>8} {'served':>8} {'k':>6}")
        for s in result["growth"]:
            m = s["marginal_phase_ms_per_courier"]
            k, served = s["exponent"], s["marginal_serve_ms_per_courier"]
            print(f"  {s['from']:>5}->{s['to']:<6,} " + " ".join(f"{m[p]:>9.2f}" for p in PHASES)
                  + f" {s['marginal_ms_per_courier']:>8.2f} {'' if served is None else format(served, '.2f'):>8}"
                  + f" {'' if k is None else format(k, '.2f'):>6}")
        if "marginal_ratio" in result:
            print(f"  marginal cost of the last step / first step (in-process): {result['marginal_ratio']:.2f} "
                  f"(linear: <= {LINEAR_TOLERANCE})  {verdict(result['linear_pass'])}")
        if "ms_per_courier_small_vs_large" in result:
            small, large = result["ms_per_courier_small_vs_large"]
            print(f"  in-process ms per courier at {sizes[0]:,}: {small:.2f}, at {sizes[-1]:,}: {large:.2f}; "
                  f"exponent {sizes[0]:,}->{sizes[-1]:,} without import: {result['scaling_exponent']:.2f}")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--couriers", type=int, nargs="+", default=list(DEFAULT_SIZES),
                        help="catalog sizes in couriers (default 100 500 2000)")
    parser.add_argument("--groups", type=int, help="courier groups for every size (default 30/100/200 by size)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (a fresh child and a fresh webserver per size "
                        "each); best time counts (default 1)")
    parser.add_argument("--seed", type=int, default=7, help="catalog generator seed (default 7)")
    parser.add_argument("--no-serve", action="store_true",
                        help="skip the webserver (serve and its baseline): in-process phases only")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the floor (the same shape as bare Dagster), in-process and served")
    parser.add_argument("--serve-couriers", type=int, nargs="+",
                        help="serve only these of the --couriers sizes (default: every size)")
    parser.add_argument("--serve-timeout", type=int, default=SERVE_TIMEOUT_S,
                        help=f"seconds to wait for one webserver to serve its location (default {SERVE_TIMEOUT_S})")
    parser.add_argument("--keep", type=Path,
                        help="write the catalogs (and the webserver logs) into this folder and keep them")
    parser.add_argument("--generate-only", action="store_true", help="write the catalogs (to --keep) and stop")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this path")
    parser.add_argument("--validate-cli", action="store_true",
                        help="also time `dagster definitions validate` once per size (a cross-check, not in the targets)")
    parser.add_argument("--quiet", action="store_true", help="print only the JSON line")
    # internal: one measurement in a child process
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--catalog", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", help=argparse.SUPPRESS)
    parser.add_argument("--structure", type=Path, help=argparse.SUPPRESS)  # write the tenant's shape here
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)  # measure the floor module in this folder
    args = parser.parse_args(argv)
    if args.repeat < 1 or any(n < 1 for n in args.couriers):
        parser.error("--repeat and --couriers must be at least 1")
    if args.generate_only and not args.keep:
        parser.error("--generate-only needs --keep DIR")
    if args.serve_couriers and not set(args.serve_couriers) <= set(args.couriers):
        parser.error("--serve-couriers must be among the --couriers sizes")
    if args.serve_timeout < 1:
        parser.error("--serve-timeout must be at least 1")
    args.couriers = sorted(set(args.couriers))
    args.serve_couriers = [] if args.no_serve else sorted(set(args.serve_couriers or args.couriers))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_child(args)
    log = (lambda *a, **k: None) if args.quiet else (lambda *a, **k: print(*a, **k, flush=True))
    scratch = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="wp-bench-scale-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        stats, runs, serves, baselines, floor_runs, floor_serves = {}, {}, {}, [], {}, {}
        for n in args.couriers:
            folder = scratch / f"catalog_{n}"
            mark = time.perf_counter()
            stats[n] = generate_catalog(n, folder, args.groups, args.seed)
            log(f"generated {folder}: {n:,} couriers, {stats[n]['courier_groups']} courier groups, "
                f"{stats[n]['segments']} segments, {stats[n]['custom_tables']} custom tables, "
                f"{stats[n]['orchestrations']} orchestrations, {stats[n]['yaml_files']} files, "
                f"{stats[n]['yaml_bytes'] / 1024:,.0f} KB in {time.perf_counter() - mark:.1f} s")
        if args.generate_only:
            return 0
        home = prepare_home(scratch, args.serve_timeout) if args.serve_couriers or args.validate_cli else None
        baseline_workspace = write_baseline(scratch / "baseline") if args.serve_couriers else None
        floors = {} if args.no_floor else {n: write_floor(scratch / f"floor_{n}") for n in args.couriers}
        for round_no in range(1, args.repeat + 1):
            if baseline_workspace:
                baseline = measure_serve(baseline_workspace, webserver_env(None, scratch, home, args.serve_timeout),
                                         BASELINE_LOCATION, 0, scratch / f"webserver_baseline_{round_no}.log",
                                         args.serve_timeout)
                baselines.append(baseline)
                log(f"round {round_no}: baseline (empty dg.Definitions()) served in {baseline['seconds']:.2f} s")
            for n in args.couriers:
                catalog = scratch / f"catalog_{n}"
                floor = floors.get(n)
                run = spawn(catalog, scratch / f"result_{n}.json", scratch,
                            *(["--structure", str(floor.parent / "structure.json")] if floor else []))
                runs.setdefault(n, []).append(run)
                s = run["seconds"]
                log(f"round {round_no}: {n:>5,} couriers in-process: " + ", ".join(f"{p} {s[p]:.2f}" for p in PHASES)
                    + f" = {sum(s.values()):.2f} s (process {run['process_seconds']:.2f} s), "
                    f"peak RSS {run['peak_rss_mb']:.0f} MB")
                if floor:
                    floor_run = spawn(None, scratch / f"result_floor_{n}.json", scratch, "--floor", str(floor.parent))
                    floor_runs.setdefault(n, []).append(floor_run)
                    s = floor_run["seconds"]
                    log(f"round {round_no}: {n:>5,} couriers, floor in-process: "
                        + ", ".join(f"{p} {s[p]:.2f}" for p in PHASES) + f" = {sum(s.values()):.2f} s")
                if n in args.serve_couriers:
                    served = measure_serve(write_workspace(scratch / f"serve_{n}" / "workspace.yaml",
                                                           "workflow_platform.definitions", LOCATION),
                                           webserver_env(catalog, scratch, home, args.serve_timeout), LOCATION,
                                           run["counts"]["assets"], scratch / f"webserver_{n}_{round_no}.log",
                                           args.serve_timeout)
                    serves.setdefault(n, []).append(served)
                    hwm = served["code_server_hwm_mb"]
                    log(f"round {round_no}: {n:>5,} couriers served in {served['seconds']:.2f} s "
                        f"({served['asset_nodes']:,} asset nodes; first HTTP answer at {served['first_answer_s']:.2f} s"
                        + ("" if hwm is None else f"; code server peak RSS {hwm:,.0f} MB") + ")")
                    if floor:
                        floor_served = measure_serve(floor, webserver_env(None, scratch, home, args.serve_timeout),
                                                     FLOOR_LOCATION, floor_run["counts"]["assets"],
                                                     scratch / f"webserver_floor_{n}_{round_no}.log",
                                                     args.serve_timeout)
                        floor_serves.setdefault(n, []).append(floor_served)
                        log(f"round {round_no}: {n:>5,} couriers, floor served in {floor_served['seconds']:.2f} s "
                            f"({floor_served['asset_nodes']:,} asset nodes)")
        cli = {}
        if args.validate_cli:
            for n in args.couriers:
                cli[n] = validate_cli(scratch / f"catalog_{n}", scratch, home)["seconds"]
                log(f"dagster definitions validate, {n:>5,} couriers: {cli[n]:.2f} s")
        result = summarize(args.couriers, stats, runs, args.repeat, cli, serves, baselines, floor_runs,
                           floor_serves)
        if not args.quiet:
            print_report(result)
        print(json.dumps(result), flush=True)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
