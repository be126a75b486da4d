"""Duration thresholds of courier groups: a Dagster freshness policy on the group's assets, a warning while a
run is still going past its threshold, and an alert when a freshness state turns WARN or FAIL."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg

from workflow_platform.alerts.model import Alert, subscribers_of
from workflow_platform.alerts.resource import AlertChannelsResource
from workflow_platform.automation.jobs import ingest_keys
from workflow_platform.catalog.models import Catalog, CourierGroup, duration_seconds
from workflow_platform.settings import sensor_interval_seconds
from workflow_platform.tags import COURIER_GROUP_TAG


def build_runtime_sensors(catalog: Catalog) -> list[dg.SensorDefinition]:
    groups = [g for g in catalog.courier_groups if g.runtime_threshold]
    if not groups:
        return []

    @dg.sensor(
        name="courier_group_runtime_alerts",
        minimum_interval_seconds=sensor_interval_seconds(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Warns the courier-group recipients once when a group's run is still going past its runtime "
                    "threshold (the run is not stopped), and when a group's freshness turns WARN or FAIL.",
    )
    def runtime_alerts(context: dg.SensorEvaluationContext, alert_channels: AlertChannelsResource):
        cursor = {"alerted": [], "freshness": {}, "outbox": [],
                  **(json.loads(context.cursor) if context.cursor else {})}
        alerted = list(cursor["alerted"])
        now = dt.datetime.now(dt.UTC).timestamp()
        notes, alerts = [], []
        for group in groups:
            threshold = duration_seconds(group.runtime_threshold)
            # the group's runs and the build runs that follow them (tagged with the group)
            runs = context.instance.get_run_records(dg.RunsFilter(tags={COURIER_GROUP_TAG: group.name},
                                                                  statuses=[dg.DagsterRunStatus.STARTED]))
            for record in runs:
                started = record.start_time or record.create_timestamp.timestamp()
                key = f"runtime:{record.dagster_run.run_id}"
                if now - started > threshold and key not in alerted:
                    alert = Alert("runtime_exceeded", "warning", "courier_groups", group.name,
                                  run_id=record.dagster_run.run_id, subscribers=subscribers_of(record.dagster_run),
                                  cause=f"the run has been going for {int((now - started) // 60)} min, over the "
                                        f"{group.runtime_threshold} threshold",
                                  action="open the run to see which step is slow; it keeps running")
                    alerts.append(alert)
                    alerted.append(key)
                    notes.append(f"{group.name}: runtime warning for {record.dagster_run.run_id}")
            notes += _freshness_transitions(context, catalog, group, cursor["freshness"], alerts)
        cursor["alerted"] = alerted[-500:]  # the newest keys
        cursor["outbox"] = alert_channels.send_all(alerts, cursor["outbox"], catalog.alerts, context.log)
        if cursor["outbox"]:
            notes.append(f"{len(cursor['outbox'])} alert(s) waiting to be delivered")
        context.update_cursor(json.dumps(cursor))
        return dg.SkipReason("; ".join(notes) or "no run over its threshold, no freshness change")

    return [runtime_alerts]


def _freshness_transitions(context, catalog: Catalog, group: CourierGroup, seen: dict,
                           alerts: list[Alert]) -> list[str]:
    """Alert once per transition of a group asset's freshness state to WARN or FAIL (state kept in `seen`): the
    alert is added to `alerts`."""
    keys = ingest_keys(catalog, [c.courier for c in group.couriers])
    try:  # get_freshness_state_records is not @public in Dagster 1.13: pinned, and covered by a test
        records = context.instance.get_freshness_state_records(keys) if keys else {}
    except Exception as exc:  # noqa: BLE001 - a storage without freshness support: no freshness alerts
        return [f"freshness unavailable: {exc}"]
    turned = {}
    for key, record in records.items():
        name, state = key.to_user_string(), record.freshness_state.value
        if state != seen.get(name) and state in ("WARN", "FAIL"):
            turned[name] = state
        seen[name] = state
    if not turned:
        return []
    worst = "FAIL" if "FAIL" in turned.values() else "WARN"
    alert = Alert("freshness", "error" if worst == "FAIL" else "warning", "courier_groups", group.name,
                  cause=f"{', '.join(f'{n} {s}' for n, s in sorted(turned.items()))}: not refreshed within the "
                        f"group's {group.runtime_threshold} threshold",
                  action="check the group's last run and its schedule sensor")
    alerts.append(alert)  # one per group
    return [f"{group.name} freshness {worst} ({len(turned)} assets)"]
