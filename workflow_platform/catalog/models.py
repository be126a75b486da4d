"""Typed model of one tenant's catalog: every section a YAML file may hold, and the `Catalog` holding them all.

The sections are defined by topic (catalog/ingest_models.py, warehouse_models.py, activation_models.py,
automation_models.py, on the shared catalog/fields.py) and all exported from here. Each model forbids unknown
fields so a typo is an error, not a silently ignored setting. Cross-references between sections are checked in
`catalog.validate`.
"""

from __future__ import annotations

import functools

from pydantic import Field

from workflow_platform.catalog.activation_models import Campaign, Destination, Orchestration, SubAudience
from workflow_platform.catalog.automation_models import (
    DURATION,
    Alerts,
    CourierGroup,
    GroupCourier,
    OrchestrationGroup,
    Recipients,
    duration_seconds,
)
from workflow_platform.catalog.fields import (
    FK_TAG,
    KEY_TAGS,
    OWNER,
    PII_TAGS,
    SEMANTIC_TAGS,
    SINGLE_USE_TAGS,
    SK_TAG,
    TRANSACTION_TAGS,
    Identifier,
    Model,
    OptionValue,
    Owners,
    check_owners,
    is_valid_tag,
)
from workflow_platform.catalog.ingest_models import (
    FIELD_TYPE,
    Courier,
    CustomDomainTable,
    Feed,
    FeedColumn,
    FileFormat,
    FileLimits,
    Location,
)
from workflow_platform.catalog.warehouse_models import Database, DatabaseTable, RowThresholds, Segment, StitchSettings

__all__ = [
    "DURATION", "FIELD_TYPE", "FK_TAG", "KEY_TAGS", "LIST_SECTIONS", "OWNER", "PII_TAGS", "SEMANTIC_TAGS",
    "SINGLE_SECTIONS", "SINGLE_USE_TAGS", "SK_TAG", "TRANSACTION_TAGS", "Alerts", "Campaign", "Catalog", "Courier",
    "CourierGroup", "CustomDomainTable", "Database", "DatabaseTable", "Destination", "Feed", "FeedColumn", "FileFormat", "FileLimits",
    "GroupCourier", "Identifier", "Location", "Model", "OptionValue", "Orchestration", "OrchestrationGroup",
    "Recipients", "RowThresholds", "Segment", "StitchSettings", "SubAudience", "check_owners", "duration_seconds",
    "is_valid_tag",
]

# --------------------------------------------------------------------------- the whole catalog

LIST_SECTIONS: dict[str, type[Model]] = {
    "locations": Location,
    "couriers": Courier,
    "feeds": Feed,
    "custom_domain_tables": CustomDomainTable,
    "databases": Database,
    "segments": Segment,
    "destinations": Destination,
    "orchestrations": Orchestration,
    "campaigns": Campaign,
    "courier_groups": CourierGroup,
    "orchestration_groups": OrchestrationGroup,
}
SINGLE_SECTIONS: dict[str, type[Model]] = {"stitch": StitchSettings, "alerts": Alerts}


class Catalog(Model):
    """One tenant's validated configuration."""

    tenant: str = "tenant"
    owners: Owners = Field(default_factory=list, description="default owners of every asset: emails or team:<name>")
    locations: list[Location] = Field(default_factory=list)
    couriers: list[Courier] = Field(default_factory=list)
    feeds: list[Feed] = Field(default_factory=list)
    custom_domain_tables: list[CustomDomainTable] = Field(default_factory=list)
    stitch: StitchSettings = Field(default_factory=StitchSettings)
    databases: list[Database] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)
    destinations: list[Destination] = Field(default_factory=list)
    orchestrations: list[Orchestration] = Field(default_factory=list)
    campaigns: list[Campaign] = Field(default_factory=list)
    courier_groups: list[CourierGroup] = Field(default_factory=list)
    orchestration_groups: list[OrchestrationGroup] = Field(default_factory=list)
    alerts: Alerts = Field(default_factory=Alerts)

    @functools.cached_property
    def _index(self) -> dict[str, dict]:
        """Name -> entry lookups, built once: a catalog of thousands of couriers is looked up per asset."""
        group_of_courier: dict[str, CourierGroup] = {}
        for group in self.courier_groups:
            for item in group.couriers:
                group_of_courier.setdefault(item.courier, group)
        group_of_orchestration: dict[str, OrchestrationGroup] = {}
        for group in self.orchestration_groups:
            for name in group.orchestrations:
                group_of_orchestration.setdefault(name, group)
        couriers_of_feed: dict[str, list[Courier]] = {}
        for courier in self.couriers:
            couriers_of_feed.setdefault(courier.feed, []).append(courier)
        first = lambda entries: {e.name: e for e in reversed(entries)}  # the first of duplicates wins
        custom = [t.as_feed for t in self.custom_domain_tables]
        return {"feed": first(custom) | first(self.feeds), "custom": first(self.custom_domain_tables), "courier": first(self.couriers), "location": first(self.locations),
                "destination": first(self.destinations), "group_of_courier": group_of_courier,
                "group_of_orchestration": group_of_orchestration, "couriers_of_feed": couriers_of_feed}

    def feed(self, name: str) -> Feed:
        """A feed, or a custom domain table as the feed it stands for (both are `domain.<name>`)."""
        return self._index["feed"][name]

    def is_custom_domain_table(self, name: str) -> bool:
        return name in self._index["custom"] and name not in {f.name for f in self.feeds}

    def courier(self, name: str) -> Courier:
        return self._index["courier"][name]

    def location(self, name: str) -> Location:
        return self._index["location"].get(name) or Location(name=name)

    def destination(self, name: str) -> Destination:
        return self._index["destination"][name]

    def couriers_of_feed(self, feed: str) -> list[Courier]:
        return self._index["couriers_of_feed"].get(feed, [])

    def group_of_courier(self, courier: str) -> CourierGroup | None:
        return self._index["group_of_courier"].get(courier)

    def group_of_orchestration(self, orchestration: str) -> OrchestrationGroup | None:
        return self._index["group_of_orchestration"].get(orchestration)

    @property
    def domain_sources(self) -> list[Feed]:
        """What builds a domain table: the feeds some courier loads, then the custom domain tables."""
        return [f for f in self.feeds if self._loaded(f)] + [t.as_feed for t in self.custom_domain_tables]

    @property
    def stitch_feeds(self) -> list[Feed]:
        return [f for f in self.domain_sources if f.in_stitch]

    @property
    def transaction_feeds(self) -> list[Feed]:
        return [f for f in self.domain_sources if f.is_transactions]

    def _loaded(self, feed: Feed) -> bool:
        return any(c.load != "land_only" for c in self.couriers_of_feed(feed.name))
