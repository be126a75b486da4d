"""Benchmark: how long one tenant's code location takes to load and serve, at 100, 500 and 2,000 couriers.

The script writes realistic catalog folders (several YAML files, as a tenant has them): every courier with its
own feed (5-12 typed columns with semantic tags: customer feeds with PII so Stitch applies, transaction feeds
with fk-<source>, reference feeds without either), a `customer_360` database `c360` with custom tables, an
`analytics` database, about one segment per ten couriers (reading c360.customer_360, custom tables, domain
tables or other segments; some with row thresholds), eight destinations, two orchestrations per orchestration
group plus some manual ones, a few campaigns, 30-200 courier groups with schedules, and 50 orchestration groups
(after a full courier group, on a schedule, or manual).

Each size is measured in a **fresh child process** (this script again, `--child`), so the import is paid once,
as a code server pays it, and the phases are timed inside the child:

1. import: `import workflow_platform.definitions` (dagster and the product modules);
2. load_catalog: YAML, pydantic models, cross-references and SQL checks (`catalog.loader.load_catalog`);
3. build_definitions: assets, checks, jobs, sensors and schedules (`definitions.build_definitions`);
4. resolve: what the code server does before it serves (`dagster api grpc` / `code-server`:
   `LoadedRepositories`): `defs.get_repository_def()` and `repo.load_all_definitions()` (asset graph, every
   asset job resolved against it);
5. snapshot: what it serves on the first request of the webserver or daemon (`ExternalRepository` with
   `defer_snapshots=True`, then one `ExternalJob` per job): `RepositorySnap.from_def` and `JobDataSnap.from_job_def`
   of every job, serialized.

The issue's targets (500 couriers <= 2 s, 2,000 <= 6 s, close to linear) are checked against both "load"
(phases 1-3, the issue's words) and "serve" (1-5, what a code server actually spends before the UI shows the
location). Growth is reported as time per courier and as the marginal cost per courier between sizes. Peak RSS
is the child's ru_maxrss from os.wait4 (the parent never imports dagster, so it stays lean).
It is a benchmark, not a test: the exit code is 0 unless something crashed (e.g. a generated catalog is invalid).

    .venv/bin/python bench/definitions_scale.py                      # 100, 500, 2,000 couriers, one round
    .venv/bin/python bench/definitions_scale.py --couriers 500 --repeat 1 --json /tmp/scale.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:  # the benchmark's allowed roots: it is its own operator (bench_env.py)
    import bench_env  # run as a script: bench/ is on sys.path
except ModuleNotFoundError:
    from bench import bench_env  # noqa: F401  (imported by the tests as bench.<module>)


DEFAULT_SIZES = (100, 500, 2000)
GROUP_POINTS = ((100, 30), (500, 100), (2000, 200))  # couriers -> courier groups (from the issue)
ORCHESTRATION_GROUPS = 50
TARGETS_S = {500: 2.0, 2000: 6.0}
LINEAR_TOLERANCE = 1.25  # marginal ms/courier of the larger step may be at most this times the smaller step's
PHASES = ("import", "load_catalog", "build_definitions", "resolve", "snapshot")
LOAD_PHASES = PHASES[:3]

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


def measure_phases(catalog_dir: Path, warehouse: str, after_import=None) -> dict:
    """Time the five phases in this process (import first: call it in a fresh process).

    `after_import(definitions_module)` runs between the import and the catalog load (not timed): a hook for
    trying a change to the product code by monkeypatching, from a scratch script."""
    seconds: dict[str, float] = {}
    mark = time.perf_counter()
    from workflow_platform import definitions  # dagster, pydantic, duckdb and the product modules

    seconds["import"] = time.perf_counter() - mark
    from dagster._core.remote_representation.external_data import JobDataSnap, RepositorySnap
    from dagster._serdes import serialize_value

    from workflow_platform.catalog.loader import load_catalog

    if after_import:
        after_import(definitions)

    mark = time.perf_counter()
    catalog = load_catalog(catalog_dir)
    seconds["load_catalog"] = time.perf_counter() - mark

    mark = time.perf_counter()
    defs = definitions.build_definitions(catalog, warehouse=warehouse)
    seconds["build_definitions"] = time.perf_counter() - mark

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
    return {
        "seconds": seconds,
        "counts": {"assets": len(graph.get_all_asset_keys()), "asset_checks": len(graph.asset_check_keys),
                   "jobs": len(jobs), "sensors": len(repo.sensor_defs), "schedules": len(repo.schedule_defs),
                   "snapshot_bytes": snapshot_bytes},
    }


def _vm_hwm_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def run_child(args: argparse.Namespace) -> int:
    result = measure_phases(args.catalog, args.warehouse)
    result["vm_hwm_mb"] = _vm_hwm_mb()
    args.result.write_text(json.dumps(result))
    return 0


def spawn(catalog: Path, result_path: Path, warehouse: Path) -> dict:
    """Run this script as a child measuring `catalog`; its figures, wall time and ru_maxrss (from wait4)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--catalog", str(catalog),
               "--result", str(result_path), "--warehouse", str(warehouse)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}  # Dagster's beta/preview warnings: not part of the timing
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    process_seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"child for {catalog} exited with {code}")
    result = json.loads(result_path.read_text())
    result.update(process_seconds=process_seconds, peak_rss_mb=usage.ru_maxrss / 1024.0)
    return result


