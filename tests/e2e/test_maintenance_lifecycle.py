"""A maintenance's whole life on a scaled clock, told on every channel
(docs/maintenance.md): scheduled → reminder → started → completed, each step
once, each channel once per step, components under maintenance and back;
its component's subscriber hears of it, another component's does not.

The reminder's lead is 15 s here (`MAINTENANCE_REMINDER_MINUTES=0.25`), so
the whole clock runs in under a minute."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from status_fanout_local.stack import LocalStack
from tests.conftest import Api
from tests.support.inbox import Outbox, confirmed, stack_with_outbox, wait_for
from tests.support.receivers import app_like, receivers

pytestmark = pytest.mark.e2e
ENV = {"MAINTENANCE_REMINDER_MINUTES": "0.25", "FANOUT_SHARDS": "2", "EMAIL_MAX_SEND_RATE": "100",
       "WEBHOOK_RETRY_SCHEDULE": "1,1,1"}
STEPS = ["maintenance.scheduled", "maintenance.reminder", "maintenance.started", "maintenance.completed"]
LABELS = ["Scheduled", "Reminder", "In progress", "Completed"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with stack_with_outbox(tmp_path_factory.mktemp("outbox"), ENV) as running:
        yield running


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def component_status(api: Api, component_id: str) -> str:
    return str(next(c for c in api("GET", "/v1/components").json["components"] if c["id"] == component_id)["status"])


def test_the_clock_runs_each_step_once_and_every_channel_hears_each_once(stack: LocalStack, api: Api) -> None:
    outbox = Outbox(stack.outbox_dir)
    api("PUT", "/v1/components/db", {"name": "Database", "position": 1})
    api("PUT", "/v1/components/cdn", {"name": "CDN", "position": 2, "status": "degraded_performance"})
    api("PUT", "/v1/components/web", {"name": "Web", "position": 3})
    db_fan, web_fan = "db-fan@example.com", "web-fan@example.com"
    confirmed(stack, api, outbox, db_fan, ["db"])
    confirmed(stack, api, outbox, web_fan, ["web"])
    with receivers({"/chat": app_like("slack")}) as rx:
        standard = api("POST", "/v1/webhooks", {"url": f"{rx.url}/standard"}).json
        api("POST", "/v1/webhooks", {"url": f"{rx.url}/chat", "format": "slack"})
        # GIVEN a maintenance of the database and the CDN, starting in 25 s for 15 s
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=25)
        created = api("POST", "/v1/maintenances", {
            "name": "Database failover test", "body": "We will fail the primary over to the replica.",
            "scheduled_for": iso(start), "scheduled_until": iso(start + timedelta(seconds=15)),
            "components": ["db", "cdn"]})
        assert created.status == 201, created.raw
        maintenance_id = created.json["id"]
        # WHEN the clock runs: the reminder 15 s before the start, then the start
        wait_for(lambda: api("GET", f"/v1/maintenances/{maintenance_id}").json["status"] == "in_progress",
                 timeout=60)
        # THEN during it its components are under maintenance
        assert component_status(api, "db") == component_status(api, "cdn") == "under_maintenance"
        wait_for(lambda: api("GET", f"/v1/maintenances/{maintenance_id}").json["status"] == "completed",
                 timeout=60)
        stack.wait_idle(timeout=60)
        time.sleep(2)
        # AND afterwards they are back as they were
        assert component_status(api, "db") == "operational"
        assert component_status(api, "cdn") == "degraded_performance"
        shown = api("GET", f"/v1/maintenances/{maintenance_id}").json
        steps = [u["body"] for u in reversed(shown["incident_updates"])]
        assert len(steps) == 4 and steps[0] == "We will fail the primary over to the replica."
        assert steps[1].startswith("Maintenance will begin as scheduled in")
        assert steps[2:] == ["Scheduled maintenance is currently in progress. We will provide updates as necessary.",
                             "The scheduled maintenance has been completed."]
        # AND each step came on time, the reminder about 15 s ahead
        times = [datetime.fromisoformat(u["created_at"].replace("Z", "+00:00"))
                 for u in reversed(shown["incident_updates"])]
        assert abs((times[1] - (start - timedelta(seconds=15))).total_seconds()) < 5
        assert timedelta(0) <= times[2] - start < timedelta(seconds=5)
        assert timedelta(0) <= times[3] - (start + timedelta(seconds=15)) < timedelta(seconds=5)

        # AND the partner's Standard Webhooks endpoint got each step once, signed, in order
        bodies = [Webhook(standard["secret"]).verify(r.body, {k.lower(): v for k, v in r.headers.items()})
                  for r in rx.delivered("/standard")]
        assert [b["type"] for b in sorted(bodies, key=lambda b: b["data"]["sequence"])] == STEPS
        assert {b["data"]["incident"]["scheduled_for"] for b in bodies} == {iso(start).replace("Z", ".000Z")}
        # AND the chat got each step once, in order (seconds apart)
        chats = [r.json["text"] for r in rx.delivered("/chat")]
        assert [c.rsplit("— ", 1)[1].split(" (")[0] for c in chats] == LABELS  # "Scheduled (the window)"
        assert all("Database failover test" in c for c in chats)
    # AND the database's subscriber got one mail per step, threaded; the web's none
    mails = [m for m in outbox.to(db_fan) if "failover" in str(m["Subject"])]
    assert [str(m["Subject"]).rsplit("— ", 1)[1] for m in sorted(
        mails, key=lambda m: email.utils.parsedate_to_datetime(str(m["Date"])))] == LABELS
    assert all(m["In-Reply-To"] for m in mails if not str(m["Subject"]).endswith("Scheduled"))
    assert not [m for m in outbox.to(web_fan) if "failover" in str(m["Subject"])]

    # WHEN a schedule fires again for a step already taken
    stack.invoke("MaintenanceClockFunction", {"maintenance_id": maintenance_id, "step": "complete", "sequence": 0})
    stack.wait_idle(timeout=30)
    # THEN nothing changes, and nobody hears of it again
    assert len(api("GET", f"/v1/maintenances/{maintenance_id}").json["incident_updates"]) == 4
    assert len([m for m in outbox.to(db_fan) if "failover" in str(m["Subject"])]) == 4
