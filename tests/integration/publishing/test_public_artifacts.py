"""The Custom::PublicArtifacts handler against the emulator: moto server over
HTTP, the table and bucket built from template.yaml, the handler invoked as
CloudFormation invokes it (the local stack's runtime, the template's
environment) and its answers PUT to a loopback receiver standing in for the
presigned ResponseURL."""

from __future__ import annotations

import importlib.util
import json
import time
import uuid
from typing import Any

import boto3
import pytest

from tests.conftest import ROOT, Api
from tests.support.receivers import Receivers, receivers

pytestmark = pytest.mark.integration
FUNCTION = "PublicArtifactsFunction"
HANDLER = ROOT / "functions" / "public_artifacts" / "app.py"


def objects(stack: Any) -> dict[str, bytes]:
    s3, bucket = boto3.client("s3"), stack.physical["PublicBucket"]
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def etags(stack: Any) -> dict[str, str]:
    s3, bucket = boto3.client("s3"), stack.physical["PublicBucket"]
    return {o["Key"]: o["ETag"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])}


def request(stack: Any, rx: Receivers, request_type: str, **properties: str) -> dict[str, Any]:
    """A CloudFormation request for the template's PublicArtifacts, with changed properties."""
    [spec] = [c for c in stack.custom_resources if c.logical_id == "PublicArtifacts"]
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": spec.properties["ServiceToken"],
        "ResponseURL": f"{rx.url}/cloudformation/{uuid.uuid4().hex}",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/status-fanout-local/local",
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "PublicArtifacts",
        "ResourceType": spec.resource_type,
        "ResourceProperties": {**spec.properties, **properties},
    }
    if request_type != "Create":
        event["PhysicalResourceId"] = stack.created["PublicArtifacts"]["PhysicalResourceId"]
    if request_type == "Update":
        event["OldResourceProperties"] = spec.properties
    return event


def answered(rx: Receivers, event: dict[str, Any]) -> dict[str, Any]:
    path = event["ResponseURL"].removeprefix(rx.url)
    [put] = rx.at(path)
    assert put.method == "PUT"
    answer: dict[str, Any] = put.json
    assert answer["RequestId"] == event["RequestId"] and answer["StackId"] == event["StackId"]
    return answer


def test_the_stack_start_created_the_resource_through_its_handler(stack: Any) -> None:
    # The local stack sends the Create CloudFormation sends, and the handler answered it
    answer = stack.created["PublicArtifacts"]
    assert answer["Status"] == "SUCCESS"
    assert answer["Data"]["Rendered"] == answer["Data"]["Written"] == len(etags(stack))


def test_create_renders_every_public_artifact_into_an_empty_bucket(stack: Any) -> None:
    # GIVEN an empty public bucket
    s3, bucket = boto3.client("s3"), stack.physical["PublicBucket"]
    for key in etags(stack):
        s3.delete_object(Bucket=bucket, Key=key)
    assert etags(stack) == {}
    with receivers() as rx:
        # WHEN CloudFormation sends Create
        event = request(stack, rx, "Create")
        stack.invoke(FUNCTION, event)
        answer = answered(rx, event)
    # THEN it answers SUCCESS and the empty page is in the bucket
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    rendered = objects(stack)
    assert {"index.html", "subscribe", "history.rss", "history.atom", "api/v2/summary.json",
            "api/v2/status.json", "api/v2/components.json", "api/v2/incidents.json",
            "api/v2/incidents/unresolved.json"} <= set(rendered)
    assert answer["Data"] == {"Rendered": len(rendered), "Written": len(rendered)}
    assert json.loads(rendered["api/v2/status.json"])["status"]["indicator"] == "none"
    assert b"All Systems Operational" in rendered["index.html"]


