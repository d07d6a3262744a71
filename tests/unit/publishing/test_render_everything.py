"""The full render (`RenderPlan.everything_in`, `Publisher.publish_all`): every
public artifact from the table's current state, an empty table included.

This is what answers the first visitor of a page nobody has posted to yet,
at deploy time (functions/public_artifacts) and when the local stack starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import feedparser
import icalendar
from botocore.exceptions import ClientError

from status_fanout.incidents.models import Component, Incident, IncidentUpdate
from status_fanout.publishing.publisher import Publisher, RenderPlan, SiteState, render
from tests.unit.publishing.test_feeds import SETTINGS, seed_components, seed_incident, state_for

EMPTY = SiteState(components={}, unresolved=[], recent_heads=[], recent=[], touched=[])
# What a reader of an empty page can ask for; later artifacts may join, none may leave.
EMPTY_PAGE = {
    "index.html", "subscribe", "history.rss", "history.atom",
    "api/v2/summary.json", "api/v2/status.json", "api/v2/components.json",
    "api/v2/incidents.json", "api/v2/incidents/unresolved.json",
    "api/v2/scheduled-maintenances.json", "api/v2/scheduled-maintenances/upcoming.json",
    "api/v2/scheduled-maintenances/active.json", "maintenances.ics", "uptime.json",
}


def test_an_empty_page_renders_every_artifact_a_reader_can_ask_for() -> None:
    # GIVEN a table with nothing in it
    # WHEN the full render runs
    artifacts = render(RenderPlan.everything_in([], []), EMPTY, SETTINGS)
    # THEN the page, the form, the v2 JSON and both feeds are there
    assert set(artifacts) >= EMPTY_PAGE
    # AND the JSON says all is well, with empty lists
    status = json.loads(artifacts["api/v2/status.json"].body)["status"]
    assert status == {"indicator": "none", "description": "All Systems Operational"}
    summary = json.loads(artifacts["api/v2/summary.json"].body)
    assert (summary["components"], summary["incidents"], summary["scheduled_maintenances"]) == ([], [], [])
    assert summary["page"]["name"] == "Bottlenose" and summary["status"]["indicator"] == "none"
    for key in ("api/v2/incidents.json", "api/v2/incidents/unresolved.json"):
        assert json.loads(artifacts[key].body)["incidents"] == [], key
    for key in ("api/v2/scheduled-maintenances.json", "api/v2/scheduled-maintenances/upcoming.json",
                "api/v2/scheduled-maintenances/active.json"):
        assert json.loads(artifacts[key].body)["scheduled_maintenances"] == [], key
    # AND the calendar is a calendar with no event in it
    calendar = icalendar.Calendar.from_ical(artifacts["maintenances.ics"].body)
    assert calendar.walk("VEVENT") == [] and str(calendar["VERSION"]) == "2.0"
    assert json.loads(artifacts["api/v2/components.json"].body)["components"] == []
    # AND the feeds are valid and empty
    for key in ("history.rss", "history.atom"):
        parsed = feedparser.parse(artifacts[key].body)
        assert parsed.bozo == 0 and parsed.entries == [], key
    # AND the page says so in words
    assert "All Systems Operational" in artifacts["index.html"].body.decode()
    assert 'action="/v1/subscriptions"' in artifacts["subscribe"].body.decode()


def test_the_full_render_holds_every_artifact_any_change_renders() -> None:
    # GIVEN a page with the seed incident and its components
    incident, updates = seed_incident()
    state = state_for(incident, updates)
    rename = RenderPlan.from_stream_records([{"dynamodb": {
        "Keys": {"pk": {"S": "COMP"}, "sk": {"S": "COMP#smtp-email"}},
        "OldImage": {"name": {"S": "SMTP"}}, "NewImage": {"name": {"S": "SMTP Email"}}}}])
    changes = [RenderPlan(incident_ids={incident.id}), RenderPlan(components=True), rename]
    # WHEN the full render and each kind of change render from the same state
    full = render(RenderPlan.everything_in([incident.id], state.components), state, SETTINGS)
    # THEN whatever a change renders, the full render renders too, byte for byte
    # (an artifact a later change adds and the full render misses fails here)
    for plan in changes:
        for key, artifact in render(plan, state, SETTINGS).items():
            assert key in full, (plan, key)
            assert full[key] == artifact, key
    assert {f"components/{c}/history.{ext}" for c in state.components for ext in ("rss", "atom")} <= set(full)
    assert f"api/v2/incidents/{incident.id}.json" in full and f"incidents/{incident.id}" in full


def test_the_full_plan_sets_every_field_of_a_render_plan() -> None:
    # A field a later change adds to RenderPlan must be set by the full plan as well.
    plan = RenderPlan.everything_in(["inc1"], ["comp1"])
    assert plan and plan.incident_lists
    unset = [f.name for f in dataclasses.fields(RenderPlan) if not getattr(plan, f.name)]
    # What moved only the stream can say: the full render asks the bucket about every key
    # (so running it twice writes nothing the second time).
    assert unset == ["status_moved_ids"]
    assert RenderPlan.everything_in([], []) and RenderPlan.everything_in([], []).incident_lists
    assert not RenderPlan().incident_lists and not RenderPlan(components=True).incident_lists


# --- Publisher.publish_all against an in-memory table and bucket ----------------------------

class FakeStore:
    """The reads the publisher makes, from memory; pages of `limit` heads like the index.
    Maintenances sit in their own index partitions, as in the table."""

    def __init__(self, incidents: list[tuple[Incident, list[IncidentUpdate]]],
                 components: dict[str, Component]) -> None:
        self.incidents = sorted((p for p in incidents if not p[0].is_maintenance),
                                key=lambda p: (p[0].started_at, p[0].id), reverse=True)
        self.maintenances = sorted((p for p in incidents if p[0].is_maintenance),
                                   key=lambda p: (p[0].scheduled_for or "", p[0].id), reverse=True)
        self.components = components
        self.pages_read = 0

    @staticmethod
    def _page(pairs: list[tuple[Incident, list[IncidentUpdate]]], limit: int,
              cursor: str | None) -> tuple[list[Incident], str | None]:
        start = int(cursor or 0)
        page = [i for i, _ in pairs[start:start + limit]]
        return page, (str(start + limit) if start + limit < len(pairs) else None)

    def list_incidents(self, limit: int, cursor: str | None = None) -> tuple[list[Incident], str | None]:
        self.pages_read += 1
        return self._page(self.incidents, limit, cursor)

    def list_unresolved(self) -> list[Incident]:
        return [i for i, _ in self.incidents if i.status != "resolved"]

    def list_maintenances(self, limit: int, cursor: str | None = None) -> tuple[list[Incident], str | None]:
        return self._page(self.maintenances, limit, cursor)

    def list_open_maintenances(self) -> list[Incident]:
        return [m for m, _ in self.maintenances if m.status != "completed"]

    def list_components(self) -> list[Component]:
        return list(self.components.values())

    def components_with_history_revs(self) -> list[tuple[Component, str]]:
        return [(c, "") for c in self.components.values()]

    def uptime_rollups(self, component_ids: Any) -> dict[str, Any]:
        return {}

    def save_uptime_rollups(self, rollups: Any) -> None:
        pass

    def status_window(self, component_id: str, since: str) -> list[Any]:
        return []

    def load_incident(self, incident_id: str) -> tuple[Incident, list[IncidentUpdate]] | None:
        return next(((i, u) for i, u in [*self.incidents, *self.maintenances] if i.id == incident_id), None)


class FakeBucket:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "404"}}, "HeadObject")
        return {"ETag": '"' + hashlib.md5(self.objects[Key], usedforsecurity=False).hexdigest() + '"'}

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> None:
        self.objects[Key] = Body
        self.puts += 1


def test_publish_all_renders_every_incident_of_a_long_history_and_then_writes_nothing() -> None:
    # GIVEN 250 incidents (three pages of the incidents index) and the seed's components
    incident, updates = seed_incident()
    many = [(incident.model_copy(update={"id": f"inc{n:03d}", "started_at": f"2019-01-01T00:{n // 60:02d}:"
                                        f"{n % 60:02d}.000Z"}), updates) for n in range(250)]
    store, bucket = FakeStore(many, seed_components()), FakeBucket()
    publisher = Publisher(store, SETTINGS, s3=bucket)
    # WHEN everything is published
    written = publisher.publish_all()
    # THEN every incident has its page and JSON, every component its feeds, and all was written
    assert store.pages_read >= 3
    assert {f"incidents/inc{n:03d}" for n in range(250)} <= set(bucket.objects)
    assert {f"api/v2/incidents/inc{n:03d}.json" for n in range(250)} <= set(bucket.objects)
    assert EMPTY_PAGE | {"components/smtp-email/history.rss"} <= set(bucket.objects)
    assert all(written.values()) and set(written) == set(bucket.objects)
    # AND a second run finds the same bytes and writes nothing
    puts = bucket.puts
    again = publisher.publish_all()
    assert set(again) == set(written) and not any(again.values()) and bucket.puts == puts


def test_publish_all_on_an_empty_table_writes_the_empty_page() -> None:
    bucket = FakeBucket()
    written = Publisher(FakeStore([], {}), SETTINGS, s3=bucket).publish_all()
    assert set(written) == set(bucket.objects) >= EMPTY_PAGE
