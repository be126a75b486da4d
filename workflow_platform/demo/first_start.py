"""`make run`'s first start on the demo tenant: write the demo days and load them once, with markers in the data
folder so that an interrupted first start is never mistaken for a finished one.

`python -m workflow_platform.demo.first_start [--days 7] [--customers 2000] [--dagster-home DIR]` looks at the
data folder (`WORKFLOW_PLATFORM_DATA`, else `data/` of the checkout) and does one of:

- `.demo-loaded` is there: the first start finished before; nothing to do (says so).
- `.demo-loading` is there without `.demo-loaded`: an earlier first start was interrupted (or its load failed).
  It starts over: what that start wrote is removed (landing/, late/, exports/, the warehouse and, with
  `--dagster-home`, that instance's runs and logs; its dagster.yaml stays), then the first start runs again.
- neither, but landing/ holds files: data the first start did not write (a checkout from before these markers, or
  your own files). Nothing is touched; it says so and names the commands to start over or to keep them.
- neither: the first start. It writes `.demo-loading`, runs `workflow-platform demo-data` for the days ending
  yesterday (UTC) and `workflow-platform run` over them (`--skip-missing`: the demo's late file is not there yet),
  and writes `.demo-loaded` only when both succeeded.

The demo's late file is the web-shop customer extract of the day the courier group's sensor checks first, held
back in late/ until `workflow-platform demo-data --deliver-late` (`make deliver-late`) delivers it.

With another catalog (`WORKFLOW_PLATFORM_CATALOG`), no demo data is written."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from workflow_platform import settings
from workflow_platform.catalog.loader import load_catalog
from workflow_platform.catalog.models import Catalog
from workflow_platform.formats.cron import previous_tick
from workflow_platform.ingest.window import scheduled_window

LOADED = ".demo-loaded"
LOADING = ".demo-loading"
LATE_COURIER = "ecommerce_customers"  # the generator holds back this courier's file of the late day
# the daemon evaluates the sensors a minute or two after the first start: a tick due by then is the one it checks
FIRST_EVALUATION = dt.timedelta(minutes=10)
WRITTEN = ("landing", "late", "exports")  # folders of the data folder a first start writes


def state(data: Path) -> str:
    """`loaded`, `interrupted`, `foreign` (landing files without markers) or `fresh`."""
    if (data / LOADED).is_file():
        return "loaded"
    if (data / LOADING).is_file():
        return "interrupted"
    landing = data / "landing"
    if landing.is_dir() and any(p.is_file() for p in landing.rglob("*")):
        return "foreign"
    return "fresh"


def late_day(catalog: Catalog, start: dt.date, end: dt.date, now: dt.datetime) -> dt.date | None:
    """The last day of the window the sensor of LATE_COURIER's scheduled group checks at its first evaluation (the
    latest tick at or before `now` + FIRST_EVALUATION); None when no active scheduled group has the courier or the
    day is outside `start` .. `end`."""
    for group in catalog.courier_groups:
        item = next((c for c in group.couriers if c.courier == LATE_COURIER), None)
        if item is None or not group.schedule or not group.active:
            continue
        tick = previous_tick(group.schedule, group.timezone, now + FIRST_EVALUATION)
        if tick is None:
            return None
        day = scheduled_window(tick, item.look_back_seconds, zone=group.date_zone)[1]
        return day if start <= day <= end else None
    return None


def remove_first_start(data: Path, dagster_home: Path | None) -> list[str]:
    """Remove what a first start writes: the data folder's landing/, late/, exports/, the warehouse, the markers,
    and the contents of `dagster_home` but its dagster.yaml. The removed paths."""
    warehouse = settings.warehouse_path()
    paths = [data / name for name in WRITTEN] + [warehouse, Path(f"{warehouse}.wal"), Path(f"{warehouse}.tmp")]
    if dagster_home is not None and dagster_home.is_dir():
        paths += [p for p in sorted(dagster_home.iterdir()) if p.name != "dagster.yaml"]
    paths += [data / LOADED, data / LOADING]
    removed = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(str(path))
    return removed


def _say(message: str) -> None:
    print(f"workflow_platform: {message}", flush=True)


def _run(command: list[str]) -> tuple[int, float]:
    _say("$ workflow-platform " + " ".join(command))
    began = time.monotonic()
    code = subprocess.run([sys.executable, "-m", "workflow_platform.cli", *command], check=False).returncode
    return code, time.monotonic() - began


def first_start(data: Path, days: int, customers: int, seed: int, now: dt.datetime | None = None) -> int:
    """Write the demo days ending yesterday (UTC) and load them; `.demo-loaded` only when both succeeded."""
    now = now or dt.datetime.now(dt.UTC)
    end = now.astimezone(dt.UTC).date() - dt.timedelta(days=1)  # the generator's default_end() at `now`
    start = end - dt.timedelta(days=days - 1)
    late = late_day(load_catalog(settings.catalog_dir()), start, end, now)
    data.mkdir(parents=True, exist_ok=True)
    record = {"started_at": now.isoformat(timespec="seconds"), "days": days, "customers": customers, "seed": seed,
              "start": start.isoformat(), "end": end.isoformat(), "late_day": late and late.isoformat()}
    (data / LOADING).write_text(json.dumps(record, indent=2) + "\n")
    _say(f"first start: writing {days} demo days ({start} .. {end}, {customers:,} people) to {data / 'landing'} "
         "and loading them once")
    generate = ["demo-data", "--days", str(days), "--customers", str(customers), "--seed", str(seed),
                "--end", end.isoformat(), *(["--late-day", late.isoformat()] if late else [])]
    code, generated = _run(generate)
    if code:
        _say(f"writing the demo data failed (exit {code}); `make run` starts over next time")
        return code
    load = ["run", "--from", start.isoformat(), "--to", (end + dt.timedelta(days=1)).isoformat(), "--skip-missing"]
    code, loaded = _run(load)
    if code:
        _say(f"the first load failed (exit {code}, its summary is above); {data / LOADED} is not written, so "
             "`make run` starts over next time")
        return code
    record.update(loaded_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                  seconds={"demo_data": round(generated, 1), "first_load": round(loaded, 1)})
    (data / LOADED).write_text(json.dumps(record, indent=2) + "\n")
    (data / LOADING).unlink()
    _say(f"first start done: demo data {generated:.0f} s, first load {loaded:.0f} s (recorded in {data / LOADED})")
    if late:
        _say(f"held back for the late-file story: ecommerce/customers_{late:%Y%m%d}.csv in {data / 'late'}; once "
             "the sensor courier_group__daily_sources__schedule reports it missing, deliver it: `make deliver-late`")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workflow_platform.demo.first_start", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=7, help="demo days, ending yesterday (UTC) [7]")
    parser.add_argument("--customers", type=int, default=2000, help="people [2000]")
    parser.add_argument("--seed", type=int, default=42, help="[42]")
    parser.add_argument("--dagster-home", type=Path, help="the Dagster home whose runs an interrupted first start "
                        "left are removed when starting over (its dagster.yaml stays)")
    args = parser.parse_args(argv)
    if settings.catalog_dir().resolve() != settings.DEMO_CATALOG.resolve():
        _say(f"catalog {settings.catalog_dir()} is not the demo tenant: no demo data written")
        return 0
    data = settings.data_dir()
    found = state(data)
    if found == "loaded":
        _say(f"demo data loaded at the first start ({data / LOADED}); `make reset` starts over")
        return 0
    if found == "foreign":
        _say(f"{data / 'landing'} holds files but no first start of the demo was recorded ({data / LOADED} is "
             "missing), so nothing is written or loaded now. To start the demo over (this removes those files, "
             f"the warehouse and the runs): `make reset && make run`. To keep these files as they are: "
             f"`touch {data / LOADED}`.")
        return 0
    if found == "interrupted":
        try:
            began = json.loads((data / LOADING).read_text()).get("started_at", "an earlier time")
        except (ValueError, AttributeError):
            began = "an earlier time"
        _say(f"the first start at {began} did not finish ({data / LOADING} without {data / LOADED}): starting it "
             "over")
        for path in remove_first_start(data, args.dagster_home):
            _say(f"removed {path}")
    if args.dagster_home is not None:
        os.environ.setdefault("DAGSTER_HOME", str(args.dagster_home.resolve()))
    return first_start(data, args.days, args.customers, args.seed)


if __name__ == "__main__":
    sys.exit(main())