def validate_cli(catalog: Path, warehouse: Path, scratch: Path) -> dict:
    """Cross-check: the wall time and peak RSS of `dagster definitions validate -m workflow_platform.definitions`
    on the catalog (an in-process code location: import, `defs()`, `RepositorySnap.from_def` of everything)."""
    home = scratch / "dagster_home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "DAGSTER_HOME": str(home),
           "WORKFLOW_PLATFORM_CATALOG": str(catalog), "WORKFLOW_PLATFORM_WAREHOUSE": str(warehouse)}
    command = [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "workflow_platform.definitions"]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=scratch)
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"dagster definitions validate failed on {catalog}:\n{stderr.decode()[-2000:]}")
    return {"seconds": seconds}


# --------------------------------------------------------------------------- report


def summarize(sizes: list[int], stats: dict[int, dict], runs: dict[int, list[dict]], repeat: int,
              cli: dict[int, float] | None = None) -> dict:
    """Best time of each phase (and of the totals) over the rounds, worst RSS, growth and verdicts."""
    result: dict = {"repeat": repeat, "targets_s": {str(k): v for k, v in TARGETS_S.items()},
                    "linear_tolerance": LINEAR_TOLERANCE, "python": sys.version.split()[0], "cpus": os.cpu_count(),
                    "sizes": {}}
    for n in sizes:
        mine = runs[n]
        best = min(mine, key=lambda r: sum(r["seconds"].values()))
        entry = {
            "catalog": stats[n],
            "phases_s": {p: min(r["seconds"][p] for r in mine) for p in PHASES},
            "load_s": min(sum(r["seconds"][p] for p in LOAD_PHASES) for r in mine),
            "serve_s": min(sum(r["seconds"].values()) for r in mine),
            "process_s": min(r["process_seconds"] for r in mine),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in mine),
            "vm_hwm_mb": max((r["vm_hwm_mb"] or 0.0) for r in mine) or None,
            "counts": best["counts"],
            "rounds_serve_s": [sum(r["seconds"].values()) for r in mine],
            "validate_cli_s": (cli or {}).get(n),
        }
        entry["serve_ms_per_courier"] = 1000 * entry["serve_s"] / n
        entry["scaling_ms_per_courier"] = 1000 * (entry["serve_s"] - entry["phases_s"]["import"]) / n
        if n in TARGETS_S:
            entry["target_s"] = TARGETS_S[n]
            entry["load_pass"] = entry["load_s"] <= TARGETS_S[n]
            entry["serve_pass"] = entry["serve_s"] <= TARGETS_S[n]
        result["sizes"][str(n)] = entry
    # growth: marginal cost per courier between consecutive sizes, per phase and in total
    steps = []
    for a, b in itertools.pairwise(sizes):
        ea, eb = result["sizes"][str(a)], result["sizes"][str(b)]
        step = {"from": a, "to": b,
                "marginal_ms_per_courier": 1000 * (eb["serve_s"] - ea["serve_s"]) / (b - a),
                "marginal_phase_ms_per_courier": {p: 1000 * (eb["phases_s"][p] - ea["phases_s"][p]) / (b - a)
                                                  for p in PHASES},
                "exponent": _exponent(ea["serve_s"] - ea["phases_s"]["import"], eb["serve_s"] - eb["phases_s"]["import"],
                                      a, b)}
        steps.append(step)
    result["growth"] = steps
    if len(steps) >= 2:
        first, last = steps[0]["marginal_ms_per_courier"], steps[-1]["marginal_ms_per_courier"]
        result["marginal_ratio"] = last / first if first > 0 else None
        result["linear_pass"] = result["marginal_ratio"] is not None and result["marginal_ratio"] <= LINEAR_TOLERANCE
    small, large = str(sizes[0]), str(sizes[-1])
    if small != large:
        result["ms_per_courier_small_vs_large"] = [result["sizes"][small]["serve_ms_per_courier"],
                                                   result["sizes"][large]["serve_ms_per_courier"]]
        result["scaling_exponent"] = _exponent(
            result["sizes"][small]["serve_s"] - result["sizes"][small]["phases_s"]["import"],
            result["sizes"][large]["serve_s"] - result["sizes"][large]["phases_s"]["import"], int(small), int(large))
    return result


