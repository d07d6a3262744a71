"""The local stack plays CloudFormation for custom resources: it reads them from
template.yaml and sends each its Create, and a start fails as a stack would
roll back when the answer is not SUCCESS."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from status_fanout_local.custom_resources import CustomResourceFailed, create_all
from status_fanout_local.template import CustomResourceSpec, PhysicalResource, Template, physical_name

ROOT = Path(__file__).resolve().parents[3]
SPEC = CustomResourceSpec("Thing", "Custom::Thing", "ThingFunction", {"ServiceToken": "arn:fn", "Size": "3"})


def answering(status: str, reason: str = "", *, request_id: str | None = None) -> Any:
    calls: list[dict[str, Any]] = []

    def invoke(function: str, event: dict[str, Any]) -> None:
        calls.append(event)
        body = {"Status": status, "Reason": reason, "PhysicalResourceId": "thing-1",
                "StackId": event["StackId"], "RequestId": request_id or event["RequestId"],
                "LogicalResourceId": event["LogicalResourceId"], "Data": {}}
        request = urllib.request.Request(event["ResponseURL"], data=json.dumps(body).encode(), method="PUT",
                                         headers={"Content-Type": ""})
        with urllib.request.urlopen(request, timeout=5):
            pass

    invoke.calls = calls  # type: ignore[attr-defined]
    return invoke


def test_template_yaml_declares_the_public_artifacts_resource_as_cloudformation_would_send_it() -> None:
    # GIVEN template.yaml resolved as the local stack resolves it (the names its
    # resources would get stand in for creating them)
    template = Template(ROOT)
    resolver = template.resolver({"StaffTokenSha256": "0" * 64, "SenderAddress": "s@example.com",
                                  "PageUrl": "http://127.0.0.1:3000", "EnableCloudFront": "false"})
    for logical_id, resource_type, _ in template.emulated_resources(resolver):
        name = physical_name(logical_id, resource_type)
        resolver.physical[logical_id] = PhysicalResource(logical_id, resource_type, name, {
            attribute: f"{name}-{attribute}" for attribute in
            ("Arn", "StreamArn", "QueueName", "QueueUrl", "RegionalDomainName")})
    # WHEN its custom resources are read
    functions = template.functions(resolver)
    [spec] = template.custom_resources(resolver, functions)
    # THEN PublicArtifacts is one, backed by its function, with the values CloudFormation would send
    assert (spec.logical_id, spec.resource_type, spec.function) == (
        "PublicArtifacts", "Custom::PublicArtifacts", "PublicArtifactsFunction")
    [function] = [f for f in functions if f.logical_id == "PublicArtifactsFunction"]
    assert spec.properties["ServiceToken"] == function.arn
    assert spec.properties["PageName"] == "Bottlenose"
    assert spec.properties["PageUrl"] == "http://127.0.0.1:3000"
    assert spec.properties["PublicBucket"] == "status-fanout-local-publicbucket"
    # every scalar as a string, as CloudFormation sends them
    assert spec.properties["ServiceTimeout"] == "360"


def test_a_success_answer_is_returned() -> None:
    invoke = answering("SUCCESS", "done")
    created = create_all([SPEC], invoke)
    assert created["Thing"]["Reason"] == "done"
    [event] = invoke.calls
    assert event["RequestType"] == "Create" and event["ResourceProperties"] == SPEC.properties
    assert event["ResponseURL"].startswith("http://127.0.0.1:")


def test_a_failed_answer_fails_the_start_with_its_reason() -> None:
    with pytest.raises(CustomResourceFailed, match="answered FAILED: the bucket is gone"):
        create_all([SPEC], answering("FAILED", "the bucket is gone"))


def test_no_answer_fails_the_start() -> None:
    with pytest.raises(CustomResourceFailed, match="without answering CloudFormation"):
        create_all([SPEC], lambda function, event: None)


def test_an_answer_to_another_request_does_not_count() -> None:
    with pytest.raises(CustomResourceFailed):
        create_all([SPEC], answering("SUCCESS", request_id="someone-else"))


def test_a_crashing_function_fails_the_start() -> None:
    def crash(function: str, event: dict[str, Any]) -> None:
        raise ImportError("no layer")

    with pytest.raises(CustomResourceFailed, match="ImportError: no layer"):
        create_all([SPEC], crash)
