"""The alert channels resource: which channels are configured (Slack, SMTP email; secrets as dg.EnvVar), and
`send` / `send_all`, the one way the platform's steps and sensors deliver an alert."""

from __future__ import annotations

import logging
import os

import dagster as dg
from slack_sdk import WebClient

from workflow_platform.alerts.channels import EmailAlertResource, SlackAlertResource
from workflow_platform.alerts.dispatch import Delivery, deliver, deliver_all
from workflow_platform.alerts.model import Alert
from workflow_platform.catalog.models import Alerts

Log = logging.Logger | logging.LoggerAdapter


class AlertChannelsResource(dg.ConfigurableResource):
    """The configured alert channels. A channel whose settings are absent is off; with none, alerts go to the log.

    Secrets come from the environment (dg.EnvVar): see `channels_from_environment`."""

    slack_token: str | None = None
    slack_api_url: str = WebClient.BASE_URL
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    email_sender: str = "workflow-platform@localhost"

    def slack(self) -> SlackAlertResource | None:
        return SlackAlertResource(token=self.slack_token, base_url=self.slack_api_url) if self.slack_token else None

    def email(self) -> EmailAlertResource | None:
        if not self.smtp_host:
            return None
        return EmailAlertResource(host=self.smtp_host, port=self.smtp_port, starttls=self.smtp_starttls,
                                  username=self.smtp_username, password=self.smtp_password, sender=self.email_sender)

    def send(self, alert: Alert, settings: Alerts, log: Log) -> list[Delivery]:
        """Deliver one alert to its group's recipients, within the delivery budget (a step's or a run sensor's
        alert); a channel that fails is reported on the others."""
        return deliver(alert, settings, self.slack(), self.email(), log)

    def send_all(self, alerts: list[Alert], outbox: list[dict], settings: Alerts, log: Log) -> list[dict]:
        """A sensor's alerts and its outbox, within the sensor's budget; returns the new outbox for its cursor."""
        return deliver_all(alerts, outbox, settings, self.slack(), self.email(), log)


def channels_from_environment() -> AlertChannelsResource:
    """Channels from WORKFLOW_PLATFORM_SLACK_TOKEN / _SLACK_API_URL and WORKFLOW_PLATFORM_SMTP_HOST / _SMTP_PORT /
    _SMTP_STARTTLS / _SMTP_USER / _SMTP_PASSWORD / _ALERT_SENDER; secrets stay dg.EnvVar references."""
    env = os.environ

    def secret(name: str):
        return dg.EnvVar(name) if env.get(name) else None

    settings = {
        "slack_token": secret("WORKFLOW_PLATFORM_SLACK_TOKEN"),
        "smtp_host": env.get("WORKFLOW_PLATFORM_SMTP_HOST") or None,
        "smtp_port": _port(env.get("WORKFLOW_PLATFORM_SMTP_PORT") or "25"),
        "smtp_starttls": env.get("WORKFLOW_PLATFORM_SMTP_STARTTLS", "").lower() in ("1", "true", "yes"),
        "smtp_username": env.get("WORKFLOW_PLATFORM_SMTP_USER") or None,
        "smtp_password": secret("WORKFLOW_PLATFORM_SMTP_PASSWORD"),
    }
    if env.get("WORKFLOW_PLATFORM_SLACK_API_URL"):
        settings["slack_api_url"] = env["WORKFLOW_PLATFORM_SLACK_API_URL"]
    if env.get("WORKFLOW_PLATFORM_ALERT_SENDER"):
        settings["email_sender"] = env["WORKFLOW_PLATFORM_ALERT_SENDER"]
    return AlertChannelsResource(**settings)


def _port(value: str) -> int:
    if not value.strip().isdigit():
        raise ValueError(f"WORKFLOW_PLATFORM_SMTP_PORT must be a port number, got {value!r}")
    return int(value)
