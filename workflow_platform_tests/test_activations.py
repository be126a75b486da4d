"""Orchestrations and campaigns run for real: a courier group builds the audience, then sends go to a local folder,
a webhook (answering 429/500 first) and an unreachable SFTP host (retried, then failed); campaigns split by
customer id and send on their schedule; query thresholds alert."""

import csv
import datetime as dt
import gzip
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest

from workflow_platform.automation.campaigns import SEND_NUMBER_TAG, campaign_cron
from workflow_platform.campaigns.split import CampaignSplitError, build_campaign_table
from workflow_platform.catalog.models import Campaign
from workflow_platform_tests.support import (
    build_audience,
    free_port,
    run_job,
    step_events,
)


def test_an_orchestration_sends_its_data_template_to_a_webhook_through_429_and_500(tenant, webhook_server,
                                                                                   monkeypatch):
    monkeypatch.setenv("CRM_TOKEN", "Bearer s3cr3t-token")
    defs, built = build_audience(tenant, 25, f"""
destinations:
  - name: crm
    type: webhook
    url: {webhook_server.url}?api_key=hidden
    headers_env: {{Authorization: CRM_TOKEN}}
    batch_size: 10
orchestrations:
  - name: everyone_to_crm
    segment: everyone
    destination: crm
    columns: {{email: Email, given_name: FirstName}}
    workflow: automatic
""")
    assert built.success
    webhook_server.script([429, 500], retry_after=0)
    result = run_job(defs, "workflow", "segment/everyone", "orchestration/everyone_to_crm")
    assert result.success
    first, retry, *delivered = webhook_server.requests  # answered 429, then 500, then the first batch got 200
    assert first.body == retry.body == delivered[0].body
    assert len({r.header("Idempotency-Key") for r in delivered}) == len(delivered) == 3
    rows = [row for request in delivered for row in request.json["rows"]]
    assert len(rows) == 25 and len({r["Email"] for r in rows}) == 25  # each row once, despite the retries
    assert list(rows[0]) == ["Email", "FirstName"]  # the data template: chosen, renamed, ordered
    assert all(r.header("Authorization") == "Bearer s3cr3t-token" for r in webhook_server.requests)
    materialization = result.asset_materializations_for_node("orchestration__everyone_to_crm")[0]
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["rows"] == 25 and metadata["destination_type"] == "webhook"
    assert "hidden" not in metadata["destination_url"] and "s3cr3t" not in str(metadata)


def test_a_transient_failure_is_retried_with_backoff_and_a_permanent_one_fails_fast(tenant, monkeypatch):
    closed = free_port()
    defs, built = build_audience(tenant, 3, f"""
destinations:
  - name: partner
    type: sftp
    url: sftp://127.0.0.1:{closed}/outbound
    storage_options: {{username: nobody, known_hosts: null}}
    max_attempts: 2
  - name: partner_s3
    type: s3
    url: s3://bucket/out
    storage_options_env: {{key: PARTNER_KEY, secret: PARTNER_SECRET}}
orchestrations:
  - name: to_partner
    segment: everyone
    destination: partner
    workflow: automatic
  - name: to_partner_s3
    segment: everyone
    destination: partner_s3
    workflow: automatic
""")
    assert built.success
    monkeypatch.delenv("PARTNER_KEY", raising=False)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("workflow").execute_in_process(
            instance=instance, raise_on_error=False,
            asset_selection=[dg.AssetKey(["segment", "everyone"]), dg.AssetKey(["orchestration", "to_partner"]),
                             dg.AssetKey(["orchestration", "to_partner_s3"])])
    assert not result.success
    retried = [e.step_key for e in step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)]
    assert retried == ["orchestration__to_partner"]  # the unreachable host: retried once (max_attempts 2)
    failures = {e.step_key: e.event_specific_data.error.to_string()
                for e in step_events(result, dg.DagsterEventType.STEP_FAILURE)}
    assert "ConnectionRefusedError" in failures["orchestration__to_partner"]
    assert "transient: retried while the destination's max_attempts allow" in failures["orchestration__to_partner"]
    assert "environment variable PARTNER_KEY is not set" in failures["orchestration__to_partner_s3"]  # no retry


def test_a_warn_threshold_alerts_and_the_workflow_continues(tenant, slack, monkeypatch):
    monkeypatch.setenv("WORKFLOW_PLATFORM_SLACK_TOKEN", "xoxb-test")
    monkeypatch.setenv("WORKFLOW_PLATFORM_SLACK_API_URL", slack.url)
    _, built = build_audience(tenant, 3, "", segment_options="warn_when: {min_rows: 5}")
    assert built.success  # warn: the run goes on
    checks = {e.check_name: (e.passed, e.severity) for e in built.get_asset_check_evaluations()}
    assert checks["warn_threshold"] == (False, dg.AssetCheckSeverity.WARN)
    [message] = slack.messages
    assert message["text"].startswith("[WARNING] courier group daily: query row count outside its threshold")
    assert "query everyone: 3 rows is below the minimum of 5" in message["text"]


