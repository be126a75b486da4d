"""SIGKILL the run worker at seeded random points of a two-courier group's run (loads, Stitch, database builds),
then re-run: nothing lost, nothing doubled, no table ever half-written (see fault_injection.py)."""

import json

import pytest

from workflow_platform_tests.fault_injection import Harness

pytestmark = pytest.mark.slow  # fault injection: 20 killed runs and their re-runs

KILLS = 20


def test_killing_the_run_worker_at_random_points_loses_and_doubles_nothing(tmp_path):
    harness = Harness(tmp_path, rows_per_file=50, seed=20261130)
    try:
        report = harness.run(KILLS)
    finally:
        harness.close()
    summary = report.summary()
    print(json.dumps(summary, indent=2))
    assert report.killed >= KILLS, summary
    assert len({t.step for t in report.trials if t.killed} - {"(before the run was created)"}) >= 4, summary
    assert report.source_rows == (3 + 2) * 50 * (len(report.trials) + 1)
    assert report.lost == 0 and report.duplicated == 0, summary
    assert report.loaded_rows == report.source_rows
    assert report.files_loaded_twice == []
    assert [t for t in report.trials if t.torn or t.disagreements] == []
