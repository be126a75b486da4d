"""Courier-group sensors: the schedule window and the missing-file policy of a scheduled group.

At each schedule tick the sensor looks for every courier's files of the tick's window (listing only, it never
opens the warehouse):
- all present: launch one run of the group's job for the tick (run key `<group>:<tick>`, so never twice);
- missing, within a courier's `wait`: check again on the next evaluations;
- still missing when the wait expires: alert (error for a required file, warning for an optional one) and fail
  the courier's `expected_files_present` check; then with `stop_when_missing` launch nothing, otherwise launch
  with the couriers that have data (missing files only warn in that run);
- a file that was missing and arrives later is loaded by a catch-up run, and an alert says it came late.
A group scheduled less often than daily loads every day since its previous tick.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import dagster as dg

from workflow_platform.alerts.model import Alert
from workflow_platform.alerts.resource import AlertChannelsResource
from workflow_platform.automation.jobs import courier_group_job_name
from workflow_platform.catalog.models import Catalog, CourierGroup, GroupCourier
from workflow_platform.formats.cron import previous_tick
from workflow_platform.formats.patterns import FilePattern
from workflow_platform.ingest.collect import FILES_CHECK
from workflow_platform.ingest.couriers.landing import date_range, find_files
from workflow_platform.ingest.window import scheduled_window
from workflow_platform.keys import courier_key
from workflow_platform.settings import sensor_interval_seconds
from workflow_platform.tags import SCHEDULED_AT_TAG, SINCE_TAG, SKIP_COURIERS_TAG, SKIP_MISSING_TAG


@dataclass
class Decision:
    run_requests: list[dg.RunRequest]
    checks: list[dg.AssetCheckEvaluation]
    alerts: list[Alert]
    cursor: dict
    message: str


def _missing(catalog: Catalog, group: CourierGroup, tick: dt.datetime, since: dt.datetime | None
             ) -> dict[str, list[str]]:
    """courier -> the files it misses for the tick's window (pattern resolved per day). A location that cannot
    be searched counts as not missing: the launched run fails on it with the reason, and alerts."""
    out = {}
    for item in group.couriers:
        courier = catalog.courier(item.courier)
        days = date_range(*scheduled_window(tick, item.look_back_seconds, since, group.date_zone, group.past_day_only))
        try:
            search = find_files(courier, catalog.location(courier.location), days)
        except (ValueError, OSError):  # unreachable or unsafe landing: the run's courier step fails and says why
            continue
        if search.missing_days:
            pattern = FilePattern.parse(courier.pattern)
            out[courier.name] = [pattern.describe(d) + (f" for {d}" if d else "") for d in search.missing_days]
    return out


def decide(catalog: Catalog, group: CourierGroup, now: dt.datetime, cursor: dict) -> Decision:
    """What the group's sensor does at `now`, given its cursor (pure apart from listing the landing folders)."""
    cursor = {"handled": None, "waiting": None, "late": [], **cursor}
    settings = {c.courier: c for c in group.couriers}
    requests, alerts = _catch_up(catalog, group, settings, cursor)
    checks, notes = [], []

    # a tick still waiting for files is decided before any later one (a wait may outlast the schedule interval)
    waiting = dt.datetime.fromisoformat(cursor["waiting"]) if cursor["waiting"] else None
    tick = waiting or previous_tick(group.schedule, group.timezone, now)
    handled = dt.datetime.fromisoformat(cursor["handled"]) if cursor["handled"] else None
    if tick is None or (handled is not None and tick <= handled):
        notes.append("no new tick" if tick else "no tick within the horizon")
        return Decision(requests, checks, alerts, cursor, "; ".join(notes))

    missing = _missing(catalog, group, tick, handled)
    base_tags = {SCHEDULED_AT_TAG: tick.isoformat(), **({SINCE_TAG: handled.isoformat()} if handled else {})}
    run_key = f"{group.name}:{tick.isoformat()}"
    window = ", ".join(f"{c}: {'; '.join(m)}" for c, m in missing.items())
    if not missing:
        requests.append(dg.RunRequest(run_key=run_key, tags=base_tags))
        checks += [_check(c, True, []) for c in settings]
        cursor.update(handled=tick.isoformat(), waiting=None)
        notes.append(f"tick {tick.isoformat()}: all files present, run requested")
        return Decision(requests, checks, alerts, cursor, "; ".join(notes))

    deadline = tick.astimezone(dt.UTC) + dt.timedelta(seconds=max(settings[c].wait_seconds for c in missing))
    if now < deadline:
        cursor["waiting"] = tick.isoformat()
        notes.append(f"tick {tick.isoformat()}: waiting until {deadline.isoformat()} for {window}")
        return Decision(requests, checks, alerts, cursor, "; ".join(notes))

    stop = [c for c in missing if settings[c].stop_when_missing]
    alerts += _missing_alerts(catalog, group, settings, tick, missing, None if stop else run_key, bool(stop))
    checks += [_check(c, False, files) for c, files in missing.items()]
    checks += [_check(c, True, []) for c in settings if c not in missing]
    if stop:
        notes.append(f"tick {tick.isoformat()}: stopped, missing {window}")
    else:
        requests.append(dg.RunRequest(run_key=run_key, tags={**base_tags, SKIP_MISSING_TAG: "true"}))
        notes.append(f"tick {tick.isoformat()}: run requested without {', '.join(missing)} (missing {window})")
    cursor["late"].append({"tick": tick.isoformat(), "since": handled.isoformat() if handled else None,
                           "couriers": sorted(missing), "stopped": bool(stop)})
    cursor.update(handled=tick.isoformat(), waiting=None)
    return Decision(requests, checks, alerts, cursor, "; ".join(notes))


