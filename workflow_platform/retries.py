"""Step retries: transient I/O (remote landing, destinations) retries with exponential backoff and jitter; a
permanent error (bad credentials, access denied, nothing at that path or bucket, invalid configuration) fails the
step at once with a message that says what to fix.

Use in an asset: `@dg.asset(retry_policy=TRANSIENT_RETRY, ...)`, and around the I/O
`except Exception as exc: raise fail_fast(exc, "destination 'crm'") if is_permanent(exc) else exc`.
"""

from __future__ import annotations

import dagster as dg

from workflow_platform.network import BlockedHost
from workflow_platform.storage import MissingSecret

RETRY_DELAY_SECONDS = 2.0


class TransientError(Exception):
    """An error that says retrying may help (a connection refused or reset, a timeout, HTTP 429 or 5xx)."""


class PermanentError(Exception):
    """An error that says retrying cannot help (bad credentials, access denied, nothing at that path)."""


def transient_retry(max_retries: int, delay: float = RETRY_DELAY_SECONDS) -> dg.RetryPolicy:
    """Retry `max_retries` times after about delay * (2**n - 1) seconds (n = 1, 2, ...), each +/- `delay` at random,
    so steps that failed together do not retry in lockstep."""
    return dg.RetryPolicy(max_retries=max_retries, delay=delay, backoff=dg.Backoff.EXPONENTIAL,
                          jitter=dg.Jitter.PLUS_MINUS)


TRANSIENT_RETRY: dg.RetryPolicy = transient_retry(3)
"""Three retries after about 2 s, 6 s and 14 s (each +/- 2 s): rides out a restart or a short outage."""

# HTTP statuses: retrying cannot help (auth, not found, rejected request) vs may help (timeout, throttling, 5xx)
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
# error codes and exception class names of the usual clients (botocore, requests/urllib3, asyncssh, paramiko, gcs)
_PERMANENT_NAMES = frozenset({
    "AccessDenied", "AccessDeniedException", "AllAccessDisabled", "AuthFailure", "AuthenticationException",
    "BadAuthenticationType", "ExpiredToken", "ExpiredTokenException", "Forbidden", "HostKeyNotVerifiable",
    "InvalidAccessKeyId", "InvalidBucketName", "InvalidClientTokenId", "InvalidSchema", "InvalidURL", "MissingSchema",
    "NoCredentialsError", "NoSuchBucket", "NoSuchKey", "NotFound", "PartialCredentialsError", "PermissionDenied",
    "SignatureDoesNotMatch", "Unauthorized", "UnrecognizedClientException",
    # invalid configuration (UnsafePath: a catalog path leading outside its folder)
    "DagsterInvalidConfigError", "ValidationError", "ConfigurationError", "InvalidConfigError", "UnsafePath",
})
_TRANSIENT_NAMES = frozenset({
    "ChunkedEncodingError", "ConnectTimeoutError", "ConnectionClosedError", "ConnectionLost", "EndpointConnectionError",
    "IncompleteRead", "InternalError", "ProtocolError", "ReadTimeoutError", "RequestLimitExceeded", "RequestTimeout",
    "ServiceUnavailable", "SlowDown", "Throttling", "ThrottlingException", "Timeout", "TooManyRequestsException",
})
_PERMANENT_TYPES = (PermanentError, MissingSecret, BlockedHost, PermissionError, FileNotFoundError, NotADirectoryError,
                    IsADirectoryError)
_TRANSIENT_TYPES = (TransientError, TimeoutError, ConnectionError, BrokenPipeError)


def is_permanent(exc: BaseException) -> bool:
    """True when retrying cannot help: authentication or permission errors, a file, folder, bucket or URL that does
    not exist, invalid configuration, HTTP 4xx (except 408, 425, 429), or a `dg.Failure(allow_retries=False)`.
    False for what may pass: timeouts, connections refused or reset, throttling, HTTP 5xx. An error wrapping
    another (`raise ... from exc`) is judged by the first of the chain that says; anything unknown is transient,
    so the retry policy bounds what it costs."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        verdict = _verdict(current)
        if verdict is not None:
            return verdict
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return False


def _verdict(exc: BaseException) -> bool | None:
    if isinstance(exc, dg.Failure):
        return None if exc.allow_retries else True
    if isinstance(exc, _PERMANENT_TYPES):  # before the OSError family below: PermissionError is an OSError too
        return True
    if isinstance(exc, TransientError):
        return False
    status, code = _status_and_code(exc)
    if code in _PERMANENT_NAMES:
        return True
    if code in _TRANSIENT_NAMES:
        return False
    if status is not None and 400 <= status < 600:
        return 400 <= status < 500 and status not in _TRANSIENT_STATUSES
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _PERMANENT_NAMES:
        return True
    if isinstance(exc, _TRANSIENT_TYPES) or names & (_TRANSIENT_NAMES | {"ConnectionError"}):
        return False
    return None


def _status_and_code(exc: BaseException) -> tuple[int | None, str | None]:
    """The HTTP status and service error code an exception carries (botocore, requests, urllib, aiohttp), if any."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore ClientError
        error = response.get("Error") or {}
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return (status if isinstance(status, int) else None), (error.get("Code") or None)
    for holder, attribute in ((response, "status_code"), (exc, "status_code"), (exc, "status"), (exc, "code")):
        value = getattr(holder, attribute, None) if holder is not None else None
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value < 600:
            return value, None
    return None, None


def fail_fast(exc: BaseException, what: str) -> dg.Failure:
    """A step failure that skips the retry policy, saying what failed, why (first line only: client messages can
    be long) and what to check. Raise it `from exc` for a permanent error."""
    text = str(exc).splitlines()[0].strip() if str(exc).strip() else ""
    status, code = _status_and_code(exc)
    if status and str(status) not in text:
        text = f"HTTP {status}{' ' + code if code else ''}{': ' + text if text else ''}"
    reason = text if isinstance(exc, PermanentError | MissingSecret | BlockedHost) else f"{type(exc).__name__}: {text}".rstrip(": ")
    named = what.split(" (")[0]
    if named and reason.startswith(named):  # send errors already name their destination
        reason = reason[len(named):].lstrip(" :")
    return dg.Failure(
        description=f"{what}: {reason} (permanent error, not retried: {_hint(exc)}, then run again)",
        metadata={"error_type": type(exc).__name__, "permanent": True},
        allow_retries=False,
    )


_HINTS = (
    ("check the credentials and permissions",
     ("credential", "permission", "denied", "unauthorized", "forbidden", "http 401", "http 403", "authentication",
      "signaturedoesnotmatch", "invalidaccesskeyid", "missingsecret", "is not set")),
    ("check the URL, bucket and path",
     ("not found", "no such", "filenotfound", "notadirectory", "http 404", "http 410", "nosuchbucket", "nosuchkey")),
    ("fix the configuration", ("config", "validation", "invalid")),
)


def _hint(exc: BaseException) -> str:
    """What to check, from the error and the errors it wraps."""
    words = []
    current: BaseException | None = exc
    while current is not None and len(words) < 10:
        status, code = _status_and_code(current)
        words.append(" ".join([*(c.__name__ for c in type(current).__mro__), str(current),
                               f"http {status}" if status else "", code or ""]).lower())
        current = current.__cause__
    text = " ".join(words)
    return next((hint for hint, needles in _HINTS if any(n in text for n in needles)), "fix the cause")
