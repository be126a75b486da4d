"""Retries for real: an orchestration sending to a loopback webhook that answers 503 twice is retried by its step's
RetryPolicy (exponential backoff, jitter) and delivers each row; 401/403 fail on the first attempt with a message
that says what to fix. Errors raised by real clients (requests, botocore against moto, sockets) are sorted into
permanent and transient, and the example instance config ships run retries and run monitoring."""

from __future__ import annotations

import shutil

import boto3
import botocore.exceptions
import dagster as dg
import pytest
import requests

from workflow_platform.orchestrations.errors import PermanentSendError, TransientSendError
from workflow_platform.retries import TRANSIENT_RETRY, fail_fast, is_permanent
from workflow_platform.storage import MissingSecret
from workflow_platform_tests.servers import ScriptedResponse
from workflow_platform_tests.support import REPO, build_audience, free_port, run_job, step_events

STEP = "orchestration__everyone_to_crm"


def webhook_catalog(url: str) -> str:
    """A webhook destination tried once per batch inside the step, so the step's RetryPolicy does the retrying."""
    return f"""
destinations:
  - name: crm
    type: webhook
    url: {url}
    headers_env: {{Authorization: CRM_TOKEN}}
    batch_size: 100
    max_attempts: 1
orchestrations:
  - name: everyone_to_crm
    segment: everyone
    destination: crm
    columns: {{email: Email}}
    workflow: automatic
"""


def send(defs) -> dg.ExecuteInProcessResult:
    return run_job(defs, "workflow", "segment/everyone", "orchestration/everyone_to_crm")


def test_503_twice_then_200_retries_the_step_with_backoff_and_delivers_once(tenant, webhook_server, monkeypatch):
    monkeypatch.setenv("CRM_TOKEN", "Bearer s3cr3t")
    defs, built = build_audience(tenant, 30, webhook_catalog(webhook_server.url))
    assert built.success
    webhook_server.script([503, 503], retry_after=None)
    result = send(defs)
    assert result.success
    received = webhook_server.requests
    assert len(received) == 3  # one batch: 503, 503, then 200
    assert len({r.header("Idempotency-Key") for r in received}) == 1  # a retried step resends under the same key
    assert sorted(row["Email"] for row in received[-1].json["rows"]) == sorted(
        r[0] for r in tenant.query("SELECT email FROM segment.everyone"))
    retries = [e for e in step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) if e.step_key == STEP]
    assert len(retries) == 2 and len(step_events(result, dg.DagsterEventType.STEP_RESTARTED)) == 2
    waits = [e.event_specific_data.seconds_to_wait for e in retries]
    assert 0 <= waits[0] <= 4 and 4 <= waits[1] <= 8  # 2 s then 6 s, each +/- 2 s of jitter
    assert all("HTTP 503" in e.event_specific_data.error.to_string() for e in retries)
    [materialization] = result.asset_materializations_for_node(STEP)
    assert materialization.metadata["rows"].value == 30


@pytest.mark.parametrize("status", [401, 403])
def test_bad_credentials_fail_on_the_first_attempt_with_a_clear_message(tenant, webhook_server, monkeypatch, status):
    monkeypatch.setenv("CRM_TOKEN", "Bearer s3cr3t")
    defs, built = build_audience(tenant, 5, webhook_catalog(webhook_server.url))
    assert built.success
    webhook_server.script([ScriptedResponse(status, body=b'{"error": "invalid token"}')])
    result = send(defs)
    assert not result.success
    assert len(webhook_server.requests) == 1
    assert step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    [failure] = [e for e in step_events(result, dg.DagsterEventType.STEP_FAILURE) if e.step_key == STEP]
    data = failure.event_specific_data
    assert data.user_failure_data.description.startswith("destination 'crm': ")
    assert f"HTTP {status}" in data.user_failure_data.description
    assert "permanent error, not retried: check the credentials and permissions" in data.user_failure_data.description
    assert "s3cr3t" not in data.error.to_string()
    assert data.user_failure_data.metadata["permanent"].value is True


def test_a_missing_secret_fails_fast_without_calling_the_destination(tenant, webhook_server, monkeypatch):
    monkeypatch.delenv("CRM_TOKEN", raising=False)
    defs, built = build_audience(tenant, 5, webhook_catalog(webhook_server.url))
    assert built.success
    result = send(defs)
    assert not result.success and webhook_server.requests == []
    assert step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    [failure] = [e for e in step_events(result, dg.DagsterEventType.STEP_FAILURE) if e.step_key == STEP]
    assert "CRM_TOKEN" in failure.event_specific_data.user_failure_data.description


