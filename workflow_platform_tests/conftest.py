"""Shared fixtures: a tenant in a temporary folder (catalog, landing files, warehouse) run for real, an SMTP server,
and the loopback servers of servers.py. Helpers that are not fixtures live in support.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

# real servers on loopback: S3 (moto in server mode), SFTP (asyncssh), a scripted webhook endpoint, Slack's Web API
from workflow_platform_tests.servers import s3_server, sftp_server, slack, webhook_server  # noqa: F401
from workflow_platform_tests.support import Inbox, Tenant, free_port


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
