"""`workflow-platform`: validate a catalog, run the workflow headless or launch it onto the running instance,
generate demo data.

Each command imports what it runs inside its function (the runner loads Dagster, ~2 s; stitch-report loads Splink):
`--help` and `validate` answer in about 0.5 s."""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from workflow_platform import settings
from workflow_platform.catalog.loader import CatalogInvalid, load_catalog

console = Console(soft_wrap=True, emoji=False)
err_console = Console(stderr=True, soft_wrap=True, emoji=False)


def _load(catalog_dir: Path):
    try:
        return load_catalog(catalog_dir)
    except CatalogInvalid as exc:
        for error in exc.errors:
            err_console.print(f"[red]error[/red] {escape(str(error))}", highlight=False)
        err_console.print(f"{len(exc.errors)} error(s) in catalog {catalog_dir}", highlight=False)
        sys.exit(1)


@click.group()
def main() -> None:
    """workflow_platform: automated customer-data workflows on Dagster and DuckDB."""


@main.command()
@click.argument("catalog_dir", required=False, type=click.Path(path_type=Path))
def validate(catalog_dir: Path | None) -> None:
    """Check a catalog folder; print every error (file:line: field: message) and exit 1 if any."""
    catalog_dir = catalog_dir or settings.catalog_dir()
    catalog = _load(catalog_dir)
    console.print(
        f"catalog {catalog.tenant!r} is valid: {len(catalog.couriers)} couriers, {len(catalog.feeds)} feeds, "
        f"{len(catalog.custom_domain_tables)} custom domain tables, {len(catalog.databases)} databases, {len(catalog.segments)} segments, "
        f"{len(catalog.destinations)} destinations, {len(catalog.orchestrations)} orchestrations, "
        f"{len(catalog.campaigns)} campaigns, {len(catalog.courier_groups)} courier groups, "
        f"{len(catalog.orchestration_groups)} orchestration groups",
        highlight=False,
    )


def _window(date: dt.date | None, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date] | None:
    if date and (start or end):
        raise click.UsageError("use --date or --from/--to, not both")
    if date:
        return date, date
    if start or end:
        if not (start and end):
            raise click.UsageError("--from and --to go together (--to is exclusive)")
        if end <= start:
            raise click.UsageError("--to must be after --from (it is exclusive)")
        return start, end - dt.timedelta(days=1)
    return None


