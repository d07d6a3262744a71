"""The deploy-time render (functions/public_artifacts, the Custom::PublicArtifacts
resource) without AWS: every path answers CloudFormation, and template.yaml
wires it so that CloudFormation sends an Update whenever a render would change.

tests/integration/publishing/test_public_artifacts.py runs the same handler against the
emulator: Create, Update, Delete and failures with real objects.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.cfn_template import ROOT, load_template
from tests.support.receivers import Receivers, receivers

HANDLER = ROOT / "functions" / "public_artifacts" / "app.py"


def load_handler() -> Any:
    """A fresh import of the handler file, as Lambda's cold start makes one."""
    spec = importlib.util.spec_from_file_location("public_artifacts_app", HANDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Context:
    remaining_seconds: float = 300.0
    log_stream_name: str = "2026/12/01/[$LATEST]abc"

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.remaining_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def event(rx: Receivers, request_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:render",
        "ResponseURL": f"{rx.url}/cfn/{request_type.lower()}",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/status-fanout/guid",
        "RequestId": f"request-{request_type}",
        "LogicalResourceId": "PublicArtifacts",
        "ResourceType": "Custom::PublicArtifacts",
        "ResourceProperties": {"ServiceToken": "arn:...", "PageName": "Bottlenose", "PublicBucket": "bucket"},
        **extra,
    }


def the_answer(rx: Receivers, request_type: str) -> dict[str, Any]:
    [put] = rx.at(f"/cfn/{request_type.lower()}")
    assert put.method == "PUT"
    # the presigned S3 URL is signed without a content type: none is sent
    assert put.headers.get("Content-Type", "") == ""
    answer: dict[str, Any] = put.json
    assert set(answer) >= {"Status", "Reason", "PhysicalResourceId", "StackId", "RequestId", "LogicalResourceId"}
    assert answer["RequestId"] == f"request-{request_type}" and answer["LogicalResourceId"] == "PublicArtifacts"
    return answer


def never(*_: Any) -> dict[str, int]:
    raise AssertionError("rendered, but this request must not render")


# --- every path answers ---------------------------------------------------------------------

def test_delete_answers_success_at_once_and_touches_nothing() -> None:
    app = load_handler()
    app.render_everything = never
    with receivers() as rx:
        # GIVEN a Delete for the resource Create made
        app.lambda_handler(event(rx, "Delete", PhysicalResourceId="public-artifacts:bucket"), Context())
        # THEN CloudFormation hears SUCCESS for the same physical id, and nothing rendered
        answer = the_answer(rx, "Delete")
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == "public-artifacts:bucket"


def test_create_and_update_render_and_keep_one_physical_id() -> None:
    app = load_handler()
    seen: list[dict[str, Any]] = []

    def render(properties: dict[str, Any], _: threading.Event) -> dict[str, int]:
        seen.append(properties)
        return {"Rendered": 9, "Written": 9}

    app.render_everything = render
    with receivers() as rx:
        app.lambda_handler(event(rx, "Create"), Context())
        created = the_answer(rx, "Create")
        app.lambda_handler(event(rx, "Update", PhysicalResourceId=created["PhysicalResourceId"],
                                 OldResourceProperties={"PageName": "Old"}), Context())
        updated = the_answer(rx, "Update")
    assert created["Status"] == updated["Status"] == "SUCCESS"
    # CloudFormation would replace the resource (and send a Delete) if the id moved
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"] == "public-artifacts:bucket"
    assert created["Data"] == {"Rendered": 9, "Written": 9} and "rendered 9 public artifacts" in created["Reason"]
    assert [p["PageName"] for p in seen] == ["Bottlenose", "Bottlenose"]


def test_a_render_that_fails_answers_failed_with_the_reason() -> None:
    app = load_handler()

    def broken(*_: Any) -> dict[str, int]:
        raise ImportError("No module named 'status_fanout'")  # a layer that did not attach

    app.render_everything = broken
    with receivers() as rx:
        app.lambda_handler(event(rx, "Create"), Context())
        answer = the_answer(rx, "Create")
    assert answer["Status"] == "FAILED"
    assert "ImportError: No module named 'status_fanout'" in answer["Reason"]
    assert answer["Reason"].startswith("log stream 2026/12/01/[$LATEST]abc: ")


def test_a_render_still_running_near_the_deadline_answers_failed_and_is_stopped() -> None:
    app = load_handler()
    stopped = threading.Event()

    def slow(_: Any, cancelled: threading.Event) -> dict[str, int]:
        if cancelled.wait(30):  # stands for a render's next AWS call, refused once cancelled
            stopped.set()
        return {"Rendered": 1, "Written": 1}

    app.render_everything = slow
    with receivers() as rx:
        # GIVEN half a second left before the answer margin
        started = time.monotonic()
        app.lambda_handler(event(rx, "Update"), Context(app.ANSWER_MARGIN_SECONDS + 0.5))
        # THEN it answers FAILED then, well before Lambda would end it
        assert time.monotonic() - started < 5
        answer = the_answer(rx, "Update")
    assert answer["Status"] == "FAILED" and "still running" in answer["Reason"]
    # AND the render is told to stop
    assert stopped.wait(5)


def test_an_unknown_request_type_answers_failed() -> None:
    app = load_handler()
    app.render_everything = never
    with receivers() as rx:
        app.lambda_handler(event(rx, "Replace"), Context())
        assert the_answer(rx, "Replace")["Status"] == "FAILED"


@pytest.mark.parametrize("text", ["x" * 100_000, "é" * 100_000, "\U0001f4e7" * 5_000])
def test_a_huge_reason_still_fits_the_4_kib_cloudformation_accepts(text: str) -> None:
    app = load_handler()

    def verbose(*_: Any) -> dict[str, int]:
        raise RuntimeError(text)

    app.render_everything = verbose
    with receivers() as rx:
        app.lambda_handler(event(rx, "Create"), Context())
        [put] = rx.at("/cfn/create")
    assert len(put.body) <= 4000 and put.json["Status"] == "FAILED"
    # the start of the reason survives: where to look, and what failed
    assert put.json["Reason"].startswith("log stream 2026/12/01/[$LATEST]abc: the render failed: RuntimeError")


def test_the_answer_is_tried_again_once_when_the_receiver_fails() -> None:
    app = load_handler()
    app.render_everything = lambda *_: {"Rendered": 1, "Written": 0}
    with receivers({"/cfn/create": lambda n: (503 if n == 1 else 200, {}, b"")}) as rx:
        app.lambda_handler(event(rx, "Create"), Context())
        assert [r.status for r in rx.at("/cfn/create")] == [503, 200]


def test_a_direct_invocation_renders_and_returns_the_counts() -> None:
    app = load_handler()
    app.render_everything = lambda props, cancelled: {"Rendered": 3, "Written": 1}
    assert app.lambda_handler({}, Context()) == {"Rendered": 3, "Written": 1}


def test_a_cancelled_client_refuses_every_call() -> None:
    app = load_handler()
    cancelled = threading.Event()

    class Client:
        region = "us-east-1"

        def put_object(self, **_: Any) -> str:
            return "put"

    client = app._Guarded(Client(), cancelled)
    assert client.put_object(Key="a") == "put" and client.region == "us-east-1"
    cancelled.set()
    with pytest.raises(app.Cancelled):
        client.put_object(Key="b")


def test_cold_start_imports_only_the_standard_library() -> None:
    # The answer must not depend on the layer, and Delete needs nothing else.
    tree = ast.parse(HANDLER.read_text())
    top_level = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    modules = {alias.name.split(".")[0] for node in top_level if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in top_level
                if isinstance(node, ast.ImportFrom) and node.module}
    assert modules - {"__future__"} <= set(sys.stdlib_module_names), modules


# --- the template ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def test_the_resource_passes_what_every_render_bakes_in_as_properties(template: dict[str, Any]) -> None:
    # CloudFormation sends an Update only when a property changes: each setting
    # a render bakes in is one, with the value the functions' environment has.
    resources = template["Resources"]
    properties = resources["PublicArtifacts"]["Properties"]
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert properties["PageName"] == env["PAGE_NAME"]
    assert properties["PageUrl"] == env["PAGE_URL"]
    assert properties["PageTimeZone"] == env["PAGE_TIME_ZONE"]
    assert properties["PublicBucket"] == env["PUBLIC_BUCKET"]
    assert properties["StatusTable"] == env["TABLE_NAME"]
    sender_env = resources["EmailSenderFunction"]["Properties"]["Environment"]["Variables"]
    assert properties["SenderAddress"] == sender_env["SENDER_ADDRESS"]
    # AND the handler maps exactly these properties onto its settings
    assert set(properties) - {"ServiceToken", "ServiceTimeout"} == set(load_handler().PROPERTY_SETTINGS)


def test_the_resource_is_wired_so_a_stack_never_hangs_on_it(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    resource, function = resources["PublicArtifacts"], resources["PublicArtifactsFunction"]["Properties"]
    assert resource["Type"] == "Custom::PublicArtifacts"
    assert resource["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["PublicArtifactsFunction", "Arn"]}
    # the function answers before its timeout; CloudFormation gives up a minute later, not an hour
    assert load_handler().ANSWER_MARGIN_SECONDS < function["Timeout"] < resource["Properties"]["ServiceTimeout"]
    # CloudFormation invokes it asynchronously: no retry answering a second time
    assert function["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    # the publisher has its new settings before the re-render
    assert resource["DependsOn"] == "PublisherFunction"
    # a failed first deploy rolls back without tripping over the rendered objects
    assert resources["PublicBucket"]["DeletionPolicy"] == "Retain"
    assert resources["PublicBucket"]["UpdateReplacePolicy"] == "Retain"


def test_the_answer_is_json_cloudformation_reads() -> None:
    app = load_handler()
    app.render_everything = lambda *_: {"Rendered": 2, "Written": 2}
    with receivers() as rx:
        returned = app.lambda_handler(event(rx, "Create"), Context())
        sent = the_answer(rx, "Create")
    assert returned == sent and json.loads(json.dumps(sent)) == sent
    assert sent["NoEcho"] is False
