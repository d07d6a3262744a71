"""Scheduled maintenance in the public JSON, as a Statuspage client reads it:
scheduled-maintenances.json, upcoming.json, active.json, summary.json and
status.json, each with the key sets (and order) of Statuspage's real answers
in data/statuspage-maintenance/; and what a maintenance's stream record renders.

Every maintenance here is built through maintenance.lifecycle, as the API and
the clock build them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from status_fanout.incidents.models import Component, Incident, IncidentUpdate
from status_fanout.maintenance import lifecycle as mlife
from status_fanout.publishing.publisher import Publisher, RenderPlan, SiteState, render
from tests.conftest import DATA
from tests.unit.publishing.test_feeds import SETTINGS, seed_components, seed_incident
from tests.unit.publishing.test_render_everything import FakeBucket, FakeStore

SAMPLES = DATA / "statuspage-maintenance"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LEAD = timedelta(minutes=60)
Maintenance = tuple[Incident, list[IncidentUpdate]]
MAINTENANCE_DOCS = ("api/v2/scheduled-maintenances.json", "api/v2/scheduled-maintenances/upcoming.json",
                    "api/v2/scheduled-maintenances/active.json")


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


# --- maintenances, built as the API and the clock build them -------------------------

class Page:
    """A page's components and maintenances, moved through the lifecycle rules;
    component changes are applied as the service writes them."""

    def __init__(self) -> None:
        self.components: dict[str, Component] = seed_components()

    def _apply(self, update: IncidentUpdate) -> None:
        for affected in update.affected_components or []:
            if affected.code in self.components and not update.backfilled:
                self.components[affected.code] = self.components[affected.code].model_copy(
                    update={"status": affected.new_status, "updated_at": update.created_at})

    def schedule(self, name: str = "Mail database upgrade", *, starts_in: timedelta = timedelta(days=3),
                 lasts: timedelta = timedelta(hours=2), component_ids: tuple[str, ...] = ("smtp-email",),
                 body: str = "We are upgrading the mail database; sending may be delayed.",
                 now: datetime = NOW) -> Maintenance:
        incident, update = mlife.schedule(
            name=name, body=body, scheduled_for=now + starts_in, scheduled_until=now + starts_in + lasts,
            component_ids=list(component_ids), components=self.components, notify=True, remind_prior=True,
            auto_in_progress=True, auto_completed=True, display_at=None, now=now, reminder_lead=LEAD)
        return incident, [update]

    def step(self, pair: Maintenance, step: mlife.Step) -> Maintenance:
        incident, updates = pair
        when = mlife.due_at(incident, step, LEAD)
        assert when is not None, step
        taken = mlife.take_step(incident, updates, step, incident.schedule_sequence, self.components, when, LEAD)
        assert taken is not None, step
        self._apply(taken[1])
        return taken[0], [*updates, taken[1]]

    def start(self, pair: Maintenance) -> Maintenance:
        return self.step(self.step(pair, "reminder"), "start")

    def complete(self, pair: Maintenance) -> Maintenance:
        return self.step(self.start(pair), "complete")

    def update(self, pair: Maintenance, status: Any, body: str, at: datetime) -> Maintenance:
        incident, updates = pair
        changed, update = mlife.add_update(incident, updates, status=status, body=body, notify=True,
                                           display_at=None, components=self.components, now=at)
        self._apply(update)
        return changed, [*updates, update]

    def cancel(self, pair: Maintenance, at: datetime = NOW + timedelta(hours=1)) -> Maintenance:
        incident, updates = pair
        changed, update = mlife.cancel(incident, updates, body=None, notify=True, now=at)
        return changed, [*updates, update]

    def reschedule(self, pair: Maintenance, starts_in: timedelta, at: datetime = NOW + timedelta(hours=1),
                   lasts: timedelta = timedelta(hours=2)) -> Maintenance:
        incident, updates = pair
        changed, update = mlife.reschedule(incident, updates, name=None, scheduled_for=NOW + starts_in,
                                           scheduled_until=NOW + starts_in + lasts, body=None, notify=True,
                                           now=at, reminder_lead=LEAD)
        assert update is not None
        return changed, [*updates, update]


def state_of(page: Page, maintenances: list[Maintenance],
             incidents: Sequence[tuple[Incident, list[IncidentUpdate]]] = ()) -> SiteState:
    """What the publisher loads for a full render of this page."""
    incidents = list(incidents)
    unresolved = [p for p in incidents if p[0].status != "resolved"]
    open_ones = [p for p in maintenances if p[0].status != "completed"]
    history: dict[str, list[Any]] = {c: [p for p in [*incidents, *maintenances] if c in p[0].component_ids]
                                     for c in page.components}
    return SiteState(page.components, unresolved, [i for i, _ in incidents], incidents,
                     [*incidents, *maintenances], history, open_maintenances=open_ones,
                     maintenances=maintenances, feed_maintenances=maintenances)


def full_render(page: Page, maintenances: list[Maintenance],
                incidents: Sequence[tuple[Incident, list[IncidentUpdate]]] = ()) -> dict[str, Any]:
    state = state_of(page, maintenances, incidents)
    plan = RenderPlan.everything_in([p[0].id for p in [*incidents, *maintenances]], page.components)
    return render(plan, state, SETTINGS)


def documents(artifacts: dict[str, Any]) -> dict[str, Any]:
    return {key: json.loads(a.body) for key, a in artifacts.items() if key.startswith("api/")}


@pytest.fixture
def four() -> tuple[Page, dict[str, Maintenance]]:
    """One of each: completed, cancelled, in progress, upcoming (and one more upcoming, later)."""
    page = Page()
    made = {
        "completed": page.complete(page.schedule("Old upgrade", starts_in=timedelta(hours=3),
                                                 component_ids=("email-marketing",))),
        "cancelled": page.cancel(page.schedule("Cancelled move", starts_in=timedelta(days=2),
                                               component_ids=("pop3-imap-email",))),
        "active": page.start(page.schedule("Queue migration", starts_in=timedelta(days=1),
                                           component_ids=("transactional-emails",))),
        "upcoming": page.schedule("Mail database upgrade", starts_in=timedelta(days=3)),
        "later": page.schedule("Certificate rotation", starts_in=timedelta(days=9), component_ids=()),
    }
    return page, made


# --- the documents' shapes ---------------------------------------------------------

def test_scheduled_maintenances_json_is_statuspages_shape_latest_scheduled_first(four: Any) -> None:
    page, made = four
    # WHEN a Statuspage client reads /api/v2/scheduled-maintenances.json
    doc = documents(full_render(page, list(made.values())))["api/v2/scheduled-maintenances.json"]
    # THEN its keys, each maintenance's, each update's and each component's are Statuspage's, in order
    expected = sample("payfast_scheduled-maintenances.json")
    assert list(doc) == list(expected) == ["page", "scheduled_maintenances"]
    assert list(doc["page"]) == list(expected["page"])
    theirs = expected["scheduled_maintenances"][0]
    for ours in doc["scheduled_maintenances"]:
        assert list(ours) == list(theirs), ours["name"]
        for update in ours["incident_updates"]:
            assert list(update) == list(theirs["incident_updates"][0])
        for component in ours["components"]:
            assert list(component) == list(theirs["components"][0])
        assert ours["impact"] == "maintenance"
    # AND every maintenance is there, latest scheduled first
    assert [m["name"] for m in doc["scheduled_maintenances"]] == [
        "Certificate rotation", "Mail database upgrade", "Cancelled move", "Queue migration", "Old upgrade"]
    # AND the cancelled one reads completed (Statuspage has no cancelled status), with its text
    cancelled = doc["scheduled_maintenances"][2]
    assert cancelled["status"] == "completed" and cancelled["resolved_at"] is not None
    assert cancelled["incident_updates"][0]["body"] == mlife.CANCELLED_BODY
    assert {m["status"] for m in doc["scheduled_maintenances"]} <= {"scheduled", "in_progress", "verifying",
                                                                       "completed"}


def test_upcoming_holds_the_scheduled_ones_and_active_those_under_way(four: Any) -> None:
    page, made = four
    docs = documents(full_render(page, list(made.values())))
    upcoming = docs["api/v2/scheduled-maintenances/upcoming.json"]
    active = docs["api/v2/scheduled-maintenances/active.json"]
    # THEN upcoming.json lists the two still scheduled, soonest first; the cancelled one is not upcoming
    assert [m["name"] for m in upcoming["scheduled_maintenances"]] == ["Mail database upgrade",
                                                                      "Certificate rotation"]
    assert {m["status"] for m in upcoming["scheduled_maintenances"]} == {"scheduled"}
    # AND active.json the one in progress, whose component is under maintenance
    [under_way] = active["scheduled_maintenances"]
    assert under_way["name"] == "Queue migration" and under_way["status"] == "in_progress"
    assert [c["status"] for c in under_way["components"]] == ["under_maintenance"]
    assert [u["status"] for u in under_way["incident_updates"]] == ["in_progress", "scheduled", "scheduled"]
    # AND both have Statuspage's keys
    theirs = sample("payfast_scheduled-maintenances.json")
    for doc in (upcoming, active):
        assert list(doc) == list(theirs)
        assert all(list(m) == list(theirs["scheduled_maintenances"][0]) for m in doc["scheduled_maintenances"])


def test_a_verifying_maintenance_is_active() -> None:
    page = Page()
    verifying = page.update(page.start(page.schedule()), "verifying", "Checking the new database.",
                            NOW + timedelta(days=3, minutes=30))
    docs = documents(full_render(page, [verifying]))
    assert [m["status"] for m in docs["api/v2/scheduled-maintenances/active.json"]["scheduled_maintenances"]] == [
        "verifying"]
    assert docs["api/v2/scheduled-maintenances/upcoming.json"]["scheduled_maintenances"] == []


def test_summary_lists_upcoming_and_active_as_githubstatus_does(four: Any) -> None:
    page, made = four
    summary = documents(full_render(page, list(made.values())))["api/v2/summary.json"]
    github = sample("githubstatus_summary_2020-12_in_progress.json")
    # THEN the summary's keys are githubstatus.com's, in its order
    assert list(summary) == list(github) == ["page", "components", "incidents", "scheduled_maintenances", "status"]
    theirs = github["scheduled_maintenances"][0]
    for ours in summary["scheduled_maintenances"]:
        assert list(ours) == list(theirs)
        assert all(list(u) == list(theirs["incident_updates"][0]) for u in ours["incident_updates"])
        assert all(list(c) == list(theirs["components"][0]) for c in ours["components"])
    # AND it lists the one under way and the upcoming ones, soonest first (githubstatus.com's two
    # upcoming ones are in that order), not the completed or the cancelled one
    assert [m["name"] for m in summary["scheduled_maintenances"]] == [
        "Queue migration", "Mail database upgrade", "Certificate rotation"]
    scheduled = sample("githubstatus_summary_2020-09_scheduled.json")["scheduled_maintenances"]
    assert [m["scheduled_for"] for m in scheduled] == sorted(m["scheduled_for"] for m in scheduled)
    # AND the component under maintenance says so, as on githubstatus.com
    statuses = {c["name"]: c["status"] for c in summary["components"]}
    assert statuses["Transactional Emails"] == "under_maintenance"
    assert summary["status"] == github["status"]


def test_status_says_service_under_maintenance_while_one_is_active(four: Any) -> None:
    page, made = four
    status = documents(full_render(page, list(made.values())))["api/v2/status.json"]
    github = sample("githubstatus_status_2020-12_maintenance.json")
    assert list(status) == list(github) and list(status["page"]) == list(github["page"])
    assert status["status"] == github["status"] == {"indicator": "maintenance",
                                                    "description": "Service Under Maintenance"}


@pytest.mark.parametrize(("case", "indicator"), [
    ("nothing", "none"),
    ("upcoming only", "none"),
    ("active", "maintenance"),
    ("active without components", "maintenance"),
    ("active and a minor incident", "minor"),
    ("active and a critical incident", "critical"),
    ("completed", "none"),
    ("cancelled", "none"),
])
def test_the_indicator_rules(case: str, indicator: str) -> None:
    # GIVEN a page in each situation
    page = Page()
    maintenances: list[Maintenance] = []
    incidents = []
    if case == "upcoming only":
        maintenances = [page.schedule()]
    elif case.startswith("active"):
        ids = () if case == "active without components" else ("smtp-email",)
        maintenances = [page.start(page.schedule(component_ids=ids))]
    elif case == "completed":
        maintenances = [page.complete(page.schedule())]
    elif case == "cancelled":
        maintenances = [page.cancel(page.schedule())]
    if "incident" in case:
        incident, updates = seed_incident(2)
        incidents = [(incident.model_copy(update={"impact": case.split()[-2]}), updates)]
    # WHEN status.json and the page render
    artifacts = full_render(page, maintenances, incidents)
    status = json.loads(artifacts["api/v2/status.json"].body)["status"]
    # THEN the indicator follows the rules: an open incident's worse impact wins over maintenance
    assert status["indicator"] == indicator, case
    assert json.loads(artifacts["api/v2/summary.json"].body)["status"] == status
    assert f'<p class="banner {indicator}" role="status">{status["description"]}</p>' in (
        artifacts["index.html"].body.decode())


def test_incident_documents_never_list_a_maintenance(four: Any) -> None:
    # GIVEN a table with the seed incident (still open after two updates) and maintenances
    page, made = four
    incident, updates = seed_incident(2)
    store, bucket = FakeStore([(incident, updates), *made.values()], page.components), FakeBucket()
    # WHEN everything is published from it
    Publisher(store, SETTINGS, s3=bucket).publish_all()
    docs = {key: json.loads(body) for key, body in bucket.objects.items() if key.startswith("api/")}
    # THEN the incident lists hold the incident alone
    assert [i["id"] for i in docs["api/v2/incidents.json"]["incidents"]] == [incident.id]
    assert [i["id"] for i in docs["api/v2/incidents/unresolved.json"]["incidents"]] == [incident.id]
    assert [i["id"] for i in docs["api/v2/summary.json"]["incidents"]] == [incident.id]
    # AND no maintenance has an incident document, while each has its page
    for maintenance, _ in made.values():
        assert f"api/v2/incidents/{maintenance.id}.json" not in bucket.objects
        assert f"incidents/{maintenance.id}" in bucket.objects
    # AND the maintenance documents hold them all
    assert len(docs["api/v2/scheduled-maintenances.json"]["scheduled_maintenances"]) == len(made)
    assert b"BEGIN:VEVENT" in bucket.objects["maintenances.ics"]


def test_scheduled_maintenances_json_holds_the_fifty_latest_scheduled_and_the_calendar_every_open_one() -> None:
    # GIVEN a long-running maintenance under way, and 55 completed ones scheduled after it
    page = Page()
    long_one = page.start(page.schedule("Long migration", starts_in=timedelta(hours=2), lasts=timedelta(days=90)))
    later = [page.complete(page.schedule(f"Upgrade {n:02d}", starts_in=timedelta(hours=3 + n)))
             for n in range(55)]
    store, bucket = FakeStore([long_one, *later], page.components), FakeBucket()
    # WHEN everything is published
    Publisher(store, SETTINGS, s3=bucket).publish_all()
    listed = json.loads(bucket.objects["api/v2/scheduled-maintenances.json"])["scheduled_maintenances"]
    # THEN scheduled-maintenances.json holds Statuspage's 50 most recent, latest scheduled first
    assert [m["name"] for m in listed] == [f"Upgrade {n:02d}" for n in range(54, 4, -1)]
    # AND the one under way is still active and in the calendar
    active = json.loads(bucket.objects["api/v2/scheduled-maintenances/active.json"])["scheduled_maintenances"]
    assert [m["name"] for m in active] == ["Long migration"]
    assert bucket.objects["maintenances.ics"].count(b"BEGIN:VEVENT") == 51
    assert f"UID:{long_one[0].id}@status.example.com".encode() in bucket.objects["maintenances.ics"]


# --- what a maintenance's change renders -----------------------------------------------

def record(pk: str, sk: str, image: dict[str, Any] | None) -> dict[str, Any]:
    change: dict[str, Any] = {"Keys": {"pk": {"S": pk}, "sk": {"S": sk}}}
    if image is not None:
        change["NewImage"] = image
    return {"dynamodb": change}


def test_a_maintenance_record_plans_the_maintenance_documents() -> None:
    head = record("INC#m1", "#HEAD", {"impact": {"S": "maintenance"}, "status": {"S": "scheduled"}})
    update = record("INC#m1", "UPD#000002", {"step": {"S": "started"}, "status": {"S": "in_progress"}})
    incident_head = record("INC#i1", "#HEAD", {"impact": {"S": "critical"}, "status": {"S": "identified"}})
    incident_update = record("INC#i1", "UPD#000002", {"status": {"S": "identified"}})
    # THEN a maintenance's head or update plans its documents, an incident's does not,
    # and a record without images might be either, so it does
    assert RenderPlan.from_stream_records([head]).maintenances
    assert RenderPlan.from_stream_records([update]).maintenances
    assert RenderPlan.from_stream_records([record("INC#x", "#HEAD", None)]).maintenances
    plan = RenderPlan.from_stream_records([incident_head, incident_update])
    assert plan.incident_ids == {"i1"} and not plan.maintenances and not plan.maintenance_lists
    assert RenderPlan.from_stream_records([update, incident_head]).incident_ids == {"m1", "i1"}


def test_a_maintenance_change_renders_its_documents_page_feeds_and_calendar(four: Any) -> None:
    page, made = four
    active = made["active"][0]
    state = state_of(page, list(made.values()))
    plan = RenderPlan.from_stream_records(
        [record(f"INC#{active.id}", "UPD#000003", {"step": {"S": "started"}})])
    # WHEN the change renders
    artifacts = render(plan, state, SETTINGS)
    # THEN the maintenance documents, summary and status, the page, its page, the feeds,
    # its component's feeds and the calendar render, but no incident document for it
    assert set(artifacts) >= {
        *MAINTENANCE_DOCS, "api/v2/summary.json", "api/v2/status.json", "index.html", f"incidents/{active.id}",
        "history.rss", "history.atom", "components/transactional-emails/history.rss",
        "components/transactional-emails/history.atom", "maintenances.ics"}
    assert f"api/v2/incidents/{active.id}.json" not in artifacts
    # AND the full render holds each of them, byte for byte
    full = render(RenderPlan.everything_in([m.id for m, _ in made.values()], page.components), state, SETTINGS)
    for key, artifact in artifacts.items():
        assert full[key] == artifact, key


def test_an_incident_change_leaves_the_maintenance_documents_alone(four: Any) -> None:
    page, made = four
    incident, updates = seed_incident(2)
    state = state_of(page, list(made.values()), [(incident, updates)])
    artifacts = render(RenderPlan.from_stream_records(
        [record(f"INC#{incident.id}", "UPD#000002", {"status": {"S": "identified"}})]), state, SETTINGS)
    assert not set(MAINTENANCE_DOCS) & set(artifacts) and "maintenances.ics" not in artifacts
    # while the summary, status and page, which show maintenances too, render as ever
    summary = json.loads(artifacts["api/v2/summary.json"].body)
    assert len(summary["scheduled_maintenances"]) == 3


def test_a_replayed_maintenance_change_writes_nothing(four: Any) -> None:
    page, made = four
    store, bucket = FakeStore(list(made.values()), page.components), FakeBucket()
    publisher = Publisher(store, SETTINGS, s3=bucket)
    upcoming = made["upcoming"][0]
    records = [record(f"INC#{upcoming.id}", "#HEAD", {"impact": {"S": "maintenance"}})]
    # WHEN its stream record is published, then published again (a replay)
    first = publisher.publish(RenderPlan.from_stream_records(records))
    again = publisher.publish(RenderPlan.from_stream_records(records))
    # THEN the first wrote the maintenance documents and the calendar, the replay nothing
    assert all(first[key] for key in (*MAINTENANCE_DOCS, "maintenances.ics", f"incidents/{upcoming.id}"))
    assert set(again) == set(first) and not any(again.values())
