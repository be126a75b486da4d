"""Alert channels as Dagster resources: Slack (dagster-slack, with a configurable API URL) and SMTP email.

Every send takes a timeout (the caller's remaining delivery budget) and raises `PermanentDeliveryError` for
what no retry can fix (an unknown Slack channel, a revoked token, refused recipients)."""

from __future__ import annotations

import email.policy
import smtplib
from email.message import EmailMessage

import dagster as dg
from dagster_slack import SlackResource
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

# Slack Web API errors that a retry cannot fix (the others, such as ratelimited or internal_error, are retried)
PERMANENT_SLACK_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
    "token_revoked", "token_expired", "no_permission", "missing_scope", "restricted_action", "msg_too_long",
    "invalid_arguments", "team_access_not_granted", "access_denied", "invalid_blocks", "no_text"})
# one header line per subject (RFC 5322 allows 998 characters): folded subjects show a stray leading space
EMAIL_POLICY = email.policy.SMTP.clone(max_line_length=998)


class PermanentDeliveryError(Exception):
    """A channel refused the alert for a reason a retry cannot fix."""


class SlackAlertResource(SlackResource):
    """dagster-slack's resource with the Web API's base URL configurable (a local server in tests)."""

    base_url: str = WebClient.BASE_URL

    def get_client(self, timeout: float = 10) -> WebClient:
        return WebClient(token=self.token, base_url=self.base_url, timeout=max(1, int(timeout)))

    def post(self, channel: str, text: str, timeout: float = 10) -> None:
        """Post to a #channel; raises on a transport error or a response that is not ok (permanent errors as
        PermanentDeliveryError)."""
        try:
            response = self.get_client(timeout).chat_postMessage(channel=channel, text=text)
        except SlackApiError as exc:  # the SDK raises on ok: false
            response = exc.response
        if not response.get("ok"):
            error = response.get("error", "not ok")
            kind = PermanentDeliveryError if error in PERMANENT_SLACK_ERRORS else RuntimeError
            raise kind(f"Slack answered {error}")


class EmailAlertResource(dg.ConfigurableResource):
    """Alerts by SMTP: STARTTLS optional, login optional (password from the environment)."""

    host: str
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "workflow-platform@localhost"

    def send(self, recipients: list[str], subject: str, body: str, timeout: float = 10) -> None:
        message = EmailMessage(policy=EMAIL_POLICY)
        message["From"], message["To"], message["Subject"] = self.sender, ", ".join(recipients), subject
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=max(1.0, timeout)) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise PermanentDeliveryError(f"the mail server refused: {type(exc).__name__}") from exc