def run_options(command):
    """The options `run` and `launch` share: the run's days and its overrides (automation/run_tags.py)."""
    options = [
        click.option("--date", type=click.DateTime(["%Y-%m-%d"]), help="load files of this day"),
        click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="first day (inclusive)"),
        click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="last day (exclusive)"),
        click.option("--all-data", is_flag=True, help="every file the couriers' dated patterns match, on any date "
                                                      "(no --date)"),
        click.option("--skip-missing", is_flag=True, help="a missing required file only warns"),
        click.option("--error-threshold", type=click.FloatRange(0, 100),
                     help="override every feed's error threshold (percent) for this run only"),
        click.option("--skip-courier", "skip_couriers", multiple=True,
                     help="leave this courier out of this run (repeatable)"),
        click.option("--refresh-mode", type=click.Choice(["express", "normal", "full"]),
                     help="what the build rebuilds: express (tables whose inputs changed), normal (also tables whose "
                          "SQL reads the clock; the default), full (every table)"),
        click.option("--notify", help="this run's own alert subscribers, e.g. 'me@acme.example,#oncall' (failure, "
                                      "success, cancel, runtime, query thresholds, refused files)"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@main.command()
@click.option("--catalog", "catalog_dir", type=click.Path(path_type=Path), help="catalog folder")
@click.option("--group", help="run one courier group's job instead of the whole workflow")
@click.option("--ingest-only", is_flag=True, help="couriers, feeds and domain tables only")
@run_options
@click.option("--verbose", is_flag=True, help="show Dagster's step logs")
def run(catalog_dir, date, start, end, group, ingest_only, skip_missing, error_threshold, skip_couriers,
        notify, all_data, refresh_mode, verbose) -> None:
    """Materialize the workflow in-process for a day or a date range and print a summary.

    Headless: no Dagster services needed. The run is not queued, the alert sensors do not see it and no
    orchestration group starts after it (a group's build run is run here); `launch` submits the same run to
    the running instance instead."""
    from workflow_platform.runner import run_workflow

    catalog_dir = catalog_dir or settings.catalog_dir()
    catalog = _load(catalog_dir)
    window = _window(date and date.date(), start and start.date(), end and end.date())
    try:
        outcome = run_workflow(catalog, window=window, group=group, ingest_only=ingest_only, skip_missing=skip_missing,
                               error_threshold=error_threshold, skip_couriers=list(skip_couriers),
                               refresh_mode=refresh_mode, all_data=all_data, notify=notify, log_level="INFO" if verbose else "CRITICAL")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    build = f" + build run {outcome.build_run_id[:8]}" if outcome.build_run_id else ""
    _print_outcome(outcome, f"{catalog.tenant}: run {outcome.run_id[:8]}{build} ({outcome.window_text})")
    console.print(f"warehouse: {outcome.warehouse}", highlight=False)
    sys.exit(0 if outcome.success else 1)


_KEY = re.compile(r"(?P<key>[a-z_]+)=|(?P<missing>missing): ")
_NEXT = re.compile(r", (?:[a-z_]+=|missing: )")
_TABLE = re.compile(r"\|[^\n]*\|(?:\n\|[^\n]*\|)*")  # a markdown table: lines from | to |


def _detail_items(detail: str) -> list[tuple[str, str]]:
    """The runner's detail of an asset (`key=value, key=value, missing: a; b`, a value possibly a markdown table)
    as (key, value) pairs; text it cannot read comes back whole under the key ""."""
    items: list[tuple[str, str]] = []
    pos = 2 if detail.startswith(", ") else 0  # only `missing: ...` (the runner appends it with ", ")
    while pos < len(detail):
        found = _KEY.match(detail, pos)
        if not found:
            items.append(("", detail[pos:]))
            break
        key, start = found["key"] or "missing", found.end()
        table = _TABLE.match(detail, start) if key != "missing" else None
        if table:
            end = table.end()
        else:
            following = _NEXT.search(detail, start)
            end = following.start() if following else len(detail)
        items.append((key, detail[start:end]))
        pos = end + 2 if detail.startswith(", ", end) else end
    return items


def _number(value: str) -> str:
    return f"{int(value):,}" if value.isdigit() else value


def _files_lines(key: str, table: str) -> list[str]:
    """A markdown table of files as a count, then one line for each file that was not simply loaded (its status,
    its rejected rows); the asset's metadata in the UI has the whole table."""
    lines = [line.strip().strip("|").split("|") for line in table.splitlines() if line.strip().startswith("|")]
    header = [cell.strip() for cell in lines[0]] if lines else []
    rows = [dict(zip(header, (cell.strip() for cell in line), strict=False)) for line in lines[2:]]
    out = [f"{key}: {len(rows):,}"]
    for row in rows:
        notes = [row["status"]] if row.get("status") not in (None, "", "loaded") else []
        if row.get("rejected") not in (None, "", "0"):
            notes.append(f"{_number(row['rejected'])} rows rejected")
        if notes:
            out.append(f"  {row.get('file', '?')}: {', '.join(notes)}")
    return out


def _detail_lines(detail: str) -> list[str]:
    """An asset's detail as lines: the plain values on one line, then the files, then what is missing."""
    plain, lines, missing = [], [], []
    for key, value in _detail_items(detail):
        if key == "missing":
            missing.append(f"missing: {value}")
        elif key == "":
            lines.append(value)
        elif value.startswith("|") or value == "(none)":
            lines += _files_lines(key, value) if value.startswith("|") else [f"{key}: 0"]
        else:
            plain.append(f"{key}={_number(value)}")
    return ([", ".join(plain)] if plain else []) + lines + missing


def _print_outcome(outcome, title: str) -> None:
    """One line per materialized asset with its rows aligned and its details indented below it, then the refused
    files and the failed steps. Only keys, counts, file names and reasons: never a customer's values."""
    assets = len(outcome.rows)
    verdict = "succeeded" if outcome.success else "FAILED"
    console.print(f"{title}: {verdict}, {assets} asset{'' if assets == 1 else 's'} materialized", highlight=False,
                  markup=False)
    if outcome.rows:
        width = max(len("asset"), *(len(row.key) for row in outcome.rows))
        counts = ["-" if row.rows is None else f"{row.rows:,}" for row in outcome.rows]
        digits = max(len("rows"), *(len(count) for count in counts))
        console.print(f"  {'asset':<{width}}  {'rows':>{digits}}", highlight=False, markup=False)
        for row, count in zip(outcome.rows, counts, strict=True):
            console.print(f"  {row.key:<{width}}  {count:>{digits}}", highlight=False, markup=False)
            for line in _detail_lines(row.detail):
                console.print(f"      {line}", highlight=False, markup=False)
    if outcome.refused:
        err_console.print(f"refused files ({len(outcome.refused)}), moved to quarantine or rejected:", highlight=False,
                          markup=False)
    for refused in outcome.refused:
        err_console.print(f"  [yellow]refused[/yellow] {escape(refused)}", highlight=False)
    if outcome.failures:
        err_console.print(f"failed steps ({len(outcome.failures)}):", highlight=False, markup=False)
    for failure in outcome.failures:
        err_console.print(f"  [red]failed[/red] {escape(failure)}", highlight=False)


@main.command()
@click.option("--catalog", "catalog_dir", type=click.Path(path_type=Path), help="catalog folder")
@click.option("--group", help="launch this courier group's job (its build run and run_after groups follow)")
@click.option("--orchestration-group", help="launch this orchestration group's job")
@click.option("--campaign", help="launch this campaign's send")
@click.option("--scheduled-at", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]),
              help="load the window of this schedule tick (as an alert names it), e.g. 2026-12-07T06:00:00-08:00")
