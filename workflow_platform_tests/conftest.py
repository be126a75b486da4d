"""Shared fixtures: a tenant in a temporary folder (catalog, landing files, warehouse) run for real, an SMTP server,
and the loopback servers of servers.py. Helpers that are not fixtures live in support.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from workflow_platform.settings import data_dir

# real servers on loopback: S3 (moto in server mode), SFTP (asyncssh), a scripted webhook endpoint, Slack's Web API
from workflow_platform_tests.servers import (  # noqa: F401
    postgres_server,
    s3_server,
    sftp_server,
    slack,
    webhook_server,
)
from workflow_platform_tests.support import LOCAL_INSTANCE, PRODUCTION_INSTANCE, Inbox, Tenant, free_port

# what the operator of the test environment allows (the platform refuses anything else, issue #23): the loopback
# addresses the test servers listen on, and remote prefixes the tests' catalogs name (the loopback SFTP servers on
# any port, placeholder buckets)
TEST_HOSTS = "127.0.0.1,localhost,::1"
TEST_REMOTE_ROOTS = ("sftp://127.0.0.1", "sftp://localhost", "s3://bucket", "s3://no-such-bucket-typo")


@pytest.fixture(scope="session", autouse=True)
def _test_operator(tmp_path_factory: pytest.TempPathFactory):
    """WORKFLOW_PLATFORM_ALLOWED_HOSTS and WORKFLOW_PLATFORM_ALLOWED_ROOTS as an operator of the tests sets them:
    loopback hosts; this session's temporary folders (every tenant's data folder and the folders tests write to),
    the default data folder and TEST_REMOTE_ROOTS. Session-wide, in os.environ, so subprocesses such as the daemon
    and the CLI inherit them; tests of the refusals themselves change them with monkeypatch."""
    roots = [str(tmp_path_factory.getbasetemp()), str(data_dir()), *TEST_REMOTE_ROOTS]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKFLOW_PLATFORM_ALLOWED_HOSTS", TEST_HOSTS)
        patch.setenv("WORKFLOW_PLATFORM_ALLOWED_ROOTS", ",".join(roots))
        yield


@pytest.fixture(autouse=True)
def _test_bucket_root(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test with the S3 server (a fresh bucket each time) may use its bucket."""
    if "s3_server" in request.fixturenames:
        bucket = request.getfixturevalue("s3_server").url().rstrip("/")
        monkeypatch.setenv("WORKFLOW_PLATFORM_ALLOWED_ROOTS",
                           f"{os.environ['WORKFLOW_PLATFORM_ALLOWED_ROOTS']},{bucket}")


@pytest.fixture
def tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tenant:
    monkeypatch.setenv("WORKFLOW_PLATFORM_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("WORKFLOW_PLATFORM_WAREHOUSE", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return Tenant(tmp_path)


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on loopback: an Inbox with its `port`."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def instance_yaml(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The dagster.yaml of a test's Dagster instance, once per storage: the local one (SQLite, as `make run`) and
    the production one (deploy/dagster.yaml) on a fresh database of the loopback PostgreSQL server, whose
    connection goes in DAGSTER_PG_* for this process and the services it starts."""
    if request.param == "sqlite":
        return LOCAL_INSTANCE
    server = request.getfixturevalue("postgres_server")
    for name, value in {"HOST": server.host, "PORT": str(server.port), "DB": server.create_database(),
                        "USERNAME": server.user, "PASSWORD": ""}.items():
        monkeypatch.setenv(f"DAGSTER_PG_{name}", value)
    return PRODUCTION_INSTANCE
