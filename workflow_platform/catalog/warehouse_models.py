"""Catalog sections built in the warehouse: Stitch (identity resolution), databases and segments."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from workflow_platform.catalog.fields import Identifier, Model

# --------------------------------------------------------------------------- stitch

# Spark conf keys the engine sets itself (the loopback binding, the UI, the similarity jar, the checkpoints)
SPARK_MANAGED_CONF = frozenset({"spark.master", "spark.driver.host", "spark.driver.bindAddress", "spark.ui.enabled",
                                "spark.jars", "spark.driver.memory", "spark.executor.memory",
                                "spark.sql.shuffle.partitions", "spark.checkpoint.dir"})
SPARK_MEMORY = re.compile(r"[1-9][0-9]{0,6}[kmgt]", re.IGNORECASE)
SPARK_MASTER = re.compile(r"local(\[([1-9][0-9]{0,3}|\*)\])?|(spark|k8s)://\S+|yarn")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


class SparkSettings(Model):
    """Where and with what `stitch.engine: spark` runs Splink (docs/catalog.md, "Stitch on Spark")."""

    master: str = Field("local[2]", description="the Spark master: local[N] (a JVM beside the step, on loopback), "
                                                "spark://host:port, k8s://..., yarn")
    driver_memory: str = Field("2g", description="spark.driver.memory: a number and k, m, g or t (2g)")
    executor_memory: str = Field("2g", description="spark.executor.memory: a number and k, m, g or t (4g)")
    shuffle_partitions: int = Field(8, ge=1, le=100_000, description="spark.sql.shuffle.partitions")
    checkpoint_dir: str | None = Field(
        None, description="where Splink writes its intermediate tables (a folder every executor can reach: hdfs://, "
                          "s3a://...); none: a temporary folder of the run, removed after it (local masters only)")
    break_lineage: Literal["persist", "parquet", "checkpoint"] = Field(
        "persist", description="how Splink cuts the lineage of its intermediate tables: persist (cached by the "
                               "executors, spilling to their disks), parquet (written to checkpoint_dir), checkpoint")
    conf: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="further Spark settings, e.g. spark.executor.cores: 4")
    conf_env: dict[str, str] = Field(
        default_factory=dict, description="Spark setting -> environment variable holding its value (secrets: "
                                          "read when the run starts, never stored in the catalog)")

    @model_validator(mode="after")
    def _check(self) -> SparkSettings:
        if not SPARK_MASTER.fullmatch(self.master):
            raise ValueError(f"master {self.master!r} is not a Spark master: local[N], local[*], spark://host:port, "
                             "k8s://... or yarn")
        for name in ("driver_memory", "executor_memory"):
            if not SPARK_MEMORY.fullmatch(getattr(self, name)):
                raise ValueError(f"{name} {getattr(self, name)!r} is not a Spark memory size: a number and k, m, g "
                                 "or t (2g, 512m)")
        for key in [*self.conf, *self.conf_env]:
            if not re.fullmatch(r"spark\.[A-Za-z0-9_.\-]+", key):
                raise ValueError(f"{key!r} is not a Spark setting name (spark.xxx)")
            if key in SPARK_MANAGED_CONF:
                raise ValueError(f"{key!r} is set by the engine: use master, driver_memory, executor_memory, "
                                 "shuffle_partitions or checkpoint_dir")
        for key, env in self.conf_env.items():
            if not ENV_NAME.fullmatch(env):
                raise ValueError(f"conf_env {key}: {env!r} is not an environment variable name: letters, digits and "
                                 "_ (not starting with a digit)")
        both = set(self.conf) & set(self.conf_env)
        if both:
            raise ValueError(f"{', '.join(sorted(both))}: in both conf and conf_env")
        if self.checkpoint_dir is None and not self.master.startswith("local"):
            raise ValueError(f"master {self.master!r} needs checkpoint_dir: a folder every executor can reach")
        return self


class StitchSettings(Model):
    """Identity resolution settings. The deterministic rules link records outright."""

    email_blocklist: list[str] = Field(
        default_factory=lambda: [
            "test@", "noemail@", "none@", "no@", "na@", "null@", "fake@", "example@", "@example.com",
            "@test.com", "noreply@", "donotreply@",
        ],
        description="an email that starts with (x@) or ends with (@x) an entry is treated as missing",
    )
    phone_blocklist: list[str] = Field(
        default_factory=lambda: ["1234567890", "0123456789", "5555555555"],
        description="10-digit phones treated as missing (all-same-digit phones always are)",
    )
    rules: list[Literal["email", "phone_surname", "name_birthdate", "foreign_key"]] = Field(
        default_factory=lambda: ["email", "phone_surname", "name_birthdate", "foreign_key"],
        description="exact rules: the probabilistic resolver links on `email` and `foreign_key` outright; the "
        "deterministic resolver uses them all",
    )
    resolver: Literal["probabilistic", "deterministic"] = Field(
        "probabilistic", description="probabilistic: Splink model from the semantic tags; deterministic: exact rules")
    match_threshold: Literal["excellent", "high", "moderate", "weak"] = Field(
        "moderate", description="pairs scored at or below this level are not linked (default: link high and better)")
    mode: Literal["normal", "force_refresh", "incremental"] = Field(
        "normal", description="normal: reuse the trained model, re-cluster everything; force_refresh: retrain too; "
        "incremental: only attach new records (never split or merge)")
    blocking_rules: list[str] | None = Field(
        None, description="replace the derived blocking rules: Splink SQL conditions over l. and r.")
    comparisons: list[dict[str, Any]] | None = Field(
        None, description="replace the derived comparisons: Splink comparison dictionaries")
    name_blocklist: list[str] = Field(
        default_factory=lambda: ["TEST", "UNKNOWN", "CUSTOMER", "GUEST", "NONE", "NA", "NULL", "ANONYMOUS", "XXX"],
        description="given names or surnames treated as missing when matching")
    max_records_per_value: int = Field(
        50, ge=2, description="an email or phone held by more records than this is junk: it never drives a match")
    max_names_per_value: int = Field(
        5, ge=1, description="an email or phone held by more differently named people than this is junk too")
    max_cluster_size: int = Field(
        500, ge=2, description="clusters above this are re-clustered on their strongest links, and alert")
    churn_warning_pct: float = Field(2.0, ge=0, description="alert when more records than this changed customer id")
    engine: Literal["duckdb", "spark"] = Field(
        "duckdb", description="where the probabilistic model runs: duckdb (in the step's process) or spark (Splink's "
                              "Spark backend, `stitch.spark`; needs workflow_platform[spark] and Java 17)")
    spark: SparkSettings = Field(default_factory=SparkSettings, description="the Spark session of engine spark")

    class MatchColumn(Model):
        """An extra match column whose feed columns are named differently per feed."""

        kind: Literal["exact", "typo", "fuzzy"]
        columns: dict[Identifier, Identifier] = Field(
            default_factory=dict, description="feed -> its column; feeds not listed use a column of the match name")

    identifiers: dict[Annotated[str, StringConstraints(pattern=r"^fk-[a-z][a-z0-9_]*$")],
                      Literal["link", "evidence"]] = Field(
        default_factory=dict,
        description="how far a shared fk-<namespace> value is trusted: link (links outright) or evidence (a strong "
        "comparison that contradicting names and birthdates can outweigh); unlisted namespaces: link")
    match_columns: dict[Identifier, Literal["exact", "typo", "fuzzy"] | StitchSettings.MatchColumn] = Field(
        default_factory=dict,
        description="extra columns of the Stitch feeds compared by the model (e.g. street_number: typo): exact; "
        "typo (exact, one edit or transposition); fuzzy (exact, Jaro-Winkler >= 0.92, >= 0.8)")


# --------------------------------------------------------------------------- databases and segments


ColumnCheck = Literal["db/required", "db/unique"]


class DatabaseTable(Model):
    name: Identifier
    sql: str
    description: str = ""
    columns: dict[Identifier, list[ColumnCheck]] = Field(
        default_factory=dict, description="column -> db/required (no NULL) and/or db/unique (no repeated value): "
                                          "warning asset checks after each build")


class Database(Model):
    """A schema of tables. A `customer_360` database gets unified_coalesced, merged_customers and
    customer_360 built from Stitch, plus its custom SQL tables."""

    name: Identifier
    type: Literal["customer_360", "empty"] = "customer_360"
    description: str = ""
    tables: list[DatabaseTable] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_tables(self) -> Database:
        names = [t.name for t in self.tables]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate table names: {', '.join(dupes)}")
        return self


class RowThresholds(Model):
    min_rows: int | None = Field(None, ge=0)
    max_rows: int | None = Field(None, ge=0)


class Segment(Model):
    """A SQL SELECT over database tables (a query or an audience), materialized as `segment.<name>`."""

    name: Identifier
    sql: str
    description: str = ""
    warn_when: RowThresholds | None = None
    fail_when: RowThresholds | None = None