@click.option("--run-type", type=click.Choice(["full", "refresh", "source"]),
              help="narrow this run: refresh (no activations after it), source (no build after it)")
@run_options
@click.option("--url", help="the Dagster webserver (default: WORKFLOW_PLATFORM_UI_URL, else http://127.0.0.1:3000)")
@click.option("--wait", is_flag=True, help="wait for the run to finish and exit 1 unless it succeeds")
@click.option("--timeout", type=float, default=3600, show_default=True, help="seconds --wait waits")
def launch(catalog_dir, group, orchestration_group, campaign, date, start, end, all_data, scheduled_at, run_type,
           skip_missing, error_threshold, skip_couriers, refresh_mode, notify, url, wait, timeout) -> None:
    """Launch a run onto the running Dagster instance (webserver + daemon), as the UI does: it is queued,
    alerted, and followed by what follows a scheduled run. `run` instead runs in this process, without them."""
    from workflow_platform.alerts.model import ui_url
    from workflow_platform.automation.jobs import (
        campaign_job_name,
        courier_group_job_name,
        orchestration_group_job_name,
    )
    from workflow_platform.automation.run_tags import run_tags
    from workflow_platform.formats.cron import previous_tick
    from workflow_platform.launch import LaunchError, launch_run, wait_for_run

    targets = [(g, "courier_groups", courier_group_job_name) for g in [group] if g]
    targets += [(g, "orchestration_groups", orchestration_group_job_name) for g in [orchestration_group] if g]
    targets += [(c, "campaigns", campaign_job_name) for c in [campaign] if c]
    if len(targets) != 1:
        raise click.UsageError("give exactly one of --group, --orchestration-group and --campaign")
    [(name, section, job_name)] = targets
    catalog = _load(catalog_dir or settings.catalog_dir())
    names = [entry.name for entry in getattr(catalog, section)]
    if name not in names:
        raise click.UsageError(f"unknown {section[:-1].replace('_', ' ')} {name!r}; known: {', '.join(names) or 'none'}")
    window = _window(date and date.date(), start and start.date(), end and end.date())
    since = None
    if scheduled_at and scheduled_at.tzinfo and group:  # the window widens back to the tick before, as scheduled
        schedule = next(g for g in catalog.courier_groups if g.name == group)
        if schedule.schedule:
            since = previous_tick(schedule.schedule, schedule.timezone, scheduled_at - dt.timedelta(seconds=1))
    try:
        tags = run_tags(catalog, window, skip_missing=skip_missing, error_threshold=error_threshold,
                        skip_couriers=list(skip_couriers), refresh_mode=refresh_mode, all_data=all_data,
                        run_type=run_type, scheduled_at=scheduled_at, since=since, notify=notify)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    target = (url or ui_url()).rstrip("/")
    try:
        launched = launch_run(target, job_name(name), tags)
        console.print(f"launched run {launched.run_id} of {launched.job}: {launched.url}", highlight=False)
        if not wait:
            sys.exit(0)
        status = wait_for_run(target, launched.run_id, timeout)
    except LaunchError as exc:
        err_console.print(f"[red]error[/red] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    builds = group and status == "SUCCESS" and (run_type or next(g.run_type for g in catalog.courier_groups
                                                              if g.name == group)) != "source"
    follows = " (its build run follows, launched by sensor courier_groups__build)" if builds else ""
    console.print(f"run {launched.run_id}: {status}{follows}", highlight=False)
    sys.exit(0 if status == "SUCCESS" else 1)


