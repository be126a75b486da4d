"""Where Splink runs: the step's in-memory DuckDB (`stitch.engine: duckdb`) or Spark (`stitch.engine: spark`).

The resolver (stitch/probabilistic.py) prepares the records, and clusters the scored pairs, in its scratch DuckDB
either way; an engine only swaps what must differ: Splink's database API, where the prepared records go for
Splink, how a Splink table is counted, and how the scored pairs come back. On Spark, the records are copied to
Spark once (Arrow), Splink's blocking, training and scoring run there, and only the pairs above the lowest level
come back: the work that grows with the square of a block stays on the executors.

pyspark and splink are imported inside the functions that use them: pyspark is an optional dependency
(`pip install workflow_platform[spark]`), and both are slow to import for a code location that never runs them.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from workflow_platform.catalog.models import StitchSettings
from workflow_platform.catalog.warehouse_models import SparkSettings
from workflow_platform.storage import secret

PAIRS_SQL = "SELECT unique_id_l AS a, unique_id_r AS b, match_probability AS p FROM {table}"


class EngineUnavailable(RuntimeError):
    """The configured engine cannot start here (a missing package or Java): the message says what to install."""


def _arrow(conn: duckdb.DuckDBPyConnection, sql: str):
    with warnings.catch_warnings():  # DuckDB warns about the extra copy to Arrow
        warnings.simplefilter("ignore", UserWarning)
        return conn.execute(sql).to_arrow_table()


class DuckDBEngine:
    """Splink on the scratch DuckDB itself: no copy of the records."""

    dialect = "duckdb"

    def __init__(self, mem: duckdb.DuckDBPyConnection):
        self.mem = mem

    def frame(self, table: str):
        from splink import DuckDBAPI  # deferred: ~0.6 s (stitch/probabilistic.py)

        db_api = DuckDBAPI(connection=self.mem.cursor())  # its own connection: Splink reads results with .sql()
        return db_api.register(table, table_name="records")

    def count(self, table: str) -> int:
        return self.mem.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def pairs(self, table: str, out: str) -> None:
        self.mem.execute(f"CREATE OR REPLACE TABLE {out} AS {PAIRS_SQL.format(table=table)}")


class SparkEngine:
    """Splink's Spark backend over a copy of the prepared records."""

    dialect = "spark"

    def __init__(self, mem: duckdb.DuckDBPyConnection, spark: Any, settings: SparkSettings, folder: str | None):
        self.mem, self.spark, self.settings, self.folder = mem, spark, settings, folder

    def frame(self, table: str):
        from splink import SparkAPI  # deferred: optional dependency

        records = _arrow(self.mem, f"SELECT * FROM {table}")
        if self.folder:  # a local master: Parquet files Spark reads, not a copy in the JVM's heap
            import pyarrow.parquet as pq  # deferred: only this engine needs it

            path = os.path.join(self.folder, "records.parquet")
            pq.write_table(records, path)
            frame = self.spark.read.parquet(path)
        else:  # a cluster: shipped once, then held by the executors (a local relation is re-read by every query)
            frame = self.spark.createDataFrame(records).repartition(self.settings.shuffle_partitions) \
                .localCheckpoint(eager=True)
        del records
        db_api = SparkAPI(spark_session=self.spark, num_partitions_on_repartition=self.settings.shuffle_partitions,
                          break_lineage_method=self.settings.break_lineage)
        return db_api.register(frame, table_name="records")

    def count(self, table: str) -> int:
        return self.spark.table(table).count()

    def pairs(self, table: str, out: str) -> None:
        scored = self.spark.sql(PAIRS_SQL.format(table=table)).toArrow()
        with self.mem.cursor() as cursor:  # its own connection: the resolver's may hold an unfinished result
            cursor.register("wp_spark_pairs", scored)
            cursor.execute(f"CREATE OR REPLACE TABLE {out} AS SELECT * FROM wp_spark_pairs")
            cursor.unregister("wp_spark_pairs")


Engine = DuckDBEngine | SparkEngine


@contextmanager
def engine(settings: StitchSettings, mem: duckdb.DuckDBPyConnection) -> Iterator[Engine]:
    """The engine of `stitch.engine`; a Spark session lives as long as this block."""
    if settings.engine == "duckdb":
        yield DuckDBEngine(mem)
        return
    local = settings.spark.master.startswith("local")
    with spark_session(settings.spark) as spark, tempfile.TemporaryDirectory(prefix="wp-stitch-records-") as folder:
        yield SparkEngine(mem, spark, settings.spark, folder if local else None)


