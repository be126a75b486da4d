"""bench/definitions_scale.py's own machinery: the figures report.py reads, the options, and the serve measurement
(a real dagster-webserver on loopback, here on the empty baseline location, stopped with its code server)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench import bench_env
from bench import definitions_scale as scale
from bench.report import definitions_rows


def _run(total: float, build: float, assets: int) -> dict:
    seconds = {"import": 1.0, "load_catalog": 0.1 * total, "build_definitions": build, "resolve": 0.2 * total}
    seconds["snapshot"] = total - sum(seconds.values())
    return {"seconds": seconds, "process_seconds": total + 0.5, "peak_rss_mb": 100.0, "vm_hwm_mb": 90.0,
            "counts": {"assets": assets, "asset_checks": 1, "jobs": 1, "sensors": 1, "schedules": 1,
                       "snapshot_bytes": 1}}


def _served(seconds: float, nodes: int) -> dict:
    return {"seconds": seconds, "first_answer_s": seconds, "asset_nodes": nodes, "polls": 3,
            "webserver_hwm_mb": 200.0, "code_server_hwm_mb": 300.0}


def test_summary_judges_serve_minus_baseline_and_the_build_phase(capsys):
    sizes = [100, 500, 2000]
    stats = {n: {"courier_groups": 1, "segments": 1, "yaml_bytes": 1024} for n in sizes}
    runs = {100: [_run(3.0, 0.5, 400)], 500: [_run(8.0, 1.5, 1600)], 2000: [_run(30.0, 4.5, 6300)]}
    serves = {500: [_served(9.5, 1600), _served(8.5, 1600)], 2000: [_served(25.0, 6300)]}
    result = scale.summarize(sizes, stats, runs, 2, serves=serves, baselines=[_served(4.0, 0), _served(3.6, 0)])

    assert result["serve_baseline_s"] == 3.6
    at_500, at_2000 = result["sizes"]["500"], result["sizes"]["2000"]
    assert at_500["serve_s"] == 8.5 and abs(at_500["serve_net_s"] - 4.9) < 1e-9 and at_500["serve_pass"]
    assert abs(at_2000["serve_net_s"] - 21.4) < 1e-9 and not at_2000["serve_pass"]  # 25.0 absolute, 21.4 > 20
    assert not at_2000["build_pass"] and "build_pass" not in at_500
    assert "serve_s" not in result["sizes"]["100"]
    assert result["growth"][0]["marginal_serve_ms_per_courier"] is None
    assert result["growth"][1]["marginal_serve_ms_per_courier"] == 1000 * (25.0 - 8.5) / 1500

    rows = definitions_rows(result)  # what bench/report.py writes
    assert ("2,000 couriers: build_definitions phase", "4.50 s (target ≤ 4.0 s)", "MISS") in rows
    assert any(measure.startswith("500 couriers: dagster-webserver") and verdict == "PASS"
               for measure, _, verdict in rows)
    scale.print_report(result)
    assert "serve-base" in capsys.readouterr().out


def test_no_serve_and_serve_sizes():
    assert scale.parse_args(["--couriers", "100", "500", "--no-serve"]).serve_couriers == []
    assert scale.parse_args(["--couriers", "500", "100"]).serve_couriers == [100, 500]
    assert scale.parse_args(["--couriers", "100", "500", "--serve-couriers", "100"]).serve_couriers == [100]
    result = scale.summarize([100], {100: {}}, {100: [_run(3.0, 0.5, 400)]}, 1)
    assert not result["served"] and result["serve_baseline_s"] is None


def test_serve_measures_the_real_webserver_and_stops_it(tmp_path: Path):
    home = scale.prepare_home(tmp_path)
    workspace = scale.write_baseline(tmp_path / "baseline")
    env = scale.webserver_env(None, tmp_path, home)
    assert env["DAGSTER_HOME"] == str(home) and "WORKFLOW_PLATFORM_CATALOG" not in env
    assert env["WORKFLOW_PLATFORM_ALLOWED_ROOTS"] == os.environ["WORKFLOW_PLATFORM_ALLOWED_ROOTS"]

    served = scale.measure_serve(workspace, env, scale.BASELINE_LOCATION, 0, tmp_path / "webserver.log", 180)

    assert served["asset_nodes"] == 0 and 0 < served["seconds"] < 180
    assert served["code_server_hwm_mb"], "the webserver's code server ran in its process group"
    assert scale._group_hwm_mb(served["pgid"]) == {}, "the webserver and its code server are stopped"
    log = (tmp_path / "webserver.log").read_text()
    assert "Serving dagster-webserver on http://127.0.0.1:" in log and "bench_empty_definitions" in log


def test_summary_reports_the_floor_beside_ours(capsys):
    sizes = [500, 2000]
    stats = {n: {"courier_groups": 1, "segments": 1, "yaml_bytes": 1024} for n in sizes}
    runs = {500: [_run(8.0, 1.5, 1600)], 2000: [_run(30.0, 4.5, 6300)]}
    floor_runs = {500: [_run(5.0, 0.5, 1600)], 2000: [_run(20.0, 4.2, 6300)]}
    serves = {500: [_served(19.0, 1600)], 2000: [_served(60.0, 6300)]}
    floor_serves = {500: [_served(14.5, 1600)], 2000: [_served(22.0, 6300)]}
    result = scale.summarize(sizes, stats, runs, 1, serves=serves, baselines=[_served(5.0, 0)],
                             floor_runs=floor_runs, floor_serves=floor_serves)

    at_500, at_2000 = result["sizes"]["500"], result["sizes"]["2000"]
    assert at_500["floor"]["serve_net_s"] == 9.5 and at_500["serve_over_floor_s"] == 4.5
    assert at_500["serve_target_below_floor"] and not at_500["serve_pass"]  # still judged on ours
    assert not at_2000["serve_target_below_floor"]  # 17 s of floor under the 20 s target
    assert at_2000["build_floor_s"] == 4.2 and at_2000["build_target_below_floor"] and not at_2000["build_pass"]
    scale.print_report(result)
    out = capsys.readouterr().out
    assert "ours-floor" in out and out.count("target below Dagster's own floor for this shape") == 2


def _shape(defs) -> dict:
    """What the floor must keep of a location: per asset key its op and deps, the checks, per op can_subset, and
    per job its executable asset keys and checks."""
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    ops = {ad: ad.node_def.name if ad.is_executable else None for ad in graph.assets_defs}  # None: a stub
    return {
        "assets": {key: (ops[graph.get(key).assets_def], frozenset(graph.get(key).parent_keys))
                   for key in graph.get_all_asset_keys()},
        "checks": set(graph.asset_check_keys),
        "can_subset": {op: ad.can_subset for ad, op in ops.items()},
        "jobs": {job.name: (frozenset(job.asset_layer.executable_asset_keys),
                            frozenset(job.asset_layer.asset_graph.asset_check_keys)) for job in repo.get_all_jobs()},
    }


def test_floor_module_rebuilds_the_tenants_shape_in_bare_dagster(tmp_path: Path, monkeypatch):
    from workflow_platform.catalog.loader import load_catalog
    from workflow_platform.definitions import build_definitions

    monkeypatch.setenv("WORKFLOW_PLATFORM_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("WORKFLOW_PLATFORM_ALLOWED_ROOTS",  # the generated catalog's example remotes, as bench_env
                       ",".join([os.environ["WORKFLOW_PLATFORM_ALLOWED_ROOTS"], *bench_env.EXAMPLE_REMOTES]))
    scale.generate_catalog(40, tmp_path / "catalog", groups=6)
    tenant = build_definitions(load_catalog(tmp_path / "catalog"), warehouse=str(tmp_path / "w.duckdb"))
    scale.write_floor(tmp_path / "floor")
    (tmp_path / "floor" / "structure.json").write_text(
        json.dumps(scale.dump_structure(tenant.get_repository_def())))

    floor = scale.load_floor_module(tmp_path / "floor").defs()  # the entry point its code server loads

    expected, got = _shape(tenant), _shape(floor)
    assert len(expected["jobs"]) > 5 and expected["checks"] and len(expected["assets"]) > 100
    assert got["assets"] == expected["assets"]
    assert got["checks"] == expected["checks"]
    assert got["can_subset"] == expected["can_subset"]
    assert got["jobs"] == expected["jobs"]
    floor_repo = floor.get_repository_def()
    assert not floor_repo.sensor_defs and not floor_repo.schedule_defs and not floor_repo.get_top_level_resources()
