"""Alert channels as Dagster resources: Slack (dagster-slack, with a configurable API URL) and SMTP email."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import dagster as dg
from dagster_slack import SlackResource
from slack_sdk import WebClient


class SlackAlertResource(SlackResource):
    """dagster-slack's resource with the Web API's base URL configurable (a local server in tests)."""

    base_url: str = WebClient.BASE_URL

    def get_client(self) -> WebClient:
        return WebClient(token=self.token, base_url=self.base_url, timeout=10)

    def post(self, channel: str, text: str) -> None:
        """Post to a #channel; raises on a transport error or a response that is not ok."""
        response = self.get_client().chat_postMessage(channel=channel, text=text)
        if not response.get("ok"):
            raise RuntimeError(f"Slack answered {response.get('error', 'not ok')}")


class EmailAlertResource(dg.ConfigurableResource):
    """Alerts by SMTP: STARTTLS optional, login optional (password from the environment)."""

    host: str
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "workflow-platform@localhost"

    def send(self, recipients: list[str], subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, ", ".join(recipients), subject
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


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


def channels_from_environment() -> AlertChannelsResource:
    """Channels from WORKFLOW_PLATFORM_SLACK_TOKEN / _SLACK_API_URL and WORKFLOW_PLATFORM_SMTP_HOST / _SMTP_PORT /
    _SMTP_STARTTLS / _SMTP_USER / _SMTP_PASSWORD / _ALERT_SENDER; secrets stay dg.EnvVar references."""
    import os

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
