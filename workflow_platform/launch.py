"""Launch a run onto the running Dagster instance through the webserver's GraphQL API (dagster-graphql's client,
as the UI's launchpad does). The run is queued, started by the daemon, alerted like any run, and starts what
follows it: the build run after a courier group's run, the orchestration groups that `run_after` the group.
`workflow-platform run` is the in-process alternative for machines without the services; it does none of that.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass

import requests
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


class LaunchError(Exception):
    """The run could not be launched or followed; the message says why and what to check."""


@dataclass(frozen=True)
class Launched:
    run_id: str
    job: str
    url: str  # the run's page in the UI


def client_for(url: str, timeout: int = 60) -> DagsterGraphQLClient:
    """A GraphQL client of the webserver at `url` (http[s]://host[:port][/prefix])."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LaunchError(f"webserver URL {url!r}: expected http://host:port (WORKFLOW_PLATFORM_UI_URL or --url)")
    return DagsterGraphQLClient(parts.hostname, port_number=parts.port, use_https=parts.scheme == "https",
                                timeout=timeout, path_prefix=parts.path.rstrip("/"))


def launch_run(url: str, job: str, tags: dict[str, str]) -> Launched:
    """Submit one run of `job` with `tags` to the instance behind the webserver at `url`."""
    client = client_for(url)
    reachable(url)
    try:
        run_id = client.submit_job_execution(job, tags=tags)
    except DagsterGraphQLClientError as exc:
        parts = [str(a).strip().splitlines()[0] for a in exc.args if str(a).strip()]
        detail = ": ".join(parts) or type(exc).__name__
        if "JobNotFound" in detail or "No job" in detail or "not found" in detail.lower():
            detail = f"the instance has no job {job!r} (is the webserver serving this catalog?)"
        raise LaunchError(f"the webserver refused the run of {job}: {detail}") from exc
    return Launched(run_id, job, f"{url.rstrip('/')}/runs/{run_id}")


def reachable(url: str) -> None:
    """LaunchError unless a Dagster webserver answers at `url` (its /server_info)."""
    try:
        requests.get(f"{url.rstrip('/')}/server_info", timeout=10).raise_for_status()
    except requests.exceptions.RequestException as exc:
        raise LaunchError(f"no Dagster webserver answers at {url}: start the services (make run) or give --url; "
                          "`workflow-platform run` runs in this process instead") from exc


def wait_for_run(url: str, run_id: str, timeout: float, poll: float = 2.0) -> str:
    """The run's final status (SUCCESS, FAILURE, CANCELED), polled every `poll` seconds; LaunchError after
    `timeout` seconds (the run goes on)."""
    client = client_for(url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = client.get_run_status(run_id).value
        except (DagsterGraphQLClientError, requests.exceptions.ConnectionError) as exc:
            raise LaunchError(f"cannot follow run {run_id} at {url}: {exc}") from exc
        if status in FINISHED:
            return status
        if time.monotonic() > deadline:
            raise LaunchError(f"run {run_id} is still {status} after {timeout:.0f} s; it goes on (see the UI)")
        time.sleep(poll)
