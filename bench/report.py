"""Run every benchmark of bench/ and write one performance report (Markdown + JSON) of ratios against baselines.

    .venv/bin/python bench/report.py                 # CI-friendly sizes (a few minutes on 2 cores)
    .venv/bin/python bench/report.py --size full     # the sizes the issues' targets name
    .venv/bin/python bench/report.py --only ingest export

Each benchmark runs as its own process with `--json`, exactly as it runs by hand; this script only chooses the
sizes, collects the JSON, and writes `bench/out/report.md` and `bench/out/report.json` (`--out` to change).
Baselines are measured in the same run: DuckDB's raw `read_csv` for ingest, a raw DuckDB `COPY` for exports, the
in-process floor (`execute_in_process`, no daemon) for runs, a webserver serving an empty `dg.Definitions()` for the
definitions' serve time (and the smallest catalog for their growth).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    args: dict[str, list[str]]  # size -> arguments
    baseline: str
    summarize: Callable[[dict], list[tuple[str, str, str]]]  # -> rows of (measure, value, verdict)


def _verdict(ok) -> str:
    return "—" if ok is None else ("PASS" if ok else "MISS")


def _num(value, digits: int = 2, unit: str = "") -> str:
    return "—" if value is None else f"{value:,.{digits}f}{unit}"


def ingest_rows(d: dict) -> list[tuple[str, str, str]]:
    return [
        (f"{d['rows']:,} rows: ours / DuckDB read_csv (rows/s)", _num(d["ratio"], 3) + f" (target ≥ {d['ratio_target']})",
         _verdict(d["ratio_pass"])),
        ("ours / DuckDB seconds", f"{_num(d['ours_seconds'])} s / {_num(d['duckdb_seconds'])} s", ""),
        ("peak RSS", _num(d["peak_rss_mb"], 0, " MB") + f" (target < {d['rss_target_mb']:,.0f} MB)",
         _verdict(d["rss_pass"])),
    ]


def export_rows(d: dict) -> list[tuple[str, str, str]]:
    rows = []
    for kind, label in (("send", "one gzip CSV"), ("send_split", "split parts")):
        if kind in d:
            r = d[kind]
            rows.append((f"{d['rows']:,} rows, {label}: time / raw COPY", _num(r.get("time_ratio")), ""))
            rows.append((f"{label}: peak RSS (vs COPY {_num(d['baseline']['peak_rss_mb'], 0)} MB)",
                         _num(r["peak_rss_mb"], 0, " MB") + f" (target < {d['rss_target_mb']:,.0f} MB)",
                         _verdict(r["rss_pass"] and r["rows_ok"])))
    return rows


def definitions_rows(d: dict) -> list[tuple[str, str, str]]:
    rows = []
    if d.get("serve_baseline_s") is not None:
        rows.append(("baseline: dagster-webserver serving an empty dg.Definitions()",
                     _num(d["serve_baseline_s"], 2, " s"), ""))
    for n, e in d["sizes"].items():
        if "serve_s" in e:
            target = e.get("serve_target_s")
            rows.append((f"{int(n):,} couriers: dagster-webserver start → full asset graph, minus the baseline",
                         _num(e["serve_net_s"], 2, " s") + f" (serve {_num(e['serve_s'], 2, ' s')})"
                         + (f" (target ≤ {target} s)" if target else ""), _verdict(e.get("serve_pass"))))
        target = e.get("build_target_s")
        rows.append((f"{int(n):,} couriers: build_definitions phase",
                     _num(e["phases_s"]["build_definitions"], 2, " s") + (f" (target ≤ {target} s)" if target else ""),
                     _verdict(e.get("build_pass"))))
        rows.append((f"{int(n):,} couriers: in-process import + catalog + build + resolve + snapshot",
                     _num(e["in_process_s"], 2, " s"), ""))
    if d.get("marginal_ratio") is not None:
        rows.append(("growth: marginal cost per courier, last step / first step", _num(d["marginal_ratio"]),
                     _verdict(d.get("linear_pass"))))
    return rows


def run_rows(d: dict) -> list[tuple[str, str, str]]:
    floor = (d.get("floor") or {}).get("execute_median_s")
    rows = [(f"floor: {d['couriers']} couriers with execute_in_process", _num(floor, 2, " s"), "")]
    for executor, e in d["executors"].items():
        rows.append((f"{executor}: launch → success (daemon)",
                     _num(e["wall_median_s"], 2, " s") + f", {_num(e['ratio_to_floor'])}× floor"
                     + f" (target ≤ {d['target_s']} s)", _verdict(e["pass"])))
    return rows


def alert_rows(d: dict) -> list[tuple[str, str, str]]:
    return [(name.replace("_", " "), _num(d[name], 1, " s") + f" (target ≤ {d['target_s']} s)",
             _verdict(None if d[name] is None else d[name] <= d["target_s"]))
            for name in ("missing_file_latency_s", "runtime_warning_latency_s")]


def stitch_speed_rows(d: dict) -> list[tuple[str, str, str]]:
    rows = []
    for mode, r in d["runs"].items():
        ok = (d["pass"]["seconds"] and d["pass"]["rss"]) if d["pass"] else None  # targets name 1,000,000
        value = (f"{_num(r['wall_seconds'], 1, ' s')} / {_num(r['peak_rss_mb'], 0, ' MB')}, "
                 f"{r['comparisons_per_second']:,.0f} comparisons/s")
        rows.append((f"{d['records']:,} records, {mode}: wall / peak RSS", value,
                     _verdict(ok) if mode == "force_refresh" else ""))
    return rows


def stitch_accuracy_rows(d: dict) -> list[tuple[str, str, str]]:
    rows = [(f"{d['records']:,} records: evidence ceiling for recall", _num(d["evidence_ceiling"], 4), "")]
    for name, r in d["resolvers"].items():
        rows.append((f"{name}: pairwise precision / recall / F1",
                     f"{_num(r['precision'], 4)} / {_num(r['recall'], 4)} / {_num(r['f1'], 4)}",
                     _verdict(all(d["pass"].values())) if name == "probabilistic" else ""))
    return rows


def stitch_public_rows(d: dict) -> list[tuple[str, str, str]]:
    rows = []
    for name, s in d["sets"].items():
        p, plain = s["project"], s["plain_splink"]
        rows.append((f"{name.upper()} ({s['task']}, {p['records']:,} records): pairwise P / R / F1, "
                     f"{p['lost']:,} lost" + ("" if p["success"] else ", run FAILED"),
                     (f"{_num(p['precision'], 4)} / {_num(p['recall'], 4)} / {_num(p['f1'], 4)} (plain Splink "
                     f"{_num(plain['precision'], 4)} / {_num(plain['recall'], 4)} / {_num(plain['f1'], 4)})"),
                     _verdict(all(s["pass"].values()))))
    return rows


def fault_rows(d: dict) -> list[tuple[str, str, str]]:
    return [(f"{d['killed']} SIGKILLs in {d['trials']} trials, {d['source_rows']:,} source rows",
             f"{d['lost']} lost, {d['duplicated']} duplicated, {d['torn_tables']} torn tables",
             _verdict(d["pass"]))]


BENCHES = [
    Bench("ingest", "ingest.py", {"ci": ["--rows", "300000", "--repeat", "3", "--no-reload"],
                                  "full": ["--rows", "2000000", "--repeat", "5"]},
          "DuckDB read_csv into a table", ingest_rows),
    Bench("export", "export.py", {"ci": ["--rows", "200000", "--split-rows", "50000"],
                                  "full": ["--rows", "1000000", "--repeat", "3"]},
          "raw DuckDB COPY to gzip CSV", export_rows),
    Bench("definitions", "definitions_scale.py", {"ci": ["--couriers", "100", "500", "--serve-couriers", "100",
                                                         "--repeat", "1"],
                                                  "full": ["--couriers", "100", "500", "2000", "--repeat", "3"]},
          "an empty dg.Definitions() served the same way; the smallest catalog (growth)", definitions_rows),
    Bench("run_overhead", "run_overhead.py", {"ci": ["--repeat", "2"], "full": ["--repeat", "3"]},
          "execute_in_process of the same job", run_rows),
    Bench("alert_latency", "alert_latency.py", {"ci": [], "full": []}, "the schedule tick / threshold", alert_rows),
    Bench("stitch_speed", "stitch_speed.py", {"ci": ["--records", "100000"], "full": ["--records", "1000000"]},
          "the target (90 s, 8 GB at 1,000,000 records)", stitch_speed_rows),
    Bench("stitch_accuracy", "stitch_accuracy.py", {"ci": ["--records", "20000"], "full": ["--records", "100000"]},
          "the exact rules (deterministic resolver) on the same set", stitch_accuracy_rows),
    Bench("stitch_public", "stitch_public.py", {"ci": [], "full": []},
          "a plain hand-written Splink model on the same FEBRL files", stitch_public_rows),
    Bench("fault_injection", "fault_injection.py", {"ci": ["--kills", "20", "--rows", "200"],
                                                    "full": ["--kills", "100", "--rows", "2000"]},
          "0 lost / 0 duplicated rows", fault_rows),
]


def run_bench(bench: Bench, size: str, scratch: Path) -> dict:
    out = scratch / f"{bench.name}.json"
    # as a module from the repository root: the benchmarks that use the tests' local servers import
    # workflow_platform_tests, which is not installed (the wheel leaves it out)
    command = [sys.executable, "-m", f"bench.{Path(bench.script).stem}", *bench.args[size], "--json", str(out)]
    print(f"== {bench.name}: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True, check=False, cwd=BENCH.parent)
    seconds = time.perf_counter() - started
    shown = ["-m", f"bench.{Path(bench.script).stem}", *bench.args[size]]
    if process.returncode != 0 or not out.exists():
        return {"error": f"exit {process.returncode}: {(process.stderr or process.stdout)[-1500:]}",
                "command": shown, "seconds": seconds}
    return {"figures": json.loads(out.read_text()), "command": shown, "seconds": seconds}


def render(results: dict[str, dict], size: str) -> str:
    lines = [
        f"# Performance report ({size} sizes)", "",
        (f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · {platform.machine()} · {os.cpu_count()} CPUs · Python "
        f"{platform.python_version()} · load average at the end {os.getloadavg()[0]:.1f}"), "",
        "Ratios are against a baseline measured in the same run; absolute seconds vary with the machine.",
        "Reproduce: `.venv/bin/python bench/report.py" + (" --size full" if size == "full" else "") + "`", "",
    ]
    for bench in BENCHES:
        if bench.name not in results:
            continue
        result = results[bench.name]
        lines += [f"## {bench.name} (`bench/{bench.script}`; baseline: {bench.baseline})", ""]
        if "error" in result:
            lines += ["Failed:", "", "```", result["error"], "```", ""]
            continue
        lines += ["| measure | value | target |", "| --- | --- | --- |"]
        lines += [f"| {m} | {v} | {ok} |" for m, v, ok in bench.summarize(result["figures"])]
        lines += ["", f"`.venv/bin/python {' '.join(result['command'])}` · {result['seconds']:.0f} s", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("ci", "full"), default="ci")
    parser.add_argument("--only", nargs="+", choices=[b.name for b in BENCHES])
    parser.add_argument("--out", type=Path, default=BENCH / "out")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="wp-bench-report-") as scratch:
        for bench in BENCHES:
            if args.only and bench.name not in args.only:
                continue
            results[bench.name] = run_bench(bench, args.size, Path(scratch))
    report = render(results, args.size)
    (args.out / "report.md").write_text(report)
    (args.out / "report.json").write_text(json.dumps({"size": args.size, "results": results}, indent=2, default=str))
    print(report)
    print(f"written: {args.out / 'report.md'} and {args.out / 'report.json'}")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
