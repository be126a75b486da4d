"""Stitch on Spark (`stitch.engine: spark`): the same derived Splink model on Splink's Spark backend gives the
DuckDB engine's clusters, and stable ids behave as on DuckDB. Spark runs in `local[2]`, bound to loopback, UI off.
"""

from __future__ import annotations

import itertools
import shutil

import duckdb
import pytest

from workflow_platform.catalog.errors import CatalogInvalid
from workflow_platform.stitch.qa import last_qa, run_stitch
from workflow_platform_tests.support import Tenant
from workflow_platform_tests.test_stitch_probabilistic import DAY, ids, load_set

SPARK = "\nstitch:\n  engine: spark\n  spark:\n    master: local[2]\n    shuffle_partitions: 4\n    driver_memory: 1g\n"


def spark_available() -> bool:
    try:
        import pyspark  # noqa: F401 - only whether it is installed
    except ImportError:
        return False
    return shutil.which("java") is not None


def clusters(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(conn.execute("SELECT record_key, cluster FROM stitch.clusters").fetchall())


def pairs(assignment: dict[str, str]) -> set[tuple[str, str]]:
    """Every pair of records in one cluster."""
    groups: dict[str, list[str]] = {}
    for key, cluster in assignment.items():
        groups.setdefault(cluster, []).append(key)
    return {pair for keys in groups.values() for pair in itertools.combinations(sorted(keys), 2)}


def pairwise_f1(one: dict[str, str], other: dict[str, str]) -> float:
    a, b = pairs(one), pairs(other)
    return 1.0 if not a and not b else 2 * len(a & b) / (len(a) + len(b))


def test_pairwise_f1_compares_real_clusterings():
    assert pairwise_f1({"r1": "x", "r2": "x", "r3": "y"}, {"r1": "p", "r2": "p", "r3": "q"}) == 1.0
    assert pairwise_f1({"r1": "x", "r2": "x", "r3": "x"}, {"r1": "p", "r2": "p", "r3": "q"}) == 0.5


@pytest.mark.slow  # three Spark sessions (JVM start, Splink training on Spark) and one DuckDB run: ~100 s on 2 cores
@pytest.mark.skipif(not spark_available(), reason="needs pyspark (workflow_platform[spark]) and Java 17")
def test_spark_engine_clusters_equal_duckdbs_and_ids_are_stable(tenant: Tenant):
    _, held = load_set(tenant, 3_000, hold_back=0.01, extra=SPARK)
    assert tenant.run(DAY).success  # through the pipeline: the stitch asset runs Splink on Spark
    qa = last_qa_of(tenant)
    assert qa.model == "trained" and qa.records > 2_900 and "engine" in qa.phases
    first = ids(tenant)
    assert tenant.run(DAY).success  # unchanged input: the stored Spark model is reused, no id changes
    qa = last_qa_of(tenant)
    assert qa.model == "reused" and qa.id_churn_pct == 0.0
    assert ids(tenant) == first

    for name, lines in held.items():  # the held-back 1% arrives
        (tenant.landing / name.replace("20260105", "20260106")).write_text("".join(lines))
    assert tenant.run("2026-01-06").success
    after = ids(tenant)
    new = set(after) - set(first)
    assert new and sum(after[k] == v for k, v in first.items()) / len(first) >= 0.99
    with duckdb.connect(str(tenant.warehouse)) as conn:
        on_spark = clusters(conn)
        # a new record in a cluster with earlier records carries that cluster's (earlier) id
        joined = [k for k in new if any(on_spark[o] == on_spark[k] for o in first)]
        assert joined
        for key in joined:
            earlier = {first[o] for o in first if on_spark[o] == on_spark[key] and after[o] == first[o]}
            assert after[key] in earlier
        # the same records, the DuckDB engine (its own model, trained on the same data)
        catalog = tenant.catalog()
        duck = catalog.model_copy(update={"stitch": catalog.stitch.model_copy(update={"engine": "duckdb"})})
        duck_qa = run_stitch(conn, duck, "normal")
        on_duckdb = clusters(conn)
    assert duck_qa.model == "trained" and "engine" in duck_qa.phases
    assert set(on_duckdb) == set(on_spark)
    assert len(pairs(on_spark)) > 500  # real clusters, not singletons
    assert pairwise_f1(on_spark, on_duckdb) >= 0.999


def last_qa_of(tenant: Tenant):
    with duckdb.connect(str(tenant.warehouse), read_only=True) as conn:
        return last_qa(conn)


@pytest.mark.parametrize("spark, message", [
    ("    master: 'local[two]'", "'local[two]' is not a Spark master"),
    ("    driver_memory: lots", "driver_memory 'lots' is not a Spark memory size"),
    ("    shuffle_partitions: 0", "stitch.spark.shuffle_partitions"),
    ("    conf: {spark.ui.enabled: true}", "'spark.ui.enabled' is set by the engine"),
    ("    conf: {fs.s3a.secret.key: x}", "is not a Spark setting name"),
    ("    conf_env: {spark.hadoop.fs.s3a.secret.key: 'not a name'}", "'not a name' is not an environment variable name"),
    ("    master: spark://10.0.0.5:7077", "needs checkpoint_dir"),
    ("    executors: 4", "unknown field 'executors'"),
])
def test_the_catalog_refuses_bad_spark_settings_with_a_clear_message(tenant: Tenant, spark: str, message: str):
    load_set(tenant, 20, extra=f"\nstitch:\n  engine: spark\n  spark:\n{spark}\n")
    with pytest.raises(CatalogInvalid) as caught:
        tenant.catalog()
    assert message in str(caught.value)


def test_an_unknown_engine_is_a_catalog_error(tenant: Tenant):
    load_set(tenant, 20, extra="\nstitch:\n  engine: sparkk\n")
    with pytest.raises(CatalogInvalid) as caught:
        tenant.catalog()
    assert "stitch.engine" in str(caught.value) and "spark" in str(caught.value)
