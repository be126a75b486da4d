"""Send rows to an HTTP endpoint as JSON batches, retrying what can succeed later and failing fast on what cannot."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import json
import logging
import math
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from workflow_platform.network import BlockedHost, check_url
from workflow_platform.orchestrations.errors import PermanentSendError, TransientSendError

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 429})  # plus every 5xx
EMAIL_LIKE = re.compile(r"[^\s\"'<>(),;:]+@[^\s\"'<>(),;:]+")
PHONE_LIKE = re.compile(r"\+?\d[\d ().-]{5,}\d")
_HINTS = {401: "check the credentials", 403: "check the credentials", 404: "check the URL",
          413: "the batch is too large; use a smaller batch size"}


@dataclass
class WebhookResult:
    rows: int
    batches: int
    bytes: int  # JSON body bytes sent (successful attempts)
    attempts: int  # HTTP requests made in total, retries included


def post_batches(batches: Iterable[list[dict]], url: str, headers: dict[str, str], *, max_attempts: int = 5,
                 backoff_seconds: float = 1.0, max_backoff_seconds: float = 60.0, timeout_seconds: float = 30.0,
                 idempotency_prefix: str = "", sleep: Callable[[float], Any] = time.sleep,
                 display_url: str | None = None) -> WebhookResult:
    """POST each non-empty batch as `{"rows": [{column: value, ...}, ...]}` and return what was delivered.

    Dates, datetimes and times become ISO 8601 strings, Decimals and UUIDs strings, timedeltas seconds, bytes
    base64, NaN null. With `idempotency_prefix`, each request carries `Idempotency-Key: {prefix}{batch number}`
    (1-based, empty batches skipped), so a receiver can drop a batch it already took before a timeout made us resend
    it. HTTP 408, 429, 5xx, connection errors and
    timeouts are retried with exponential backoff and jitter, or after `Retry-After` when the server sends it; after
    `max_attempts` for one batch a `TransientSendError` is raised. Any other non-2xx raises `PermanentSendError` at
    once. Batches before the failing one have been delivered; errors say how many rows. Header values (secrets)
    never appear in logs or errors, nor does the URL's user info or query string; a rejection's response body is
    quoted with the URL, the batch's values and anything like an email or phone number masked (no PII in logs).
    Before each request the host is checked (network.check_url): a loopback, private or link-local address
    the operator has not listed in WORKFLOW_PLATFORM_ALLOWED_HOSTS raises `PermanentSendError`; redirects are
    never followed (a 3xx is a permanent error naming the status), so a redirect cannot lead elsewhere.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    where = display_url or redact_url(url)  # what logs and errors may show
    parts = urlsplit(url)
    secrets = [value for value in (*headers.values(), url, parts.query, parts.path if len(parts.path) > 1 else "")
               if value]
    rows = sent_batches = sent_bytes = attempts = 0
    with requests.Session() as session:
        session.headers.update({"Content-Type": "application/json", "Accept": "application/json"})
        session.headers.update(headers)
        session.auth = _headers_only  # keeps requests from replacing an Authorization header with ~/.netrc
        for batch in batches:
            if not batch:
                continue
            number = sent_batches + 1
            body = encode_batch(batch)
            request_headers = {"Idempotency-Key": f"{idempotency_prefix}{number}"} if idempotency_prefix else {}
            for attempt in range(1, max_attempts + 1):
                attempts += 1
                problem, retry_after = _post(session, url, body, request_headers, timeout_seconds, where, number,
                                             rows, secrets, batch)
                if problem is None:
                    break
                if attempt == max_attempts:
                    raise TransientSendError(
                        f"{where}: batch {number} ({len(batch)} rows) failed after {max_attempts} attempts, last with"
                        f" {problem}; {rows} rows in {sent_batches} batches were delivered before it") from None
                delay = _delay(attempt, retry_after, backoff_seconds, max_backoff_seconds)
                log.warning("%s: batch %d attempt %d/%d failed with %s; retrying in %.1f s", where, number, attempt,
                            max_attempts, problem, delay)
                sleep(delay)
            rows += len(batch)
            sent_batches += 1
            sent_bytes += len(body)
    return WebhookResult(rows=rows, batches=sent_batches, bytes=sent_bytes, attempts=attempts)