def java_missing() -> bool:
    home = os.environ.get("JAVA_HOME")
    return not (home and os.path.exists(os.path.join(home, "bin", "java"))) and shutil.which("java") is None


def spark_conf(settings: SparkSettings, checkpoint_dir: str, jar: str) -> dict[str, str]:
    """The session's Spark settings: the catalog's, then the ones the engine owns."""
    conf = {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in settings.conf.items()}
    conf.update({key: secret(env, f"stitch.spark.conf_env {key}") for key, env in settings.conf_env.items()})
    conf.update({
        "spark.master": settings.master,
        "spark.app.name": "workflow_platform stitch",
        "spark.driver.memory": settings.driver_memory,
        "spark.executor.memory": settings.executor_memory,
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.default.parallelism": str(settings.shuffle_partitions),
        "spark.jars": jar,  # Splink's similarity UDFs (jaro_winkler, damerau_levenshtein...): SparkAPI registers them
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.checkpoint.dir": checkpoint_dir,
    })
    if settings.master.startswith("local"):  # a local JVM: nothing listens beyond loopback
        conf.update({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"})
        # its Python workers: this interpreter (with pyarrow), not whichever python3 is first on PATH
        conf.setdefault("spark.pyspark.python", sys.executable)
    return conf


@contextmanager
def spark_session(settings: SparkSettings) -> Iterator[Any]:
    """A Spark session for one Stitch run, stopped (and its local JVM ended) afterwards."""
    try:
        from py4j.protocol import Py4JError
        from pyspark import SparkContext
        from pyspark.errors import PySparkException
        from pyspark.sql import SparkSession
        from splink.backends.spark import similarity_jar_location
    except ImportError:
        raise EngineUnavailable("stitch.engine is spark but pyspark is not installed: "
                                "pip install 'workflow_platform[spark]' (and Java 17)") from None
    if java_missing():
        raise EngineUnavailable("stitch.engine is spark but no Java runtime was found (java on PATH or JAVA_HOME): "
                                "install Java 17, e.g. the openjdk-17-jre-headless package") from None
    local = tempfile.mkdtemp(prefix="wp-stitch-spark-")
    checkpoint_dir = settings.checkpoint_dir or local
    builder = SparkSession.builder
    for key, value in spark_conf(settings, checkpoint_dir, similarity_jar_location()).items():
        builder = builder.config(key, value)
    try:
        try:
            with _local_ip(settings.master):
                spark = builder.getOrCreate()
        except (PySparkException, Py4JError, OSError) as exc:  # the JVM did not start: what, without a Java stack
            raise EngineUnavailable(f"the Spark session did not start ({type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0][:200]}); check stitch.spark and Java 17") from None
        spark.sparkContext.setLogLevel("ERROR")
        spark.sparkContext.setCheckpointDir(checkpoint_dir)  # Splink's Spark clustering and lineage breaks need it
        try:
            yield spark
        finally:
            spark.stop()
            _end_gateway(SparkContext)
    finally:
        shutil.rmtree(local, ignore_errors=True)


@contextmanager
def _local_ip(master: str) -> Iterator[None]:
    """A local JVM started inside: bound to loopback (SPARK_LOCAL_IP; spark.driver.bindAddress alone leaves
    Spark picking the host's address for its other services)."""
    before = os.environ.get("SPARK_LOCAL_IP")
    if master.startswith("local"):
        os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SPARK_LOCAL_IP", None)
        else:
            os.environ["SPARK_LOCAL_IP"] = before


def _end_gateway(context: Any) -> None:
    """End the JVM pyspark started for this process (spark.stop() leaves it running, holding its memory)."""
    gateway = context._gateway
    if gateway is None:
        return
    proc = getattr(gateway, "proc", None)
    try:
        gateway.shutdown()
    finally:
        if proc is not None:
            proc.stdin.close()  # the JVM's gateway ends when its stdin closes
            try:
                proc.wait(timeout=30)
            except Exception:  # noqa: BLE001 - a JVM that does not end on its own is killed
                proc.kill()
        context._gateway = None
        context._jvm = None