def _catch_up(catalog: Catalog, group: CourierGroup, settings: dict[str, GroupCourier],
              cursor: dict) -> tuple[list[dg.RunRequest], list[Alert]]:
    """Files that were missing at an earlier tick and have arrived since: a catch-up run for that tick's window
    (the cursor's `late` list is updated)."""
    requests, alerts, still_late = [], [], []
    for entry in cursor["late"]:
        tick, since = dt.datetime.fromisoformat(entry["tick"]), entry.get("since")
        since = dt.datetime.fromisoformat(since) if since else None
        arrived = [c for c in entry["couriers"] if c not in _missing(catalog, group, tick, since)]
        stopping = [c for c in entry["couriers"] if entry.get("stopped") and settings[c].stop_when_missing]
        if entry.get("stopped") and any(c not in arrived for c in stopping):
            arrived = []  # a stopped tick runs once every file it stopped for is there
        if arrived:
            # couriers that loaded at the tick are left out; after a stop, none did: the catch-up loads them all
            others = [] if entry.get("stopped") else sorted(set(settings) - set(arrived))
            tags = {SCHEDULED_AT_TAG: tick.isoformat(), SKIP_MISSING_TAG: "true",
                    **({SINCE_TAG: since.isoformat()} if since else {}),
                    **({SKIP_COURIERS_TAG: ",".join(others)} if others else {})}
            key = f"{group.name}:{tick.isoformat()}:late:{','.join(arrived)}"
            requests.append(dg.RunRequest(run_key=key, tags=tags))
            if any(settings[c].notify_when_missing for c in arrived):
                alerts.append(Alert("late_file", "warning", "courier_groups", group.name, run_key=key,
                                    cause=f"files of {', '.join(arrived)} for the {tick:%Y-%m-%d %H:%M %Z} run arrived "
                                          "after their window closed",
                                    action="nothing: a catch-up run loads them now"
                                    + (" with the other couriers' files of that run, which was stopped"
                                       if entry.get("stopped") else "")))
        left = [c for c in entry["couriers"] if c not in arrived]
        if left:
            still_late.append({**entry, "couriers": left})
    cursor["late"] = still_late[-50:]
    return requests, alerts


def _missing_alerts(catalog: Catalog, group: CourierGroup, settings: dict[str, GroupCourier], tick: dt.datetime,
                    missing: dict[str, list[str]], run_key: str | None, stopped: bool) -> list[Alert]:
    """One alert per courier still missing files after the wait (for couriers that notify)."""
    job = courier_group_job_name(group.name)
    action = (f"the group run was stopped: drop the files, and a catch-up run loads the whole tick; or, "
              f"to go on without them, run `workflow-platform launch --group {group.name} --scheduled-at "
              f"{tick.isoformat()} --skip-missing` (or launch job {job} from the UI with the tags "
              f"{SCHEDULED_AT_TAG}={tick.isoformat()} and {SKIP_MISSING_TAG}=true): it alerts and starts "
              "the orchestration groups that run after it, as a scheduled run does" if stopped else
              "the group ran with the couriers that have data; a late file is loaded by a catch-up run")
    return [Alert(  # the tick is part of the cause: the same miss at another tick alerts again
        "missing_files", "warning" if catalog.courier(name).optional else "error", "courier_groups", group.name,
        run_key=run_key,
        cause=f"courier {name}: no file matching {'; '.join(files)} (waited "
              f"{settings[name].wait} after the {tick:%Y-%m-%d %H:%M %Z} tick)",
        action=action,
    ) for name, files in missing.items() if settings[name].notify_when_missing]


def _check(courier: str, passed: bool, missing: list[str]) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(asset_key=courier_key(courier), check_name=FILES_CHECK, passed=passed,
                                   severity=dg.AssetCheckSeverity.ERROR,
                                   metadata={"missing": dg.MetadataValue.json(missing)})


def build_courier_group_sensors(catalog: Catalog) -> list[dg.SensorDefinition]:
    """One sensor per scheduled courier group; an inactive group's sensor starts stopped."""
    sensors = []
    for group in catalog.courier_groups:
        if not group.schedule:
            continue  # manual only
        sensors.append(_sensor(catalog, group))
    return sensors


def _sensor(catalog: Catalog, group: CourierGroup) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"courier_group__{group.name}__schedule",
        job_name=courier_group_job_name(group.name),
        minimum_interval_seconds=sensor_interval_seconds(),
        default_status=dg.DefaultSensorStatus.RUNNING if group.active else dg.DefaultSensorStatus.STOPPED,
        description=f"Schedule '{group.schedule}' ({group.timezone}) of courier group {group.name}: waits for missing "
                    "files, alerts, stops or continues, and catches up late files.",
    )
    def _group_sensor(context: dg.SensorEvaluationContext, alert_channels: AlertChannelsResource):
        cursor = json.loads(context.cursor) if context.cursor else {}
        decision = decide(catalog, group, dt.datetime.now(dt.UTC), cursor)
        sent = list(cursor.get("alerted", []))
        new = [a for a in decision.alerts if a.key not in sent]  # once, across evaluations and daemon restarts
        # within a time budget: run requests and the cursor never wait on a dead Slack or SMTP server; what
        # was not delivered stays in the cursor's outbox for the next evaluations
        outbox = alert_channels.send_all(new, cursor.get("outbox", []), catalog.alerts, context.log)
        decision.cursor["alerted"] = (sent + [a.key for a in new])[-500:]  # the newest keys
        decision.cursor["outbox"] = outbox
        waiting = f"; {len(outbox)} alert(s) waiting to be delivered" if outbox else ""
        return dg.SensorResult(run_requests=decision.run_requests, asset_events=decision.checks,
                               cursor=json.dumps(decision.cursor),
                               skip_reason=None if decision.run_requests else decision.message + waiting)

    return _group_sensor