@main.command()
@click.option("--catalog", "catalog_dir", type=click.Path(path_type=Path), help="catalog folder")
@click.option("--orchestration-group", "group", help="send this orchestration group's orchestrations")
@click.option("--campaign", help="split and send this campaign")
@click.option("--verbose", is_flag=True, help="show Dagster's step logs")
def send(catalog_dir, group, campaign, verbose) -> None:
    """Rebuild the segments and send an orchestration group or a campaign now, in-process."""
    from workflow_platform.automation.jobs import campaign_job_name, orchestration_group_job_name
    from workflow_platform.runner import run_workflow

    if bool(group) == bool(campaign):
        raise click.UsageError("give exactly one of --orchestration-group and --campaign")
    catalog = _load(catalog_dir or settings.catalog_dir())
    section, name = ("orchestration_groups", group) if group else ("campaigns", campaign)
    names = [entry.name for entry in getattr(catalog, section)]
    if name not in names:
        raise click.UsageError(f"unknown {section[:-1].replace('_', ' ')} {name!r}; known: {', '.join(names) or 'none'}")
    job = orchestration_group_job_name(name) if group else campaign_job_name(name)
    outcome = run_workflow(catalog, job_name=job, log_level="INFO" if verbose else "CRITICAL")
    _print_outcome(outcome, f"{catalog.tenant}: run {outcome.run_id[:8]} of {job}")
    sys.exit(0 if outcome.success else 1)


@main.command()
@click.argument("feed")
@click.option("--catalog", "catalog_dir", type=click.Path(path_type=Path), help="catalog folder")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def truncate(feed, catalog_dir, yes) -> None:
    """Drop a feed's domain table so its next load starts empty (e.g. after a schema change)."""
    from workflow_platform.ingest.domain.merge import drop_domain_table
    from workflow_platform.resources import WarehouseResource

    catalog = _load(catalog_dir or settings.catalog_dir())
    if feed not in {f.name for f in catalog.feeds}:
        raise click.UsageError(f"unknown feed {feed!r}; feeds: {', '.join(f.name for f in catalog.feeds)}")
    warehouse = WarehouseResource.from_settings()  # the file, or the DuckLake the environment names
    if not yes:
        where = warehouse.lake_catalog if warehouse.kind == "ducklake" else warehouse.database
        click.confirm(f"Drop domain.{feed} in {where}?", abort=True)
    with warehouse.get_connection() as conn:  # waits for a run
        rows = drop_domain_table(conn, catalog.feed(feed), [c.name for c in catalog.couriers_of_feed(feed)])
    console.print(f"dropped domain.{feed} ({rows:,} rows)", highlight=False)


