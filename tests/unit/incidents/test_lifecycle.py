"""The lifecycle rules: labels, derived timestamps, backfill, postmortem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from status_fanout.errors import InvalidFieldError, NotFoundError
from status_fanout.incidents import lifecycle
from status_fanout.incidents.models import Component

NOW = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)
EDT = timedelta(hours=-4)


def components() -> dict[str, Component]:
    return {
        cid: Component(id=cid, name=name, group="Email", status="operational", position=i,
                       created_at="2018-01-01T00:00:00.000Z", updated_at="2018-01-01T00:00:00.000Z")
        for i, (cid, name) in enumerate([("smtp-email", "SMTP Email"), ("pop3-imap-email", "POP3/IMAP Email")])
    }


def seed_at(hour: int, minute: int) -> datetime:
    return datetime(2018, 8, 30, hour, minute) .replace(tzinfo=UTC) - EDT


def post(incident, updates, status, at=None, **kw):
    kw.setdefault("components", {})
    incident, update = lifecycle.add_update(
        incident, updates, status=status, body=f"{status} text", impact=None,
        requested_components=kw.pop("requested", None), notify=True, display_at=at, now=NOW, **kw,
    )
    return incident, [*updates, update]


def test_seed_labels_follow_statuspage_update_rule():
    # GIVEN the seed incident's six updates with their statuses
    incident, first = lifecycle.open_incident(
        name="Mail platform outage", status="investigating", body="b", impact=None,
        requested_components=None, notify=True, display_at=seed_at(18, 18), components={}, now=NOW,
    )
    updates = [first]
    for status, (h, m) in [("investigating", (18, 25)), ("identified", (18, 55)), ("identified", (18, 56)),
                           ("monitoring", (18, 57)), ("resolved", (22, 29))]:
        incident, updates = post(incident, updates, status, seed_at(h, m))
    # WHEN labels are computed
    labels = lifecycle.labels(updates)
    # THEN an update that keeps the previous status is labelled "Update"
    assert [labels[u.id] for u in lifecycle.display_order(updates)] == [
        "Investigating", "Update", "Identified", "Update", "Monitoring", "Resolved"]
    # AND the derived timestamps are the display times of the right updates
    assert incident.started_at == "2018-08-30T22:18:00.000Z"
    assert incident.monitoring_at == "2018-08-30T22:57:00.000Z"
    assert incident.resolved_at == "2018-08-31T02:29:00.000Z"
    assert incident.status == "resolved"


def test_backfilled_updates_never_notify_and_keep_their_time():
    # GIVEN a live incident
    incident, first = lifecycle.open_incident(
        name="n", status="investigating", body="b", impact="minor", requested_components=None, notify=True,
        display_at=None, components={}, now=NOW)
    assert first.deliver_notifications and not first.backfilled
    assert first.display_at == "2026-11-28T12:00:00.123Z"
    # WHEN an earlier-dated update is backfilled
    incident, updates = post(incident, [first], "identified", NOW - timedelta(hours=1))
    # THEN it is stored as a silent backfill and does not become the current status
    assert updates[-1].backfilled and not updates[-1].deliver_notifications
    assert incident.status == "investigating"
    assert incident.started_at == updates[-1].display_at


def test_future_display_at_is_refused_naming_the_field():
    with pytest.raises(InvalidFieldError) as err:
        lifecycle.open_incident(name="n", status="investigating", body="b", impact=None, requested_components=None,
                                notify=True, display_at=NOW + timedelta(days=1), components={}, now=NOW)
    assert err.value.field == "display_at"


def test_affected_components_record_old_and_new_status_and_impact_follows_the_worst():
    incident, first = lifecycle.open_incident(
        name="n", status="investigating", body="b", impact=None,
        requested_components={"smtp-email": "major_outage", "pop3-imap-email": "degraded_performance"},
        notify=True, display_at=None, components=components(), now=NOW)
    assert incident.impact == "critical"
    assert [(a.code, a.old_status, a.new_status) for a in first.affected_components or []] == [
        ("smtp-email", "operational", "major_outage"), ("pop3-imap-email", "operational", "degraded_performance")]
    assert incident.component_ids == ["smtp-email", "pop3-imap-email"]


def test_unknown_component_is_refused_naming_it():
    with pytest.raises(InvalidFieldError) as err:
        lifecycle.open_incident(name="n", status="investigating", body="b", impact=None,
                                requested_components={"nope": "major_outage"}, notify=True, display_at=None,
                                components=components(), now=NOW)
    assert err.value.field == "components.nope"


def test_reopening_a_resolved_incident_clears_resolved_at():
    incident, first = lifecycle.open_incident(name="n", status="investigating", body="b", impact=None,
                                              requested_components=None, notify=True, display_at=None,
                                              components={}, now=NOW - timedelta(minutes=10))
    incident, updates = post(incident, [first], "resolved", NOW - timedelta(minutes=5))
    assert incident.resolved_at is not None
    incident, updates = post(incident, updates, "investigating", NOW - timedelta(minutes=1))
    assert incident.resolved_at is None and incident.status == "investigating"


def test_correction_changes_text_not_notification_and_rederives_status():
    incident, first = lifecycle.open_incident(name="n", status="investigating", body="typo", impact=None,
                                              requested_components=None, notify=True, display_at=None,
                                              components={}, now=NOW - timedelta(minutes=10))
    incident, corrected = lifecycle.correct_update(incident, [first], first.id, body="fixed", display_at=None,
                                                   now=NOW)
    assert corrected.body == "fixed" and corrected.id == first.id and corrected.seq == first.seq
    assert corrected.deliver_notifications == first.deliver_notifications
    assert corrected.updated_at > first.updated_at
    with pytest.raises(NotFoundError):
        lifecycle.correct_update(incident, [first], "missing", body="x", display_at=None, now=NOW)


def test_postmortem_notifies_once_and_a_correction_keeps_the_first_publish_time():
    incident, _ = lifecycle.open_incident(name="n", status="resolved", body="b", impact=None,
                                          requested_components=None, notify=True, display_at=None,
                                          components={}, now=NOW - timedelta(hours=1))
    published = lifecycle.publish_postmortem(incident, body="pm", notify=True, display_at=None,
                                             now=NOW - timedelta(minutes=30))
    assert published.postmortem_notify and published.postmortem_published_at == "2026-11-28T11:30:00.123Z"
    corrected = lifecycle.publish_postmortem(published, body="pm v2", notify=True, display_at=None, now=NOW)
    assert corrected.postmortem_body == "pm v2"
    assert corrected.postmortem_published_at == published.postmortem_published_at


def test_backfilled_postmortem_never_notifies():
    incident, _ = lifecycle.open_incident(name="n", status="resolved", body="b", impact=None,
                                          requested_components=None, notify=True, display_at=seed_at(22, 29),
                                          components={}, now=NOW)
    published = lifecycle.publish_postmortem(incident, body="pm", notify=True, display_at=seed_at(22, 44), now=NOW)
    assert not published.postmortem_notify
    assert published.postmortem_published_at == "2018-08-31T02:44:00.000Z"