CAMPAIGN = """
destinations:
  - name: local_out
    url: campaigns
    compression: gzip
  - name: hook
    type: webhook
    url: {url}
campaigns:
  - name: spring_sale
    segment: everyone
    filename: "{{{{ campaign }}}}_{{{{ sub_audience }}}}.csv.gz"
    columns: {{customer_id: customer_id, email: email}}
    sub_audiences:
      - name: treatment
        percent: 80
        destinations: [local_out]
        attributes: {{offer: SPRING20}}
      - name: control
        percent: 20
        destinations: [local_out, hook]
"""


def read_gzip_csv(path) -> list[dict]:
    with gzip.open(path, "rt", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_campaign_splits_by_customer_id_and_sends_each_sub_audience(tenant, webhook_server):
    defs, built = build_audience(tenant, 200, CAMPAIGN.format(url=webhook_server.url))
    assert built.success
    first = run_job(defs, "send_campaign__spring_sale")
    assert first.success
    folder = tenant.root / "data" / "campaigns"
    treatment = read_gzip_csv(folder / "spring_sale_treatment.csv.gz")
    control = read_gzip_csv(folder / "spring_sale_control.csv.gz")
    assert len(treatment) + len(control) == 200 and 120 <= len(treatment) <= 190
    assert {r["customer_id"] for r in treatment}.isdisjoint({r["customer_id"] for r in control})
    assert list(treatment[0]) == ["customer_id", "email", "campaign_name", "sub_audience", "send_date", "offer"]
    assert {(r["campaign_name"], r["sub_audience"], r["offer"]) for r in treatment} == {
        ("spring_sale", "treatment", "SPRING20")}
    assert {r["offer"] for r in control} == {""}  # an attribute of another sub-audience: empty here
    hooked = [row for request in webhook_server.requests for row in request.json["rows"]]
    assert sorted(r["customer_id"] for r in hooked) == sorted(r["customer_id"] for r in control)
    # a re-run gives everyone the same sub-audience
    assert run_job(defs, "send_campaign__spring_sale").success
    assert read_gzip_csv(folder / "spring_sale_control.csv.gz") == control


def test_the_split_is_stable_when_the_audience_changes_and_close_to_the_percentages(tmp_path):
    campaign = Campaign.model_validate({"name": "c", "segment": "s", "sub_audiences": [
        {"name": "treatment", "percent": 90}, {"name": "control", "percent": 10}]})
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        conn.execute("CREATE SCHEMA segment")
        conn.execute("CREATE TABLE segment.s AS SELECT 'cust-' || range AS customer_id FROM range(20000)")
        counts = build_campaign_table(conn, campaign, dt.date(2026, 3, 1))
        before = dict(conn.execute("SELECT customer_id, sub_audience FROM campaign.c").fetchall())
        assert 17_600 <= counts["treatment"] <= 18_400 and counts["treatment"] + counts["control"] == 20_000
        # half the audience leaves, new people arrive: whoever stays keeps their sub-audience
        conn.execute("CREATE OR REPLACE TABLE segment.s AS SELECT 'cust-' || range AS customer_id "
                     "FROM range(10000, 30000)")
        build_campaign_table(conn, campaign, dt.date(2026, 3, 2))
        after = dict(conn.execute("SELECT customer_id, sub_audience FROM campaign.c").fetchall())
    stayed = set(before) & set(after)
    assert len(stayed) == 10_000 and all(before[c] == after[c] for c in stayed)


def campaign_schedule_of(tenant, options: str):
    defs, built = build_audience(tenant, 5, f"""
destinations:
  - name: local_out
    url: campaigns
campaigns:
  - name: weekly_news
    segment: everyone
    sub_audiences: [{{name: all, percent: 100, destinations: [local_out]}}]
    timezone: America/New_York
    {options}
""")
    assert built.success
    return tenant.catalog(), defs


def tick(schedule, instance, local: dt.datetime):
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=local)
    return schedule.evaluate_tick(context)


def test_a_recurring_campaign_sends_from_its_start_until_n_times(tenant):
    catalog, defs = campaign_schedule_of(tenant, "recurrence: weekly\n    start: 2026-03-03T09:15:00\n    end_after: 2")
    schedule = defs.resolve_schedule_def("campaign__weekly_news__schedule")
    assert schedule.cron_schedule == campaign_cron(catalog.campaigns[0]) == "15 9 * * 2"  # Tuesdays 09:15
    assert schedule.execution_timezone == "America/New_York"
    zone = ZoneInfo("America/New_York")
    with dg.instance_for_test() as instance:
        assert "starts" in tick(schedule, instance, dt.datetime(2026, 2, 24, 9, 15, tzinfo=zone)).skip_message
        sends = []
        for day in (3, 10, 17):
            data = tick(schedule, instance, dt.datetime(2026, 3, day, 9, 15, tzinfo=zone))
            for request in data.run_requests:  # launch it as the daemon would, tagged with the schedule
                sends.append(request.tags[SEND_NUMBER_TAG])
                sent = defs.resolve_job_def("send_campaign__weekly_news").execute_in_process(
                    instance=instance, tags={**request.tags, "dagster/schedule_name": schedule.name})
                assert sent.success
        assert sends == ["1", "2"]  # the third Tuesday: "has sent 2 of 2 times"