@main.command("stitch-report")
@click.option("--warehouse", type=click.Path(path_type=Path), help="warehouse file [default: <data>/warehouse.duckdb]")
def stitch_report(warehouse: Path | None) -> None:
    """Print the QA of the last Stitch run: records, pairs, clusters, sizes, id churn, time per phase."""
    import duckdb

    from workflow_platform.stitch.qa import last_qa, report

    if warehouse is None and settings.warehouse_kind() == "ducklake":
        from workflow_platform.resources import WarehouseResource

        with WarehouseResource.from_settings().get_connection() as conn:
            qa = last_qa(conn)
        if qa is None:
            err_console.print("no Stitch run recorded in the DuckLake", highlight=False)
            sys.exit(1)
        print(report(qa))
        return
    path = warehouse or settings.warehouse_path()
    if not path.exists():
        err_console.print(f"no warehouse at {path}", highlight=False)
        sys.exit(1)
    try:
        with duckdb.connect(str(path), read_only=True) as conn:
            qa = last_qa(conn)
    except duckdb.IOException as exc:  # a run holds the write lock
        err_console.print(f"cannot read {path}: {exc}", highlight=False)
        sys.exit(1)
    if qa is None:
        err_console.print(f"no Stitch run recorded in {path}", highlight=False)
        sys.exit(1)
    print(report(qa))


@main.command("demo-data")
@click.option("--days", default=7, show_default=True, help="number of days of files, ending yesterday")
@click.option("--customers", default=1000, show_default=True, help="number of people")
@click.option("--out", type=click.Path(path_type=Path), help="landing folder [default: <data>/landing]")
@click.option("--seed", default=42, show_default=True)
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), help="last day [default: yesterday, UTC]")
@click.option("--late-day", type=click.DateTime(["%Y-%m-%d"]),
              help="hold this day's web-shop customer file back in late/ beside the landing folder (a late file)")
@click.option("--deliver-late", is_flag=True, help="write nothing: move the held-back files into the landing folder")
def demo_data(days, customers, out, seed, end, late_day, deliver_late) -> None:
    """Write dated landing files for the demo catalog, plus ground_truth.csv for Stitch evaluation.

    The first day's order files also carry the year before (so some customers are lapsed), one inner day's
    optional web-order file is left out, and with --late-day one file waits in late/ for --deliver-late."""
    from workflow_platform.demo import generate

    out = out or settings.data_dir() / "landing"
    late_dir = out.parent / "late"
    if deliver_late:
        moved = generate.deliver_late(late_dir, out)
        for relative in moved:
            console.print(f"delivered {relative} to {out}", highlight=False)
        console.print(f"nothing held back in {late_dir}" if not moved else
                      "the courier group's sensor loads it at its next evaluation: in a catch-up run (and a 'late "
                      "file' alert) if it had reported the file missing", highlight=False)
        return
    summary = generate.generate_demo_data(out, days=days, customers=customers, seed=seed, end=end and end.date(),
                                 progress=True, late_day=late_day and late_day.date(), late_dir=late_dir)
    rows = ", ".join(f"{feed}: {count:,}" for feed, count in summary.rows.items())
    console.print(f"wrote {len(summary.files)} files to {out} for {summary.start} .. {summary.end} ({rows}); "
                  f"ground truth: {summary.truth_path}", highlight=False)
    console.print(f"  order history: the first day's order files also hold the year before; {summary.lapsed:,} of "
                  f"{summary.people:,} people last ordered more than {generate.LAPSED_AFTER_DAYS} days before "
                  f"{summary.end + dt.timedelta(days=1)} (segment lapsed_customers)", highlight=False)
    for relative in summary.left_out:
        console.print(f"  left out (a missing optional file): {relative}", highlight=False)
    for relative in summary.late:
        console.print(f"  held back (a late file): {relative} in {summary.late_dir}; deliver it with "
                      "`workflow-platform demo-data --deliver-late`", highlight=False)


if __name__ == "__main__":
    main()
