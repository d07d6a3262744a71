"""End to end on the local stack: the daily render (issue 14, contract §11).
The template's DailyRenderSchedule exists in moto's Scheduler, in its own
group, five past midnight in the page's zone; the publisher invoked with its
Input re-renders `/uptime.json` (and `/`) though nothing was posted."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from status_fanout_local.template import function_arn
from tests.conftest import Api, http

pytestmark = pytest.mark.e2e
NEW_YORK = ZoneInfo("America/New_York")  # the template's default PageTimeZone


def test_the_daily_schedule_exists_in_its_group_at_five_past_midnight_in_the_page_zone(stack: Any) -> None:
    # GIVEN the local stack, up from template.yaml (moto's Scheduler, as the stack's boto3 reaches it)
    scheduler = boto3.client("scheduler")
    group = stack.physical["RenderScheduleGroup"]
    # WHEN the template's schedule is read from its group
    schedule = scheduler.get_schedule(GroupName=group, Name=stack.physical["DailyRenderSchedule"])
    # THEN it is the daily cron in the page's zone, on, targeting the publisher with the daily input
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == \
        ("cron(5 0 * * ? *)", "America/New_York")
    assert schedule["State"] == "ENABLED" and schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["Target"]["Arn"] == function_arn("PublisherFunction")
    assert json.loads(schedule["Target"]["Input"]) == {"render": "daily"}
    assert schedule["Target"]["RoleArn"].endswith("/" + stack.physical["DailyRenderSchedulerRole"])
    # AND it is the group's only schedule, and not in the maintenance group (where the API makes its own)
    assert [s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"]] == \
        [stack.physical["DailyRenderSchedule"]]
    maintenance = scheduler.list_schedules(GroupName=stack.physical["MaintenanceScheduleGroup"])["Schedules"]
    assert stack.physical["DailyRenderSchedule"] not in {s["Name"] for s in maintenance}


def test_the_daily_render_brings_uptime_json_back_ending_today_in_the_page_zone(stack: Any, api: Api) -> None:
    # GIVEN a page with a component, rendered, whose /uptime.json is then gone from the bucket
    assert api("PUT", "/v1/components/daily-api", {"name": "Daily API", "position": 1}).status in (200, 201)
    stack.wait_idle(timeout=30)
    s3, bucket = boto3.client("s3"), stack.physical["PublicBucket"]
    s3.delete_object(Bucket=bucket, Key="uptime.json")
    assert http(f"{stack.api_url}/uptime.json").status in (403, 404)
    # WHEN the publisher is invoked as the daily schedule invokes it
    result = stack.invoke("PublisherFunction", {"render": "daily"})
    # THEN it wrote /uptime.json (the page with its bars rendered too, unchanged bytes not rewritten)
    assert "uptime.json" in result["written"]
    assert not [key for key in result["written"] if key.startswith(("incidents", "history", "components/"))]
    # AND it is served, every component's days ending today in New York
    today = datetime.now(NEW_YORK).date().isoformat()
    reply = http(f"{stack.api_url}/uptime.json")
    assert reply.status == 200, reply.raw[:200]
    components = reply.json["components"]
    assert [c["id"] for c in components] == ["daily-api"] and components[0]["days"][-1]["date"] == today
    # AND a second daily render the same day writes no /uptime.json (same bytes)
    assert "uptime.json" not in stack.invoke("PublisherFunction", {"render": "daily"})["written"]
