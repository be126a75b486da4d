"""Deliver an alert to its recipients on every configured channel, with retries, within a time budget; never
fail silently.

The budget is total, not per try: a Slack or SMTP server that accepts connections and never answers costs at
most the budget, so a sensor evaluation (cut by Dagster at 60 s) never loses its run requests or its cursor to
alert delivery. What could not be delivered in time is returned as failed deliveries: sensors keep them and
try again at their next evaluation (automation/courier_groups.py); steps report them on the other channels.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from workflow_platform.alerts.channels import EmailAlertResource, PermanentDeliveryError, SlackAlertResource
from workflow_platform.alerts.model import Alert
from workflow_platform.catalog.models import Alerts, Recipients

LOG = logging.getLogger("workflow_platform.alerts")
BUDGET_SECONDS = 20.0  # one deliver() call, all channels and retries together
PER_TRY_SECONDS = 10.0  # at most, for one connection attempt
SENSOR_BUDGET_SECONDS = 30.0  # all alerts of one sensor evaluation (Dagster cuts an evaluation at 60 s)
OUTBOX_TRIES = 5  # sensor evaluations an undelivered alert is tried in before it is given up (and reported)


@dataclass(frozen=True)
class Delivery:
    channel: str  # "slack", "email" or "log"
    target: str
    ok: bool
    attempts: int
    error: str = ""
    permanent: bool = False  # a retry cannot fix it (unknown channel, revoked token, refused recipients)


def _with_retries(send: Callable[[float], None], attempts: int, backoff: float,
                  deadline: float) -> tuple[bool, int, str, bool]:
    """(ok, attempts made, last error, permanent): `send(timeout)` is tried until it works, fails permanently, the
    attempts are used up or the deadline (time.monotonic) is reached."""
    error, made = "", 0
    for attempt in range(1, attempts + 1):
        remaining = deadline - time.monotonic()
        if remaining < 1:
            return False, made, error or "not tried: the delivery time budget was spent", False
        made = attempt
        try:
            send(min(PER_TRY_SECONDS, remaining))
            return True, attempt, "", False
        except PermanentDeliveryError as exc:
            return False, attempt, str(exc), True
        except Exception as exc:  # noqa: BLE001 - any other channel failure is retried, then reported
            error = f"{type(exc).__name__}: {exc}"
            pause = backoff * 2 ** (attempt - 1)
            if attempt < attempts and deadline - time.monotonic() > pause + 1:
                time.sleep(pause)
    return False, made, error, False


def deliver(alert: Alert, settings: Alerts, slack: SlackAlertResource | None = None,
            email: EmailAlertResource | None = None, log: logging.Logger | logging.LoggerAdapter = LOG,
            attempts: int = 3, backoff: float = 0.5, deadline: float | None = None,
            only: set[str] | None = None, failover: bool = True) -> list[Delivery]:
    """Send `alert` to the recipients the catalog sets for its audience, by `deadline` (time.monotonic; default
    BUDGET_SECONDS from now).

    Emails outside `allowed_email_domains` are not sent. `only` limits delivery to targets from an earlier call
    ("slack:#channel", "email") — a retry of what failed. With `failover`, a channel that still fails is
    reported on the channels that work and in the log. With no channel configured the alert goes to the log."""
    deadline = deadline if deadline is not None else time.monotonic() + BUDGET_SECONDS
    recipients = recipients_of(alert, settings)
    deliveries: list[Delivery] = []
    if slack is not None:
        for channel in recipients.slack:
            if only is None or f"slack:{channel}" in only:
                ok, tries, error, permanent = _with_retries(
                    lambda timeout, c=channel: slack.post(c, alert.text, timeout), attempts, backoff, deadline)
                deliveries.append(Delivery("slack", channel, ok, tries, error, permanent))
    addresses = [a for a in recipients.email if _allowed(a, settings.allowed_email_domains)]
    if only is None:
        for refused in sorted(set(recipients.email) - set(addresses)):
            log.warning(f"alert not emailed to {refused}: its domain is not in allowed_email_domains")
    if email is not None and addresses and (only is None or "email" in only):
        ok, tries, error, permanent = _with_retries(
            lambda timeout: email.send(addresses, alert.title, alert.text, timeout), attempts, backoff, deadline)
        deliveries.append(Delivery("email", ", ".join(addresses), ok, tries, error, permanent))

    if only is None:  # every alert is also in the log (the activity trail), configured channels or not
        level = {"error": logging.ERROR, "warning": logging.WARNING}.get(alert.severity, logging.INFO)
        log.log(level, alert.text)
        deliveries.append(Delivery("log", "log", True, 1))
    for failure in [d for d in deliveries if not d.ok]:
        log.error(f"alert delivery failed on {failure.channel} ({failure.target}) after {failure.attempts} "
                  f"attempt(s): {failure.error}; the alert was: {alert.title}")
    if failover:
        report_failures(alert, deliveries, slack, email, addresses, log, deadline)
    return deliveries


def target(delivery: Delivery) -> str:
    """The `only` name of a delivery's target."""
    return f"slack:{delivery.target}" if delivery.channel == "slack" else delivery.channel


