"""The data layer against moto server over HTTP, the table built from template.yaml."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from status_fanout.incidents.models import ComponentPatch, ComponentPut, IncidentCreate, UpdateCreate
from status_fanout.incidents.service import StatusService
from status_fanout.incidents.store import IncidentStore
from status_fanout.publishing.publisher import Publisher, RenderPlan
from status_fanout.settings import PageSettings, Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service(stack: Any) -> StatusService:
    return StatusService(IncidentStore(stack.physical["StatusTable"], boto3.client("dynamodb")))


def test_table_matches_the_template(stack: Any) -> None:
    table = boto3.client("dynamodb").describe_table(TableName=stack.physical["StatusTable"])["Table"]
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {"gsi1", "gsi2"}
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_concurrent_posts_to_one_incident_lose_nothing(service: StatusService) -> None:
    # GIVEN an open incident
    incident, _ = service.create_incident(IncidentCreate(name="Race", status="investigating", body="start"))
    # WHEN twelve staff post updates to it at the same moment
    bodies = [f"update {n}" for n in range(12)]

    def post(body: str) -> None:
        service.add_update(incident.id, UpdateCreate(status="identified", body=body))

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(post, bodies))
    # THEN every update is stored exactly once, each with its own sequence number
    head, updates = service.get_incident(incident.id)
    assert sorted(u.body for u in updates) == sorted(["start", *bodies])
    assert sorted(u.seq for u in updates) == list(range(1, 14))
    assert head.seq == 13 and head.version == 13


def test_an_update_and_a_patch_of_the_same_component_never_interleave(service: StatusService) -> None:
    service.put_component("race-component", ComponentPut(name="Race component"))
    incident, _ = service.create_incident(IncidentCreate(name="Race 2", status="investigating", body="b"))

    def via_incident(n: int) -> None:
        status = "major_outage" if n % 2 else "partial_outage"
        service.add_update(incident.id, UpdateCreate(status="identified", body=f"u{n}",
                                                     components={"race-component": status}))

    def via_patch(n: int) -> None:
        service.patch_component("race-component", ComponentPatch(status="degraded_performance"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: (via_incident if n % 2 else via_patch)(n), range(8)))
    # Each recorded change starts from what the previous writer left behind:
    # the previous incident update's new status, or the PATCHed one.
    _, updates = service.get_incident(incident.id)
    changes = [a for u in sorted(updates, key=lambda u: u.seq) for a in (u.affected_components or [])]
    assert len(changes) == 4
    previous = "operational"
    for change in changes:
        assert change.old_status in (previous, "degraded_performance")
        previous = change.new_status


def test_incidents_page_newest_first_with_an_opaque_cursor(service: StatusService) -> None:
    # GIVEN five backfilled incidents a day apart, far in the past
    base = datetime(2001, 1, 1, tzinfo=UTC)
    names = []
    for day in range(5):
        name = f"paging {day}"
        names.append(name)
        service.create_incident(IncidentCreate(name=name, status="resolved", body="b",
                                               display_at=base + timedelta(days=day)))
    # WHEN all incidents are read two at a time
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = service.list_incidents(2, cursor)
        assert len(page) <= 2
        seen += [incident.name for incident, _ in page]
        if cursor is None:
            break
    # THEN each appears once, newest first
    ours = [n for n in seen if n.startswith("paging")]
    assert ours == list(reversed(names))
    assert len(seen) == len(set(seen))


def test_resolved_incidents_leave_the_unresolved_index(service: StatusService) -> None:
    incident, _ = service.create_incident(IncidentCreate(name="Short", status="investigating", body="b"))
    assert incident.id in {i.id for i in service.store.list_unresolved()}
    service.add_update(incident.id, UpdateCreate(status="resolved", body="done"))
    assert incident.id not in {i.id for i in service.store.list_unresolved()}


def test_publishing_the_same_change_twice_rewrites_nothing(stack: Any, service: StatusService) -> None:
    # GIVEN no component in an outage (while one is, today's uptime in /uptime.json grows by the
    # second, so any later render rightly rewrites it) and a rendered incident
    for component in service.list_components():
        if component.status != "operational":
            service.patch_component(component.id, ComponentPatch(status="operational"))
    incident, _ = service.create_incident(IncidentCreate(name="Twice", status="investigating", body="b"))
    stack.wait_idle(timeout=120)  # the stack's own publisher renders it first
    settings = Settings(table_name=stack.physical["StatusTable"], public_bucket=stack.physical["PublicBucket"],
                        page=PageSettings(name="Bottlenose"))
    publisher = Publisher(service.store, settings, boto3.client("s3"))
    plan = RenderPlan(incident_ids={incident.id}, components=True)
    publisher.publish(plan)
    key = f"api/v2/incidents/{incident.id}.json"
    before = boto3.client("s3").head_object(Bucket=settings.public_bucket, Key=key)
    time.sleep(1.1)  # Last-Modified has one-second resolution
    # WHEN the same stream record is delivered again
    written = publisher.publish(plan)
    # THEN no object is rewritten and its validators stay put
    assert not any(written.values())
    after = boto3.client("s3").head_object(Bucket=settings.public_bucket, Key=key)
    assert (after["ETag"], after["LastModified"]) == (before["ETag"], before["LastModified"])


def test_render_plan_ignores_records_it_does_not_render() -> None:
    records = [
        {"dynamodb": {"Keys": {"pk": {"S": "idempotency#ApiFunction"}, "sk": {"S": "x"}}}},
        {"dynamodb": {"Keys": {"pk": {"S": "INC#abc"}, "sk": {"S": "UPD#000001"}}}},
        {"dynamodb": {"Keys": {"pk": {"S": "COMP"}, "sk": {"S": "COMP#smtp"}}}},
        {"dynamodb": {}},
    ]
    plan = RenderPlan.from_stream_records(records)
    assert plan.incident_ids == {"abc"} and plan.components
    assert not RenderPlan.from_stream_records(records[:1])


def test_every_status_change_is_kept_with_its_time(service: StatusService) -> None:
    from status_fanout.incidents.models import UpdateCorrect

    store = service.store
    # GIVEN 60 components (more changed by one update than fit in one transaction with their history)
    names = [f"hist-{n:02d}" for n in range(60)]
    for name in names:
        service.put_component(name, ComponentPut(name=name))
    # WHEN one live update takes them all down, a PATCH brings one back, and a backfill records the past
    _, [update] = service.create_incident(IncidentCreate(
        name="Wide", status="investigating", body="b", components=dict.fromkeys(names, "major_outage")))
    service.patch_component("hist-00", ComponentPatch(status="operational"))
    past = datetime(2024, 5, 1, 12, tzinfo=UTC)
    _, [old] = service.create_incident(IncidentCreate(
        name="Past", status="resolved", body="b", display_at=past, components={"hist-01": "partial_outage"}))
    # THEN each component's history holds its creation, the update (all 60, the overflow too) and the patch
    for name in names:
        changes = store.component_history(name, "2000")
        live = [c for c in changes if c.source != "backfill"]
        assert [(c.source, c.status) for c in live[:2]] == [("put", "operational"), ("incident", "major_outage")]
        assert live[1].ref == update.id and live[1].changed_at == update.display_at
    assert [(c.source, c.status) for c in store.component_history("hist-00", "2000")][-1] == ("patch", "operational")
    # AND the backfill sits at its display time, the live status untouched
    backfilled = store.component_history("hist-01", "2000")[0]
    assert (backfilled.changed_at, backfilled.status, backfilled.source) == (
        "2024-05-01T12:00:00.000Z", "partial_outage", "backfill")
    assert {c.id: c.status for c in service.list_components()}["hist-01"] == "major_outage"
    assert store.status_before("hist-01", "2024-06-01") == backfilled
    # AND a correction moving the backfill's display time moves its history item
    service.correct_update(old.incident_id, old.id,
                                      UpdateCorrect(display_at=past + timedelta(hours=1)))
    moved = [c.changed_at for c in store.component_history("hist-01", "2000") if c.source == "backfill"]
    assert moved == ["2024-05-01T13:00:00.000Z"]


def test_status_window_is_the_status_before_and_the_history_since(service: StatusService) -> None:
    store = service.store
    # GIVEN a component with a backfilled history of 7 changes around a window start
    service.put_component("win-00", ComponentPut(name="win-00"))
    for day, status in enumerate(["partial_outage", "operational", "major_outage", "operational",
                                  "degraded_performance", "operational", "partial_outage"], start=1):
        service.create_incident(IncidentCreate(name=f"W{day}", status="resolved", body="b",
                                               display_at=datetime(2024, 5, day, 12, tzinfo=UTC),
                                               components={"win-00": status}))
    # THEN the window read (in pages of any size) is what the two queries return together
    for since in ("2000", "2024-05-03T12:00:00.000Z", "2024-05-04", "2024-06-01", "2999"):
        before = store.status_before("win-00", since)
        expected = [*([before] if before else []), *store.component_history("win-00", since)]
        for page in (1, 2, 3, 100):
            assert store.status_window("win-00", since, page=page) == expected, (since, page)


def test_every_write_that_moves_a_history_gives_its_component_a_new_mark(service: StatusService) -> None:
    from status_fanout.incidents.models import UpdateCorrect

    store = service.store

    def marks() -> dict[str, str]:
        return {c.id: rev for c, rev in store.components_with_history_revs() if c.id.startswith("mark-")}

    # GIVEN two components
    for name in ("mark-a", "mark-b"):
        service.put_component(name, ComponentPut(name=name))
    start = marks()
    assert all(start.values()) and start["mark-a"] != start["mark-b"]
    # WHEN a backfill names mark-a (its live record is not written)
    _, [old] = service.create_incident(IncidentCreate(
        name="Marked", status="resolved", body="b", display_at=datetime(2024, 5, 1, 12, tzinfo=UTC),
        components={"mark-a": "major_outage"}))
    # THEN only mark-a's mark moved, its live status untouched
    after_backfill = marks()
    assert after_backfill["mark-a"] != start["mark-a"] and after_backfill["mark-b"] == start["mark-b"]
    assert {c.id: c.status for c in service.list_components()}["mark-a"] == "operational"
    # AND a correction moving the backfill's time moves it again
    service.correct_update(old.incident_id, old.id, UpdateCorrect(display_at=datetime(2024, 5, 1, 13, tzinfo=UTC)))
    after_correction = marks()
    assert after_correction["mark-a"] != after_backfill["mark-a"]
    assert after_correction["mark-b"] == start["mark-b"]
    # AND a live update changing mark-b moves mark-b's, and a PATCH of mark-a moves mark-a's
    service.create_incident(IncidentCreate(name="Live", status="investigating", body="b",
                                           components={"mark-b": "partial_outage"}))
    after_live = marks()
    assert after_live["mark-b"] != start["mark-b"] and after_live["mark-a"] == after_correction["mark-a"]
    service.patch_component("mark-a", ComponentPatch(status="degraded_performance"))
    assert marks()["mark-a"] != after_live["mark-a"]
