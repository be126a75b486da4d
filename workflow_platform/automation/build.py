"""The build that follows a courier group's load: Stitch, the databases and the segments with thresholds.

A courier group's job loads its couriers only. Each successful run of a `full` or `refresh` group's whole job is
followed by one run of job `build` (run key: the group run's id) over what lies downstream of the group's
couriers, tagged with the group, its run type and the group run's id; so the group's recipients hear of its
failure, the runtime threshold counts it, and an orchestration group that runs after the group starts when this
run succeeds. A run of a hand-picked subset of a group's assets is followed by nothing (launch job build by hand);
a re-execution of a group's run is followed like the run itself.

Why two runs: a Dagster job that holds Stitch also holds, as inputs, every domain table Stitch reads; a job per
courier group over that much of the asset graph made the code location slow to serve (bench/definitions_scale.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import dagster as dg

from workflow_platform.automation.jobs import (
    BUILD_JOB,
    courier_group_job_name,
    custom_domain_keys,
    ingest_keys,
    watched_segments,
)
from workflow_platform.catalog.models import Catalog
from workflow_platform.tags import (
    COURIER_GROUP_TAG,
    NOTIFY_TAG,
    PARENT_RUN_TAG,
    REFRESH_MODE_TAG,
    RUN_TYPE_TAG,
    SCHEDULED_AT_TAG,
    STITCH_MODE_TAG,
    UPSTREAM_RUN_TAG,
)

Builds = Mapping[str, Sequence[dg.AssetKey]]  # courier group -> the keys its build run materializes


def builds_after_groups(catalog: Catalog, assets: Iterable[dg.AssetsDefinition]) -> dict[str, list[dg.AssetKey]]:
    """For each full or refresh courier group, the build keys downstream of its couriers (none: no build run)."""
    children: dict[dg.AssetKey, set[dg.AssetKey]] = defaultdict(set)
    keys = set()
    for assets_def in assets:
        keys |= assets_def.keys
        for key, parents in assets_def.asset_deps.items():
            for parent in parents:
                children[parent].add(key)
    builds = {k for k in keys if k.path[0] in ("stitch", "database")}
    builds |= keys & set(watched_segments(catalog) + custom_domain_keys(catalog))
    out = {}
    for group in catalog.courier_groups:
        if group.run_type == "source":
            continue
        start = ingest_keys(catalog, [c.courier for c in group.couriers])
        seen, todo = set(start), list(start)
        while todo:
            for child in children[todo.pop()] - seen:
                seen.add(child)
                todo.append(child)
        out[group.name] = sorted(seen & builds, key=lambda k: k.to_user_string())
    return out


def follow_up(run: dg.DagsterRun, builds: Builds) -> list[dg.AssetKey]:
    """The keys the build run after `run` materializes: none unless `run` ran a courier group's whole job (or
    re-executed a run of it: from asset failure, Dagster selects only what failed)."""
    group = run.tags.get(COURIER_GROUP_TAG)
    if run.job_name != courier_group_job_name(group or "") or not _whole(run) or run.tags.get(RUN_TYPE_TAG) == "source":
        return []  # a run launched with run_type source (Amperity's run_mode) loads only
    return list(builds.get(group, []))


def _whole(run: dg.DagsterRun) -> bool:
    return not run.asset_selection or PARENT_RUN_TAG in run.tags


def build_run_tags(run: dg.DagsterRun) -> dict[str, str]:
    """The tags of the build run after a courier group's run: the group, its run type, the group run's id (and
    its tick, refresh mode, Stitch mode and alert subscribers, when it has them)."""
    tags = {COURIER_GROUP_TAG: run.tags[COURIER_GROUP_TAG], RUN_TYPE_TAG: run.tags.get(RUN_TYPE_TAG, "full"),
            UPSTREAM_RUN_TAG: run.run_id}
    for carried in (SCHEDULED_AT_TAG, REFRESH_MODE_TAG, STITCH_MODE_TAG, NOTIFY_TAG):
        if carried in run.tags:
            tags[carried] = run.tags[carried]
    return tags


def completes_workflow(run: dg.DagsterRun, builds: Builds) -> bool:
    """Whether `run` is the last run of a courier group's workflow: its build run, or a whole-job group run that
    no build follows."""
    if run.job_name == BUILD_JOB:
        return COURIER_GROUP_TAG in run.tags
    group = run.tags.get(COURIER_GROUP_TAG)
    return (group is not None and run.job_name == courier_group_job_name(group) and _whole(run)
            and not builds.get(group))


def build_follow_sensor(catalog: Catalog, jobs: Mapping[str, dg.UnresolvedAssetJobDefinition], builds: Builds
                        ) -> dg.SensorDefinition | None:
    """One sensor: after each successful whole-job run of a full or refresh group, the group's build run."""
    groups = [name for name, keys in builds.items() if keys]
    if not groups or BUILD_JOB not in jobs:
        return None

    @dg.run_status_sensor(
        name="courier_groups__build",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[jobs[courier_group_job_name(name)] for name in groups],
        request_job=jobs[BUILD_JOB],
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="After each successful run of a full or refresh courier group: one run of job build (Stitch, "
                    "the databases, the segments with thresholds) over what lies downstream of its couriers.",
    )
    def _build_after(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        keys = follow_up(run, builds)
        if not keys:
            return None  # a hand-picked selection: no build follows; on to the next run in this tick
        return dg.RunRequest(run_key=run.run_id, asset_selection=keys, tags=build_run_tags(run))

    return _build_after
