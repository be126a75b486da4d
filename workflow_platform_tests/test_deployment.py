"""deploy/: the production instance (PostgreSQL storage) and the files that deploy the platform's processes.
The daemon tests run on both instances (conftest's `instance_yaml`); these check the files and a run on
PostgreSQL storage in this process."""

from __future__ import annotations

import dagster as dg
import yaml

from workflow_platform.catalog.loader import load_catalog
from workflow_platform.definitions import build_definitions
from workflow_platform.resources import WAREHOUSE_POOL
from workflow_platform_tests.support import (
    CUSTOMER_SOURCE,
    LOCAL_INSTANCE,
    PRODUCTION_INSTANCE,
    REPO,
    customer_file,
    instance_home,
    run_courier_group,
)

DEPLOY = REPO / "deploy"


def env_names(config: object) -> set[str]:
    """The environment variables a Dagster config reads ({env: NAME})."""
    if isinstance(config, dict):
        if set(config) == {"env"}:
            return {config["env"]}
        return set().union(*(env_names(value) for value in config.values()))
    if isinstance(config, list):
        return set().union(*(env_names(value) for value in config))
    return set()


def test_the_production_instance_differs_from_the_local_one_only_in_its_storage():
    local, production = (yaml.safe_load(path.read_text()) for path in (LOCAL_INSTANCE, PRODUCTION_INSTANCE))
    assert "storage" not in local
    storage = production.pop("storage")
    assert production == local  # pools, run queue, monitoring, retries: one behaviour on both
    assert storage["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"  # not psycopg 3 (not installed)
    assert env_names(storage) == {f"DAGSTER_PG_{n}" for n in ("HOST", "PORT", "DB", "USERNAME", "PASSWORD")}


def test_the_compose_file_gives_every_process_the_instance_and_only_the_code_server_the_data():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())["services"]
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"][0]["grpc_server"]
    needed = env_names(yaml.safe_load(PRODUCTION_INSTANCE.read_text()))
    for name in ("code", "webserver", "daemon"):
        assert needed <= set(compose[name]["environment"]), name
    code = compose["code"]["command"]
    assert workspace["host"] == "code" and str(workspace["port"]) == code[code.index("-p") + 1]
    assert workspace["location_name"] == code[code.index("--location-name") + 1]
    assert [n for n, s in compose.items() if "tenant:/tenant" in s.get("volumes", [])] == ["code"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "COPY deploy/workspace.yaml /opt/dagster/workspace.yaml" in dockerfile
    for name in ("webserver", "daemon"):
        command = compose[name]["command"]
        assert command[command.index("-w") + 1] == "/opt/dagster/workspace.yaml"


def test_a_courier_group_and_its_build_run_on_postgresql_storage(tmp_path, monkeypatch, postgres_server):
    database = postgres_server.create_database()
    for name, value in {"HOST": postgres_server.host, "PORT": str(postgres_server.port), "DB": database,
                        "USERNAME": postgres_server.user, "PASSWORD": ""}.items():
        monkeypatch.setenv(f"DAGSTER_PG_{name}", value)
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "catalog.yaml").write_text(CUSTOMER_SOURCE)
    (tmp_path / "landing" / "in").mkdir(parents=True)
    (tmp_path / "landing" / "in" / "c_20261201.csv").write_text(customer_file(3))
    monkeypatch.setenv("WORKFLOW_PLATFORM_DATA", str(tmp_path))
    defs = build_definitions(load_catalog(tmp_path / "catalog"), str(tmp_path / "warehouse.duckdb"))
    home = instance_home(tmp_path / "home", PRODUCTION_INSTANCE)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        runs = run_courier_group(defs, instance, "2026-12-01")
        assert runs.load.success and runs.build and runs.build.success
        assert instance.get_latest_materialization_event(dg.AssetKey(["domain", "customers"])) is not None
        assert instance.event_log_storage.get_pool_limits()[0].name == WAREHOUSE_POOL  # the steps took its slot
    connection = postgres_server.connect(database)
    try:
        with connection.cursor() as cursor:  # what the instance stored is in PostgreSQL, not in a local file
            cursor.execute("SELECT pipeline_name, status FROM runs ORDER BY create_timestamp")
            assert cursor.fetchall() == [("courier_group__daily", "SUCCESS"), ("build", "SUCCESS")]
    finally:
        connection.close()
    assert not list(home.rglob("*.db"))
