"""`workflow-platform launch`: runs submitted to the running instance through the webserver's GraphQL API are
queued, run by the real daemon and followed by what follows a scheduled run (the build run, then the
orchestration group that runs after the courier group); `--run-type source` narrows a run to its load."""

import time

import pytest
from click.testing import CliRunner

from workflow_platform.cli import main
from workflow_platform_tests.dagster_services import start_services_for
from workflow_platform_tests.support import CUSTOMER_SOURCE, customer_file, free_port

CATALOG = CUSTOMER_SOURCE + """
segments:
  - name: everyone
    sql: SELECT customer_id, email FROM c360.customer_360
destinations:
  - name: out
    url: exports
orchestrations:
  - name: send_everyone
    segment: everyone
    destination: out
    workflow: automatic
    filename: everyone.csv
orchestration_groups:
  - name: activations
    orchestrations: [send_everyone]
    run_after: daily
"""


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["launch", *args])
    return result.exit_code, result.output


def test_without_a_webserver_launch_says_where_it_looked_and_what_to_do(tmp_path):
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    url = f"http://127.0.0.1:{free_port()}"
    code, output = invoke("--catalog", str(tmp_path), "--group", "daily", "--date", "2026-01-05", "--url", url)
    assert code == 2
    assert f"no Dagster webserver answers at {url}: start the services (make run) or give --url" in output
    code, output = invoke("--catalog", str(tmp_path), "--group", "nightly", "--url", url)
    assert code == 2 and "unknown courier group 'nightly'; known: daily" in output
    code, output = invoke("--catalog", str(tmp_path), "--group", "daily", "--all-data", "--date", "2026-01-05")
    assert code == 2 and "give one of: days" in output
    code, output = invoke("--catalog", str(tmp_path), "--group", "daily", "--scheduled-at", "2026-12-07T06:00:00")
    assert code == 2 and "give the tick with its UTC offset" in output


def test_a_tick_gives_the_window_of_the_scheduled_run(tmp_path):
    """--scheduled-at: the tick, and the tick before it (`since`), as the schedule sensor's run carries them."""
    import datetime as dt

    from workflow_platform.automation.run_tags import run_tags
    from workflow_platform.catalog.loader import load_catalog
    from workflow_platform.ingest.window import run_days

    (tmp_path / "catalog.yaml").write_text(CATALOG)
    tick = dt.datetime(2026, 12, 7, 6, tzinfo=dt.timezone(dt.timedelta(hours=-8)))
    tags = run_tags(load_catalog(tmp_path), scheduled_at=tick, since=tick - dt.timedelta(days=7))
    assert [d.isoformat() for d in run_days(tags, 86400)] == [f"2026-11-{d:02d}" for d in range(30, 31)] + [
        f"2026-12-{d:02d}" for d in range(1, 7)]


@pytest.mark.slow  # dagster-webserver + dagster-daemon
def test_a_launched_group_run_is_followed_like_a_scheduled_one(tmp_path, instance_yaml):
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "catalog.yaml").write_text(CATALOG)
    landing = tmp_path / "data" / "landing"
    (landing / "in").mkdir(parents=True)
    (landing / "in" / "c_20260105.csv").write_text(customer_file(3))
    (landing / "in" / "c_20260106.csv").write_text(customer_file(4))
    services = start_services_for(tmp_path, catalog, {"WORKFLOW_PLATFORM_SENSOR_INTERVAL": "2"},
                                  instance_yaml)  # SQLite, then PostgreSQL storage
    try:
        code, output = invoke("--catalog", str(catalog), "--group", "daily", "--date", "2026-01-05", "--url",
                              services.url, "--wait", "--timeout", "240")
        assert code == 0, output + services.logs()
        run_id = output.split("launched run ")[1].split()[0]
        assert f"{services.url}/runs/{run_id}" in output and f"run {run_id}: SUCCESS" in output
        build = services.run_after(run_id, timeout=120)  # the daemon's sensor courier_groups__build
        assert build["jobName"] == "build"
        assert services.wait_for_run(build["runId"], timeout=240) == "SUCCESS", services.logs()
        after = services.run_after(build["runId"], timeout=120)  # orchestration group activations, run_after daily
        assert after["jobName"] == "orchestration_group__activations"
        assert services.wait_for_run(after["runId"], timeout=240) == "SUCCESS", services.logs()
        assert (tmp_path / "data" / "exports" / "everyone.csv").read_text().count("\n") == 4  # header + 3

        code, output = invoke("--catalog", str(catalog), "--group", "daily", "--date", "2026-01-06", "--run-type",
                              "source", "--url", services.url, "--wait", "--timeout", "240")
        assert code == 0, output
        source_run = output.split("launched run ")[1].split()[0]
        time.sleep(8)  # several sensor ticks (every 2 s): no build run may follow a source run
        with pytest.raises(AssertionError):
            services.run_after(source_run, timeout=4)
    finally:
        services.stop()