def encode_batch(batch: list[dict]) -> bytes:
    """The UTF-8 JSON body for one batch: `{"rows": [...]}`."""
    try:
        text = json.dumps({"rows": batch}, default=_json_default, ensure_ascii=False, allow_nan=False)
    except ValueError:  # NaN or infinity somewhere: send null, which every JSON parser accepts
        text = json.dumps({"rows": _without_nan(batch)}, default=_json_default, ensure_ascii=False, allow_nan=False)
    return text.encode()


def redact_url(url: str) -> str:
    """The URL without user info, query string or fragment, safe for logs and error messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _post(session: requests.Session, url: str, body: bytes, headers: dict[str, str], timeout: float, where: str,
          number: int, rows_sent: int, secrets: list[str], batch: list[dict]) -> tuple[str | None, str | None]:
    """Send once; return (None, None) on 2xx, or (what went wrong, Retry-After) if retrying may help."""
    try:
        check_url(url, where)  # at send time: the name may resolve elsewhere than when the catalog was checked
    except BlockedHost as exc:
        raise PermanentSendError(f"{exc}; batch {number} not sent, {rows_sent} rows delivered before it") from None
    try:
        response = session.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.exceptions.SSLError:
        raise PermanentSendError(f"{where}: TLS handshake failed (check the certificate); batch {number} not sent,"
                                 f" {rows_sent} rows delivered before it") from None
    except requests.exceptions.Timeout:
        return f"no answer within {timeout:g} s", None
    except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
        return f"a connection error ({_connection_problem(exc)})", None
    except requests.RequestException as exc:  # invalid URL or header; the message could quote a secret
        raise PermanentSendError(f"{where}: could not send ({type(exc).__name__}); check the URL and headers") from None
    with response:
        status = response.status_code
        if 200 <= status < 300:
            return None, None
        problem = f"HTTP {status} {response.reason or ''}".rstrip()
        if status in RETRYABLE_STATUSES or 500 <= status < 600:
            return problem, response.headers.get("Retry-After")
        hint = _HINTS.get(status) or ("redirected; use the final URL" if 300 <= status < 400 else "")
        detail = _snippet(response.text, secrets, batch)
        raise PermanentSendError(
            f"{where} rejected batch {number} with {problem}{'; ' + hint if hint else ''};"
            f" {rows_sent} rows were delivered before it{': ' + detail if detail else ''}") from None


def _headers_only(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


def _delay(attempt: int, retry_after: str | None, backoff: float, cap: float) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): Retry-After if given, else backoff * 2**(attempt-1)
    with up to half of it taken off at random, never above `cap`."""
    requested = _parse_retry_after(retry_after)
    if requested is not None:
        return min(requested, cap)
    delay = min(backoff * 2 ** (attempt - 1), cap)
    return delay - random.uniform(0, delay / 2)


def _parse_retry_after(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def _connection_problem(exc: Exception) -> str:
    text = str(exc).lower()
    for needle, label in (("refused", "connection refused"), ("reset", "connection reset"),
                          ("name or service", "host not found"), ("nodename", "host not found"),
                          ("aborted", "connection aborted"), ("remote end closed", "connection closed")):
        if needle in text:
            return label
    return type(exc).__name__


def _snippet(text: str, secrets: list[str], batch: list[dict] = (), limit: int = 200) -> str:
    """The start of a response body for an error message: secrets, the batch's values, emails and phone numbers
    masked (a receiver may echo the rejected rows)."""
    text = " ".join(text.split())[: limit * 2]
    values = {str(v) for row in batch for v in row.values() if v is not None and len(str(v)) >= 3}
    for value in sorted({*secrets, *values}, key=len, reverse=True):
        text = text.replace(value, "***")
    text = PHONE_LIKE.sub("***", EMAIL_LIKE.sub("***", text))
    return text[:limit] + ("..." if len(text) > limit else "")


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    raise TypeError(f"cannot send a value of type {type(value).__name__} as JSON")


def _without_nan(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nan(item) for item in value]
    return value
