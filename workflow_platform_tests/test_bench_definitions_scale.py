"""bench/definitions_scale.py's own machinery: the figures report.py reads, the options, and the serve measurement
(a real dagster-webserver on loopback, here on the empty baseline location, stopped with its code server)."""

from __future__ import annotations

import os
from pathlib import Path

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