def _exponent(t0: float, t1: float, n0: int, n1: int) -> float | None:
    """k in t ~ n^k between two sizes (1 = linear, 2 = quadratic)."""
    return math.log(t1 / t0) / math.log(n1 / n0) if t0 > 0 and t1 > 0 and n1 != n0 else None


def print_report(result: dict) -> None:
    def verdict(ok: bool | None) -> str:
        return "" if ok is None else ("PASS" if ok else "MISS")

    sizes = [int(n) for n in result["sizes"]]
    print(f"\ncode-location scale benchmark: best of {result['repeat']} fresh child process(es) per size, "
          f"{result['cpus']} CPUs, Python {result['python']}")
    print(f"  {'couriers':>8} {'groups':>6} {'segs':>5} {'assets':>6} {'checks':>6} {'jobs':>5} {'sensors':>7} "
          f"{'sched':>5} {'yaml KB':>8} {'snapshot MB':>11}")
    for n in sizes:
        e = result["sizes"][str(n)]
        c, k = e["catalog"], e["counts"]
        print(f"  {n:>8,} {c['courier_groups']:>6} {c['segments']:>5} {k['assets']:>6} {k['asset_checks']:>6} "
              f"{k['jobs']:>5} {k['sensors']:>7} {k['schedules']:>5} {c['yaml_bytes'] / 1024:>8,.0f} "
              f"{k['snapshot_bytes'] / 2**20:>11.1f}")
    print(f"\n  {'couriers':>8} {'import':>7} {'catalog':>8} {'build':>7} {'resolve':>8} {'snapshot':>9} "
          f"{'load 1-3':>9} {'serve 1-5':>10} {'process':>8} {'ms/courier':>11} {'peak RSS MB':>12}"
          f"  target: load / serve")
    for n in sizes:
        e = result["sizes"][str(n)]
        p = e["phases_s"]
        target = (f"<= {e['target_s']:.0f} s: {verdict(e['load_pass'])} / {verdict(e['serve_pass'])}"
                  if "target_s" in e else "")
        print(f"  {n:>8,} {p['import']:>7.2f} {p['load_catalog']:>8.2f} {p['build_definitions']:>7.2f} "
              f"{p['resolve']:>8.2f} {p['snapshot']:>9.2f} {e['load_s']:>9.2f} {e['serve_s']:>10.2f} "
              f"{e['process_s']:>8.2f} {e['serve_ms_per_courier']:>11.2f} {e['peak_rss_mb']:>12.0f}  {target}")
    print("  (seconds; load = import + catalog + build, the issue's definition; serve = load + resolve + snapshot,\n"
          "   what a code server spends before it answers; process = child wall time incl. interpreter start)")
    checked = [n for n in sizes if result["sizes"][str(n)].get("validate_cli_s") is not None]
    if checked:
        print("  cross-check, `dagster definitions validate` wall time: " + ", ".join(
            f"{n:,}: {result['sizes'][str(n)]['validate_cli_s']:.2f} s" for n in checked))
    if result["growth"]:
        print("\n  growth: marginal ms per added courier (per phase and total), and exponent k of t ~ n^k "
              "(without import)")
        print(f"  {'step':>13} " + " ".join(f"{p[:9]:>9}" for p in PHASES) + f" {'total':>8} {'k':>6}")
        for s in result["growth"]:
            m = s["marginal_phase_ms_per_courier"]
            k = s["exponent"]
            print(f"  {s['from']:>5}->{s['to']:<6,} " + " ".join(f"{m[p]:>9.2f}" for p in PHASES)
                  + f" {s['marginal_ms_per_courier']:>8.2f} {'' if k is None else format(k, '.2f'):>6}")
        if "marginal_ratio" in result:
            print(f"  marginal cost of the last step / first step: {result['marginal_ratio']:.2f} "
                  f"(linear: <= {LINEAR_TOLERANCE})  {verdict(result['linear_pass'])}")
        if "ms_per_courier_small_vs_large" in result:
            small, large = result["ms_per_courier_small_vs_large"]
            print(f"  serve ms per courier at {sizes[0]:,}: {small:.2f}, at {sizes[-1]:,}: {large:.2f}; "
                  f"exponent {sizes[0]:,}->{sizes[-1]:,} without import: {result['scaling_exponent']:.2f}")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--couriers", type=int, nargs="+", default=list(DEFAULT_SIZES),
                        help="catalog sizes in couriers (default 100 500 2000)")
    parser.add_argument("--groups", type=int, help="courier groups for every size (default 30/100/200 by size)")
    parser.add_argument("--repeat", type=int, default=1, help="fresh child processes per size; best time counts "
                        "(default 1)")
    parser.add_argument("--seed", type=int, default=7, help="catalog generator seed (default 7)")
    parser.add_argument("--keep", type=Path, help="write the catalogs into this folder and keep them")
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
    args = parser.parse_args(argv)
    if args.repeat < 1 or any(n < 1 for n in args.couriers):
        parser.error("--repeat and --couriers must be at least 1")
    if args.generate_only and not args.keep:
        parser.error("--generate-only needs --keep DIR")
    args.couriers = sorted(set(args.couriers))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_child(args)
    log = (lambda *a, **k: None) if args.quiet else (lambda *a, **k: print(*a, **k, flush=True))
    scratch = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="wp-bench-scale-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        stats, runs = {}, {}
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
        for round_no in range(1, args.repeat + 1):
            for n in args.couriers:
                run = spawn(scratch / f"catalog_{n}", scratch / f"result_{n}.json", scratch / "warehouse.duckdb")
                runs.setdefault(n, []).append(run)
                s = run["seconds"]
                log(f"round {round_no}: {n:>5,} couriers: " + ", ".join(f"{p} {s[p]:.2f}" for p in PHASES)
                    + f" = {sum(s.values()):.2f} s (process {run['process_seconds']:.2f} s), "
                    f"peak RSS {run['peak_rss_mb']:.0f} MB")
        cli = {}
        if args.validate_cli:
            for n in args.couriers:
                cli[n] = validate_cli(scratch / f"catalog_{n}", scratch / "warehouse.duckdb", scratch)["seconds"]
                log(f"dagster definitions validate, {n:>5,} couriers: {cli[n]:.2f} s")
        result = summarize(args.couriers, stats, runs, args.repeat, cli)
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