def report_failures(alert: Alert, deliveries: list[Delivery], slack: SlackAlertResource | None,
                    email: EmailAlertResource | None, addresses: list[str],
                    log: logging.Logger | logging.LoggerAdapter, deadline: float) -> None:
    """Tell the people on the channels that worked that a delivery failed (one try each, within the budget)."""
    for failure in [d for d in deliveries if not d.ok]:
        notice = (f"alert delivery failed on {failure.channel} ({failure.target}) after {failure.attempts} "
                  f"attempt(s): {failure.error}; the alert was: {alert.title}")
        for other in deliveries:
            remaining = deadline - time.monotonic()
            if not other.ok or other.channel in ("log", failure.channel) or remaining < 1:
                continue
            try:
                if other.channel == "slack":
                    slack.post(other.target, notice, min(PER_TRY_SECONDS, remaining))
                elif other.channel == "email":
                    email.send(addresses, f"[alert delivery failed] {alert.title}", notice,
                               min(PER_TRY_SECONDS, remaining))
            except Exception as exc:  # noqa: BLE001 - already failing over; the log has it
                log.error(f"could not report the failed delivery on {other.channel}: {exc}")


def deliver_all(alerts: list[Alert], outbox: list[dict], settings: Alerts, slack: SlackAlertResource | None,
                email: EmailAlertResource | None, log: logging.Logger | logging.LoggerAdapter,
                budget: float | None = None) -> list[dict]:
    """A sensor's alerts: the outbox's first (alerts some channel did not take at an earlier evaluation), then
    the new ones, all within `budget` seconds. Returns the new outbox (JSON-able, kept in the sensor's cursor):
    what failed for a reason a retry may fix, and what there was no time left for. An alert still undelivered
    after OUTBOX_TRIES evaluations, or refused permanently, is given up and reported on the channels that work
    (default budget: SENSOR_BUDGET_SECONDS)."""
    deadline = time.monotonic() + (SENSOR_BUDGET_SECONDS if budget is None else budget)
    queue = [(Alert(**{**e["alert"], "subscribers": tuple(e["alert"].get("subscribers") or ())}), set(e["targets"]) if e["targets"] is not None else None, e["tries"])
             for e in outbox] + [(alert, None, 0) for alert in alerts]
    left = []
    for alert, only, tries in queue:
        if deadline - time.monotonic() < 2:
            left.append(_entry(alert, only, tries))
            continue
        deliveries = deliver(alert, settings, slack, email, log, deadline=deadline, only=only, failover=False)
        failed = [d for d in deliveries if not d.ok]
        retry = sorted(target(d) for d in failed if not d.permanent)
        if retry and tries + 1 < OUTBOX_TRIES:
            log.warning(f"alert {alert.title!r} kept for another try on {', '.join(retry)}")
            left.append(_entry(alert, set(retry), tries + 1))
        elif failed:
            _give_up(alert, failed, tries + 1, settings, slack, email, log, deadline)
    return left


def _entry(alert: Alert, only: set[str] | None, tries: int) -> dict:
    return {"alert": asdict(alert), "targets": sorted(only) if only is not None else None, "tries": tries}


def _give_up(alert: Alert, failed: list[Delivery], tries: int, settings: Alerts, slack, email, log,
             deadline: float) -> None:
    """Report an alert that could not be delivered, on the targets that did not fail, and in the log."""
    recipients = recipients_of(alert, settings)
    configured = {f"slack:{c}" for c in recipients.slack} if slack is not None else set()
    if email is not None and any(_allowed(a, settings.allowed_email_domains) for a in recipients.email):
        configured.add("email")
    working = configured - {target(d) for d in failed}
    reasons = "; ".join(f"{d.channel} {d.target}: {d.error}" for d in failed)
    notice = Alert("delivery_failed", "error", alert.audience, alert.group,
                   cause=f"the alert '{alert.title}' could not be delivered after {tries} evaluation(s) ({reasons})",
                   action="check the channel's settings (Slack token and channel, SMTP server); the alert's text "
                          "is in the sensor's tick log")
    log.error(f"{notice.cause}; the alert was:\n{alert.text}")
    if working:
        deliver(notice, settings, slack, email, log, deadline=max(deadline, time.monotonic() + 2), only=working,
                attempts=1, failover=False)


def recipients_of(alert: Alert, settings: Alerts) -> Recipients:
    """Who gets `alert`: the recipients the catalog sets for its audience, plus the run's own subscribers (or
    those alone); emails still only to the allowed domains."""
    group = Recipients() if alert.subscribers_only else getattr(settings, alert.audience)
    slack = [c for c in alert.subscribers if c.startswith("#")]
    emails = [a for a in alert.subscribers if not a.startswith("#")]
    return Recipients(slack=list(dict.fromkeys([*group.slack, *slack])),
                      email=list(dict.fromkeys([*group.email, *emails])))


def _allowed(address: str, domains: list[str]) -> bool:
    return not domains or address.rsplit("@", 1)[-1].lower() in {d.lower() for d in domains}