def test_a_campaign_ends_on_its_end_date_and_an_inactive_one_never_sends(tenant):
    _, defs = campaign_schedule_of(tenant, "recurrence: daily\n    start: 2026-03-01T08:00:00\n    end_date: 2026-03-05")
    schedule = defs.resolve_schedule_def("campaign__weekly_news__schedule")
    zone = ZoneInfo("America/New_York")
    with dg.instance_for_test() as instance:
        assert len(tick(schedule, instance, dt.datetime(2026, 3, 5, 8, tzinfo=zone)).run_requests) == 1
        assert "ended" in tick(schedule, instance, dt.datetime(2026, 3, 6, 8, tzinfo=zone)).skip_message
    _, defs = campaign_schedule_of(tenant, "recurrence: daily\n    start: 2026-03-01T08:00:00\n    active: false")
    schedule = defs.resolve_schedule_def("campaign__weekly_news__schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    with dg.instance_for_test() as instance:
        assert "inactive" in tick(schedule, instance, dt.datetime(2026, 3, 2, 8, tzinfo=zone)).skip_message


def test_one_time_campaigns_send_once_at_their_time_or_as_soon_as_possible(tenant):
    _, defs = campaign_schedule_of(tenant, "start: 2026-12-24T18:00:00")
    schedule = defs.resolve_schedule_def("campaign__weekly_news__schedule")
    assert schedule.cron_schedule == "0 18 24 12 *"
    zone = ZoneInfo("America/New_York")
    with dg.instance_for_test() as instance:
        assert len(tick(schedule, instance, dt.datetime(2026, 12, 24, 18, tzinfo=zone)).run_requests) == 1
        assert tick(schedule, instance, dt.datetime(2027, 12, 24, 18, tzinfo=zone)).run_requests == []
    _, defs = campaign_schedule_of(tenant, "")
    sensor = defs.resolve_sensor_def("campaign__weekly_news__asap")
    with dg.instance_for_test() as instance:
        [request] = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs)).run_requests
    assert request.run_key == "weekly_news:once"  # Dagster launches a run key once per sensor
    assert "campaign__weekly_news" not in {j.name for j in [defs.resolve_job_def("workflow")]}
    workflow_keys = defs.resolve_job_def("workflow").asset_layer.selected_asset_keys
    assert dg.AssetKey(["campaign", "weekly_news"]) not in workflow_keys  # whole-workflow runs never send campaigns


def test_the_cli_sends_a_campaign_or_an_orchestration_group_now(tenant, webhook_server):
    import os
    import subprocess
    import sys

    _, built = build_audience(tenant, 50, CAMPAIGN.format(url=webhook_server.url) + """
orchestrations:
  - name: everyone_out
    segment: everyone
    destination: local_out
    workflow: automatic
    filename: "everyone.csv.gz"
orchestration_groups:
  - name: nightly
    orchestrations: [everyone_out]
""")
    assert built.success
    cli = [sys.executable, "-m", "workflow_platform.cli", "send", "--catalog", str(tenant.catalog_dir)]
    sent = subprocess.run([*cli, "--campaign", "spring_sale"], capture_output=True, text=True, env=os.environ,
                          timeout=300, check=False)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "campaign/spring_sale" in sent.stdout and (tenant.root / "data" / "campaigns" /
                                                     "spring_sale_treatment.csv.gz").exists()
    group = subprocess.run([*cli, "--orchestration-group", "nightly"], capture_output=True, text=True,
                           env=os.environ, timeout=300, check=False)
    assert group.returncode == 0, group.stdout + group.stderr
    assert len(read_gzip_csv(tenant.root / "data" / "campaigns" / "everyone.csv.gz")) == 50
    unknown = subprocess.run([*cli, "--campaign", "winter"], capture_output=True, text=True, env=os.environ,
                             timeout=300, check=False)
    assert unknown.returncode == 2 and "unknown campaign 'winter'; known: spring_sale" in unknown.stderr


def test_a_segment_without_customer_ids_cannot_be_split(tmp_path):
    campaign = Campaign.model_validate({"name": "c", "segment": "s", "sub_audiences": [{"name": "all", "percent": 100}]})
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        conn.execute("CREATE SCHEMA segment")
        conn.execute("CREATE TABLE segment.s AS SELECT 'a@example.org' AS email")
        with pytest.raises(CampaignSplitError, match="segment 's' has no customer_id column \\(columns: email\\)"):
            build_campaign_table(conn, campaign, dt.date(2026, 3, 1))
