"""Stitch on Spark (`stitch.engine: spark`): the same derived Splink model on Splink's Spark backend gives the
DuckDB engine's clusters, and stable ids behave as on DuckDB. Spark runs in `local[2]`, bound to loopback, UI off.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys

import duckdb
import pytest

from workflow_platform.catalog.errors import CatalogInvalid
from workflow_platform.catalog.warehouse_models import SparkSettings
from workflow_platform.stitch.engines import EngineUnavailable, spark_conf, spark_session
from workflow_platform.stitch.model import U_PAIRS
from workflow_platform.stitch.qa import last_qa, run_stitch
from workflow_platform.storage import MissingSecret
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


@pytest.mark.slow  # two Spark sessions (a JVM each; Splink trains once on Spark) and one DuckDB run
@pytest.mark.skipif(not spark_available() and not os.environ.get("CI"),
                    reason="needs pyspark (workflow_platform[spark]) and Java 17; CI installs both")
def test_spark_engine_clusters_equal_duckdbs_and_ids_are_stable(tenant: Tenant):
    # under 2,000 records u is estimated from every pair (model.U_PAIRS), not from a random sample that differs
    # between the engines: both train the same model on the same records, and any difference is the engine's
    _, held = load_set(tenant, 1_950, hold_back=0.01, extra=SPARK)
    assert tenant.run(DAY).success  # through the pipeline: the stitch asset runs Splink on Spark
    qa = last_qa_of(tenant)
    assert qa.model == "trained" and qa.records > 1_900 and "engine" in qa.phases
    assert qa.records * (qa.records - 1) / 2 <= U_PAIRS
    with duckdb.connect(str(tenant.warehouse)) as conn:
        on_spark, spark_ids = clusters(conn), customer_ids(conn)
        catalog = tenant.catalog()
        duck = catalog.model_copy(update={"stitch": catalog.stitch.model_copy(update={"engine": "duckdb"})})
        duck_qa = run_stitch(conn, duck, "normal")  # the DuckDB engine on the same records: its own model
        on_duckdb, duck_ids = clusters(conn), customer_ids(conn)
        lambdas = [json.loads(m)["probability_two_random_records_match"]
                   for m, in conn.execute("SELECT model_json FROM stitch.model ORDER BY trained_at").fetchall()]
    assert duck_qa.model == "trained" and len(lambdas) == 2 and lambdas[0] == pytest.approx(lambdas[1], rel=0.01)
    assert set(on_duckdb) == set(on_spark)
    assert len(pairs(on_spark)) > 300  # real clusters, not singletons
    assert pairwise_f1(on_spark, on_duckdb) >= 0.999
    # switching the engine keeps the ids of the clusters both engines agree on
    assert sum(duck_ids[k] == v for k, v in spark_ids.items()) / len(spark_ids) >= 0.99

    for name, lines in held.items():  # the held-back 1% arrives; back on Spark
        (tenant.landing / name.replace("20260105", "20260106")).write_text("".join(lines))
    assert tenant.run("2026-01-06").success
    assert last_qa_of(tenant).model == "reused"  # the model Spark trained and stored, reused on Spark
    after = ids(tenant)
    new = set(after) - set(duck_ids)
    assert new and sum(after[k] == v for k, v in duck_ids.items()) / len(duck_ids) >= 0.99  # ids survive
    with duckdb.connect(str(tenant.warehouse), read_only=True) as conn:
        now = clusters(conn)
    # a new record in a cluster of earlier records carries that cluster's earlier id
    joined = [k for k in new if any(now[o] == now[k] for o in duck_ids)]
    assert joined
    for key in joined:
        assert after[key] in {duck_ids[o] for o in duck_ids if now[o] == now[key]}


def customer_ids(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(conn.execute("SELECT record_key, customer_id FROM stitch.customer_ids").fetchall())


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


def test_without_java_the_spark_engine_fails_the_step_saying_what_to_install(tenant: Tenant, monkeypatch):
    load_set(tenant, 200, extra=SPARK)
    monkeypatch.setenv("PATH", str(tenant.root / "no-java-here"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    outcome = tenant.run(DAY)
    assert not outcome.success
    failure = " ".join(outcome.failures)
    assert "stitch.engine is spark" in failure and ("Java 17" in failure or "workflow_platform[spark]" in failure)
    assert "Traceback" not in failure


def test_without_pyspark_the_spark_engine_says_pip_install_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark fails as when it is not installed
    with pytest.raises(EngineUnavailable, match=r"pip install 'workflow_platform\[spark\]'"), \
            spark_session(SparkSettings()):
        pass


def test_the_session_settings_bind_loopback_turn_the_ui_off_and_read_secrets_from_the_environment(monkeypatch):
    monkeypatch.setenv("WP_TEST_S3_SECRET", "s3cr3t")
    settings = SparkSettings(shuffle_partitions=3, conf={"spark.executor.cores": 2},
                             conf_env={"spark.hadoop.fs.s3a.secret.key": "WP_TEST_S3_SECRET"})
    conf = spark_conf(settings, "/tmp/checkpoints", "/x/similarity.jar")
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.ui.enabled"] == "false" and conf["spark.sql.shuffle.partitions"] == "3"
    assert conf["spark.jars"] == "/x/similarity.jar" and conf["spark.executor.cores"] == "2"
    assert conf["spark.hadoop.fs.s3a.secret.key"] == "s3cr3t"
    assert conf["spark.pyspark.python"] == sys.executable  # a local JVM's Python workers: this interpreter
    monkeypatch.delenv("WP_TEST_S3_SECRET")
    with pytest.raises(MissingSecret, match="WP_TEST_S3_SECRET is not set"):
        spark_conf(settings, "/tmp/checkpoints", "/x/similarity.jar")