def test_update_with_a_new_page_name_renders_everything_again_with_it(stack: Any, api: Api) -> None:
    # GIVEN a page with a component and an incident, rendered by the stream publisher
    assert api("PUT", "/v1/components/smtp-email", {"name": "SMTP Email", "group": "Email"}).status == 201
    opened = api("POST", "/v1/incidents", {"name": "Queue stuck", "status": "investigating", "body": "Looking.",
                                           "components": {"smtp-email": "degraded_performance"},
                                           "notify": False})
    assert opened.status == 201, opened.raw
    stack.wait_idle(timeout=120)
    incident_id = opened.json["id"]
    assert b"Bottlenose Status" in objects(stack)[f"incidents/{incident_id}"]
    try:
        with receivers() as rx:
            # WHEN the page is renamed: CloudFormation sends Update with the new property
            event = request(stack, rx, "Update", PageName="Dolphin")
            stack.invoke(FUNCTION, event)
            answer = answered(rx, event)
        # THEN it answers SUCCESS, keeping its physical id (no replacement, no Delete)
        assert answer["Status"] == "SUCCESS", answer["Reason"]
        assert answer["PhysicalResourceId"] == event["PhysicalResourceId"]
        # AND every object, the incident's page and JSON and every feed included, has the new name
        rendered = objects(stack)
        assert {f"incidents/{incident_id}", f"api/v2/incidents/{incident_id}.json",
                "components/smtp-email/history.rss"} <= set(rendered)
        stale = [key for key, body in rendered.items() if b"bottlenose" in body.lower()]
        assert stale == []
        assert json.loads(rendered["api/v2/summary.json"])["page"]["name"] == "Dolphin"
        assert b"<title>Queue stuck \xc2\xb7 Dolphin Status</title>" in rendered[f"incidents/{incident_id}"]
        assert b"<title>Dolphin Status - Incident History</title>" in rendered["history.rss"]
        # (all of them but the components' badges, which show no page name and keep their bytes)
        unnamed = {"components/smtp-email/badge.svg", "components/smtp-email/badge.json"}
        assert unnamed <= set(rendered) and json.loads(rendered["badge.json"])["label"] == "Dolphin"
        assert answer["Data"]["Written"] == len(rendered) - len(unnamed)
    finally:
        # the rest of the module runs with the template's name again
        with receivers() as rx:
            back = request(stack, rx, "Update")
            stack.invoke(FUNCTION, back)
            assert answered(rx, back)["Status"] == "SUCCESS"
    assert b"Bottlenose Status" in objects(stack)[f"incidents/{incident_id}"]


def test_an_update_that_changes_nothing_writes_nothing(stack: Any) -> None:
    before = etags(stack)
    with receivers() as rx:
        event = request(stack, rx, "Update")
        stack.invoke(FUNCTION, event)
        answer = answered(rx, event)
    assert answer["Status"] == "SUCCESS" and answer["Data"]["Written"] == 0
    assert etags(stack) == before


def test_delete_succeeds_and_leaves_every_object(stack: Any) -> None:
    # GIVEN the rendered bucket
    before = etags(stack)
    assert before
    with receivers() as rx:
        # WHEN CloudFormation deletes the resource (stack deletion, or a rollback)
        event = request(stack, rx, "Delete")
        stack.invoke(FUNCTION, event)
        answer = answered(rx, event)
    # THEN it answers SUCCESS and every object is still there, unchanged
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == event["PhysicalResourceId"]
    assert etags(stack) == before


def test_a_render_that_fails_still_answers_failed(stack: Any) -> None:
    # GIVEN an Update naming a bucket that does not exist
    before = etags(stack)
    with receivers() as rx:
        event = request(stack, rx, "Update", PublicBucket="status-fanout-no-such-bucket")
        # WHEN it runs, the handler itself does not fail
        stack.invoke(FUNCTION, event)
        answer = answered(rx, event)
    # THEN CloudFormation hears FAILED with S3's reason, and the real bucket is untouched
    assert answer["Status"] == "FAILED"
    assert "NoSuchBucket" in answer["Reason"], answer["Reason"]
    assert etags(stack) == before


def test_a_render_still_running_near_the_deadline_answers_failed(stack: Any) -> None:
    # GIVEN the handler with no time left past its answer margin (a fresh import, as Lambda's)
    spec = importlib.util.spec_from_file_location("public_artifacts_app", HANDLER)
    assert spec is not None and spec.loader is not None
    app: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)

    class Context:
        log_stream_name = "local"
        deadline = time.monotonic() + app.ANSWER_MARGIN_SECONDS

        def get_remaining_time_in_millis(self) -> int:
            return int((self.deadline - time.monotonic()) * 1000)

    with receivers() as rx:
        event = request(stack, rx, "Update", PageName="Late")
        started = time.monotonic()
        app.lambda_handler(event, Context())
        # THEN it answers FAILED at once instead of letting Lambda end it unanswered
        assert time.monotonic() - started < app.ANSWER_MARGIN_SECONDS
        answer = answered(rx, event)
    assert answer["Status"] == "FAILED" and "still running" in answer["Reason"]

