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
    assert len({t.step for t in report.trials if t.killed} - {"(before the run was created)"}) >= 4, summary
    report.assert_nothing_lost_or_doubled(KILLS)
