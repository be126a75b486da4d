"""Deliver an alert to its recipients on every configured channel, with retries; never fail silently."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from workflow_platform.alerts.channels import EmailAlertResource, SlackAlertResource
from workflow_platform.alerts.model import Alert
from workflow_platform.catalog.models import Alerts

LOG = logging.getLogger("workflow_platform.alerts")


@dataclass(frozen=True)
class Delivery:
    channel: str  # "slack", "email" or "log"
    target: str
    ok: bool
    attempts: int
    error: str = ""


def _with_retries(send: Callable[[], None], attempts: int, backoff: float) -> tuple[bool, int, str]:
    error = ""
    for attempt in range(1, attempts + 1):
        try:
            send()
            return True, attempt, ""
        except Exception as exc:  # noqa: BLE001 - any channel failure is retried, then reported
            error = f"{type(exc).__name__}: {exc}"
            if attempt < attempts:
                time.sleep(backoff * 2 ** (attempt - 1))
    return False, attempts, error


def deliver(alert: Alert, settings: Alerts, slack: SlackAlertResource | None = None,
            email: EmailAlertResource | None = None, log: logging.Logger | logging.LoggerAdapter = LOG,
            attempts: int = 3, backoff: float = 0.5) -> list[Delivery]:
    """Send `alert` to the recipients the catalog sets for its audience.

    Emails outside `allowed_email_domains` are not sent. A channel that still fails after the retries is
    reported on the other channel and in the log. With no channel configured the alert goes to the log."""
    recipients = getattr(settings, alert.audience)
    deliveries: list[Delivery] = []
    if slack is not None:
        for channel in recipients.slack:
            ok, tries, error = _with_retries(lambda c=channel: slack.post(c, alert.text), attempts, backoff)
            deliveries.append(Delivery("slack", channel, ok, tries, error))
    addresses = [a for a in recipients.email if _allowed(a, settings.allowed_email_domains)]
    for refused in sorted(set(recipients.email) - set(addresses)):
        log.warning(f"alert not emailed to {refused}: its domain is not in allowed_email_domains")
    if email is not None and addresses:
        ok, tries, error = _with_retries(lambda: email.send(addresses, alert.title, alert.text), attempts, backoff)
        deliveries.append(Delivery("email", ", ".join(addresses), ok, tries, error))

    level = {"error": logging.ERROR, "warning": logging.WARNING}.get(alert.severity, logging.INFO)
    log.log(level, alert.text)  # every alert is also in the log (the activity trail), configured channels or not
    deliveries.append(Delivery("log", "log", True, 1))
    for failure in [d for d in deliveries if not d.ok]:
        notice = (f"alert delivery failed on {failure.channel} ({failure.target}) after {failure.attempts} attempts: "
                  f"{failure.error}; the alert was: {alert.title}")
        log.error(notice)
        for other in deliveries:  # tell the people on the channels that work
            if not other.ok or other.channel == failure.channel:
                continue
            try:
                if other.channel == "slack":
                    slack.post(other.target, notice)
                elif other.channel == "email":
                    email.send(addresses, f"[alert delivery failed] {alert.title}", notice)
            except Exception as exc:  # noqa: BLE001 - already failing over; the log has it
                log.error(f"could not report the failed delivery on {other.channel}: {exc}")
    return deliveries


def _allowed(address: str, domains: list[str]) -> bool:
    return not domains or address.rsplit("@", 1)[-1].lower() in {d.lower() for d in domains}