def test_errors_of_real_clients_are_sorted_into_permanent_and_transient(webhook_server, s3_server):
    def http_error(status: int) -> requests.HTTPError:
        webhook_server.script([status], retry_after=None)
        try:
            requests.post(webhook_server.url, timeout=5).raise_for_status()
        except requests.HTTPError as exc:
            return exc
        raise AssertionError(f"no HTTP {status}")

    for status in (400, 401, 403, 404, 422):
        assert is_permanent(http_error(status)), status
    for status in (408, 429, 500, 502, 503, 504):
        assert not is_permanent(http_error(status)), status
    with pytest.raises(requests.ConnectionError) as refused:
        requests.get(f"http://127.0.0.1:{free_port()}/", timeout=5)
    webhook_server.script([ScriptedResponse(200, delay=1.0)])
    with pytest.raises(requests.Timeout) as timed_out:
        requests.get(webhook_server.url, timeout=0.2)
    assert not is_permanent(refused.value) and not is_permanent(timed_out.value)

    def s3_error(key: str, secret: str, bucket: str) -> botocore.exceptions.ClientError:
        client = boto3.client("s3", endpoint_url=s3_server.endpoint_url, aws_access_key_id=key,
                              aws_secret_access_key=secret, region_name=s3_server.region)
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            client.put_object(Bucket=bucket, Key="a.csv", Body=b"x")
        return caught.value

    denied = s3_error(s3_server.denied_key, s3_server.denied_secret, s3_server.bucket)
    assert denied.response["Error"]["Code"] == "AccessDenied" and is_permanent(denied)
    missing = s3_error(s3_server.key, s3_server.secret, "no-such-bucket-here")
    assert missing.response["Error"]["Code"] == "NoSuchBucket" and is_permanent(missing)
    unknown_key = s3_error("AKIANOTAKEY", "nope", s3_server.bucket)
    assert is_permanent(unknown_key)

    for permanent in (FileNotFoundError(2, "No such file"), PermissionError(13, "Permission denied"),
                      MissingSecret("environment variable X is not set"), PermanentSendError("HTTP 403"),
                      dg.Failure("bad", allow_retries=False)):
        assert is_permanent(permanent), permanent
    for transient in (TimeoutError(), ConnectionResetError(104, "reset"), ConnectionRefusedError(111, "refused"),
                      TransientSendError("HTTP 503"), dg.Failure("maybe"), RuntimeError("unknown")):
        assert not is_permanent(transient), transient
    try:  # judged by what it wraps
        try:
            raise PermissionError(13, "Permission denied")
        except PermissionError as inner:
            raise RuntimeError("listing the landing folder failed") from inner
    except RuntimeError as wrapped:
        assert is_permanent(wrapped)


def test_fail_fast_skips_the_retry_policy_and_says_what_to_fix():
    failure = fail_fast(FileNotFoundError(2, "No such file or directory", "/landing/acme"), "landing 'acme'")
    assert isinstance(failure, dg.Failure) and failure.allow_retries is False
    assert failure.description == ("landing 'acme': FileNotFoundError: [Errno 2] No such file or directory: "
                                   "'/landing/acme' (permanent error, not retried: check the URL, bucket and path, "
                                   "then run again)")
    sent = fail_fast(PermanentSendError("destination 'crm': PermissionError: denied"), "destination 'crm'")
    assert sent.description.startswith("destination 'crm': PermissionError: denied (permanent error")

    @dg.op(retry_policy=TRANSIENT_RETRY)
    def reads_a_missing_file():
        try:
            open("/nonexistent/landing/file.csv")  # noqa: SIM115
        except OSError as exc:
            raise fail_fast(exc, "landing 'acme'") if is_permanent(exc) else exc

    result = dg.GraphDefinition("g", node_defs=[reads_a_missing_file]).to_job().execute_in_process(
        raise_on_error=False)
    assert not result.success
    assert step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []  # despite the policy


def test_transient_retry_is_exponential_with_jitter_and_small():
    assert TRANSIENT_RETRY.backoff == dg.Backoff.EXPONENTIAL and TRANSIENT_RETRY.jitter is not None
    assert 2 <= TRANSIENT_RETRY.max_retries <= 5 and 0 < TRANSIENT_RETRY.delay <= 5
    waits = [[TRANSIENT_RETRY.calculate_delay(n) for n in (1, 2, 3)] for _ in range(200)]
    assert all(a < b < c for a, b, c in waits)  # grows with each attempt
    assert len({round(w[0], 3) for w in waits}) > 50  # and is spread out


def test_the_example_instance_ships_run_retries_and_run_monitoring(tmp_path):
    shutil.copy(REPO / ".dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_retries_enabled and instance.run_retries_max_retries >= 1
        assert instance.run_retries_retry_on_asset_or_op_failure is False  # step failures: the steps' RetryPolicy
        assert instance.run_monitoring_enabled
        assert 0 < instance.run_monitoring_max_runtime_seconds and instance.run_monitoring_start_timeout_seconds
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
