"""The names of every run tag and asset tag workflow_platform writes or reads, in one place.

Spell a tag only through these names. The values are what existing runs and assets already carry: a run's tags
are stored with it, so renaming a value would hide the runs before the change from the sensors that look them up
(campaign send counts, orchestration groups, alerts) and from the UI's tag filters. Add a name; never rename a value.
This module imports nothing of the package, so any layer may use it.
"""

# -- Run options: what a run loads and how (the launchpad, the CLI, the courier-group schedule sensors) ----------
DATE_FROM_TAG = "workflow_platform/date_from"  # inclusive, YYYY-MM-DD
DATE_TO_TAG = "workflow_platform/date_to"  # inclusive, YYYY-MM-DD
SKIP_MISSING_TAG = "workflow_platform/skip_missing"  # "true": a missing required file only warns
ERROR_THRESHOLD_TAG = "workflow_platform/error_threshold"  # percent: overrides every feed's threshold, one run
SKIP_COURIERS_TAG = "workflow_platform/skip_couriers"  # comma-separated couriers this run leaves out
SCHEDULED_AT_TAG = "workflow_platform/scheduled_at"  # ISO time of the courier-group tick the look-back counts from
ALL_DATA_TAG = "workflow_platform/all_data"  # "true": every file a dated pattern matches, on any date
SINCE_TAG = "workflow_platform/since"  # ISO time of the group's previous tick: load every day since then too
NOTIFY_TAG = "workflow_platform/notify"  # this run's own alert subscribers: emails and #channels, comma-separated
REFRESH_MODE_TAG = "workflow_platform/refresh_mode"  # express | normal | full: what a build run rebuilds
STITCH_MODE_TAG = "workflow_platform/stitch_mode"  # normal | force_refresh | incremental: a build run's Stitch mode

# -- Job tags: every run of a group's job carries them (alerts find the recipients by them) ---------------------
COURIER_GROUP_TAG = "courier_group"  # also an asset tag of the group's courier/, feed/ and domain/ assets
RUN_TYPE_TAG = "run_type"  # full | refresh | source
ORCHESTRATION_GROUP_TAG = "orchestration_group"
CAMPAIGN_TAG = "campaign"

# -- Set by sensors and schedules on the runs they request, for the record ---------------------------------------
UPSTREAM_RUN_TAG = "upstream_run_id"  # the run a build run or an orchestration group's run followed
PARENT_RUN_TAG = "dagster/parent_run_id"  # Dagster's own, on a re-execution: the run it re-executes
# the tick of an orchestration group's schedule; informational only: the courier groups' SCHEDULED_AT_TAG above
# changes what a run loads, so the two stay apart
ORCHESTRATION_SCHEDULED_AT_TAG = "scheduled_at"
SEND_NUMBER_TAG = "campaign_send"  # a campaign's 1st, 2nd ... send
SCHEDULE_NAME_TAG = "dagster/schedule_name"  # Dagster's own: the schedule that launched a run

# -- Asset tags, shown and filterable in the UI -------------------------------------------------------------------
SEMANTIC_TAG_PREFIX = "semantic/"  # semantic/<tag>: the feed column carrying that semantic tag
WORKFLOW_TAG = "workflow"  # an orchestration's workflow: automatic | manual
DATABASE_TAG = "database"  # a database table's database
RECURRENCE_TAG = "recurrence"  # a campaign's recurrence: once | daily | weekly
