"""post_batches against a real HTTP server on loopback."""

from __future__ import annotations

import datetime as dt
import socket
from decimal import Decimal

import pytest

from workflow_platform.orchestrations.errors import PermanentSendError, TransientSendError
from workflow_platform.orchestrations.webhook import post_batches, redact_url
from workflow_platform_tests.servers import ScriptedResponse, http_date, webhook_server  # noqa: F401

TOKEN = "Bearer s3cr3t-token-value"


def chunks(rows: list[dict], size: int) -> list[list[dict]]:
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def test_all_rows_arrive_once_in_order(webhook_server):  # noqa: F811
    rows = [{"id": i, "email": f"c{i}@example.com"} for i in range(2500)]
    result = post_batches(chunks(rows, 1000), webhook_server.url, {"Authorization": TOKEN},
                          idempotency_prefix="run-42-")
    received = webhook_server.requests
    assert len(received) == 3
    assert [r for request in received for r in request.json["rows"]] == rows
    assert [len(request.json["rows"]) for request in received] == [1000, 1000, 500]
    assert [request.header("Idempotency-Key") for request in received] == ["run-42-1", "run-42-2", "run-42-3"]
    assert all(request.header("Authorization") == TOKEN for request in received)
    assert all(request.header("Content-Type") == "application/json" for request in received)
    assert all(request.method == "POST" and request.path == "/hook" for request in received)
    assert result.rows == 2500 and result.batches == 3 and result.attempts == 3
    assert result.bytes == sum(len(request.body) for request in received)


def test_retry_after_then_backoff_then_success(webhook_server):  # noqa: F811
    webhook_server.script([429, 500], retry_after=7)
    sleeps: list[float] = []
    result = post_batches([[{"id": 1}], [{"id": 2}]], webhook_server.url, {}, backoff_seconds=2,
                          idempotency_prefix="k", sleep=sleeps.append)
    assert sleeps[0] == 7
    assert 2 <= sleeps[1] <= 4  # 2 * 2**1 with up to half taken off as jitter
    assert len(sleeps) == 2
    received = webhook_server.requests
    assert [r.json["rows"] for r in received] == [[{"id": 1}]] * 3 + [[{"id": 2}]]
    assert [r.header("Idempotency-Key") for r in received] == ["k1", "k1", "k1", "k2"]
    assert result.rows == 2 and result.batches == 2 and result.attempts == 4
    assert result.bytes == len(received[2].body) + len(received[3].body)


def test_retry_after_http_date_and_cap(webhook_server):  # noqa: F811
    webhook_server.script([503], retry_after=http_date(30))
    webhook_server.script([429], retry_after=3600)
    sleeps: list[float] = []
    post_batches([[{"id": 1}]], webhook_server.url, {}, max_backoff_seconds=120, sleep=sleeps.append)
    assert 25 <= sleeps[0] <= 30
    assert sleeps[1] == 120


def test_retry_after_zero_really_waits_zero(webhook_server):  # noqa: F811
    webhook_server.script([429, 429], retry_after=0)
    result = post_batches([[{"id": 1}]], webhook_server.url, {}, backoff_seconds=30)  # real time.sleep
    assert result.attempts == 3 and result.rows == 1


def test_persistent_500_gives_transient_error(webhook_server):  # noqa: F811
    webhook_server.script([200] + [500] * 10)
    sleeps: list[float] = []
    url = webhook_server.url.replace("http://", "http://user:pw@") + "?token=abc"
    with pytest.raises(TransientSendError) as caught:
        post_batches([[{"id": 1}, {"id": 2}], [{"id": 3}]], url, {"Authorization": TOKEN}, max_attempts=3,
                     sleep=sleeps.append)
    message = str(caught.value)
    assert webhook_server.url in message
    assert "batch 2" in message and "500" in message and "2 rows in 1 batches" in message
    assert "pw" not in message and "token" not in message and TOKEN not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert len(webhook_server.requests) == 4 and len(sleeps) == 2


@pytest.mark.parametrize("status", [401, 403])
def test_bad_credentials_fail_at_once(webhook_server, status):  # noqa: F811
    webhook_server.script([ScriptedResponse(status, body=f'{{"error": "bad token {TOKEN}"}}'.encode())])
    sleeps: list[float] = []
    with pytest.raises(PermanentSendError) as caught:
        post_batches([[{"id": 1}]], webhook_server.url, {"Authorization": TOKEN}, sleep=sleeps.append)
    message = str(caught.value)
    assert f"HTTP {status}" in message and "check the credentials" in message and "batch 1" in message
    assert TOKEN not in message and "s3cr3t" not in message
    assert len(webhook_server.requests) == 1 and sleeps == []


def test_other_4xx_is_permanent_but_408_is_retried(webhook_server):  # noqa: F811
    webhook_server.script([408, 422])
    with pytest.raises(PermanentSendError, match="HTTP 422"):
        post_batches([[{"id": 1}]], webhook_server.url, {}, sleep=lambda s: None)
    assert len(webhook_server.requests) == 2


def test_values_are_serialized(webhook_server):  # noqa: F811
    row = {"birth_date": dt.date(1990, 5, 17), "updated_at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
           "balance": Decimal("12.30"), "score": float("nan"), "name": "Zoë", "missing": None, "tags": ("a", "b")}
    post_batches([[row]], webhook_server.url, {})
    sent = webhook_server.requests[0]
    assert sent.json == {"rows": [{"birth_date": "1990-05-17", "updated_at": "2026-01-02T03:04:05+00:00",
                                   "balance": "12.30", "score": None, "name": "Zoë", "missing": None,
                                   "tags": ["a", "b"]}]}
    assert sent.header("Idempotency-Key") is None


def test_empty_input_sends_nothing(webhook_server):  # noqa: F811
    result = post_batches([[], []], webhook_server.url, {})
    assert (result.rows, result.batches, result.bytes, result.attempts) == (0, 0, 0, 0)
    assert webhook_server.requests == []


def test_unreachable_port_gives_transient_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens there
    sleeps: list[float] = []
    with pytest.raises(TransientSendError, match="connection refused") as caught:
        post_batches([[{"id": 1}]], f"http://127.0.0.1:{port}/hook?key=abc", {}, max_attempts=3, timeout_seconds=2,
                     sleep=sleeps.append)
    assert f"http://127.0.0.1:{port}/hook" in str(caught.value) and "abc" not in str(caught.value)
    assert len(sleeps) == 2


def test_timeout_is_retried_with_same_idempotency_key(webhook_server):  # noqa: F811
    webhook_server.script([ScriptedResponse(200, delay=0.6)])
    result = post_batches([[{"id": 1}]], webhook_server.url, {}, timeout_seconds=0.2, idempotency_prefix="x-",
                          sleep=lambda s: None)
    received = webhook_server.requests
    assert result.attempts == 2 and result.rows == 1
    assert [r.header("Idempotency-Key") for r in received] == ["x-1", "x-1"]  # receiver can drop the duplicate


def test_redact_url():
    assert redact_url("https://u:p@example.com:8443/a/b?token=1#f") == "https://example.com:8443/a/b"
    assert redact_url("http://[::1]:80/x") == "http://[::1]:80/x"
