"""The `Custom::PublicArtifacts` resource: every public artifact, rendered at deploy time.

CloudFormation sends Create when the stack is made, and Update when one of the
resource's properties changes: the page settings baked into every render
(PageName, PageUrl, PageTimeZone, SenderAddress), the bucket it writes and
the table it reads. Both render everything from the table's current state
with `Publisher.publish_all`, the entry point the local stack's start uses
too, so the page answers "All Systems Operational" before anything is
posted, and a renamed page is renamed everywhere at once. Objects whose
bytes did not change are not rewritten. Delete answers at once and leaves
the bucket's objects alone.

Every path answers CloudFormation (an HTTPS PUT to the event's ResponseURL),
so a stack never waits for the custom resource timeout: success; a failure
(the reason is the error); a layer that does not import; and a render still
running shortly before Lambda's time runs out (FAILED; the render is then
stopped at its next AWS call). Cold start imports only the standard library:
the answer must not depend on the layer, and a Delete needs nothing else.

Invoked directly (`aws lambda invoke --payload '{}'`), it renders everything
and returns the counts, errors raised as usual: docs/operations.md.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger("status_fanout.public_artifacts")

# Answer FAILED this long before Lambda would end the invocation: room for
# the answer itself (two tries of RESPONSE_TIMEOUT_SECONDS at most).
ANSWER_MARGIN_SECONDS = 12.0
RESPONSE_TIMEOUT_SECONDS = 5.0
# CloudFormation refuses a response body over 4,096 bytes: the reason is cut to fit.
MAX_RESPONSE_BYTES = 4000
# Resource property -> setting. template.yaml gives each property the value the
# functions' environment has (tests/unit/test_public_artifacts.py).
# A setting is "section.field" or a top-level field (status_fanout.settings).
PROPERTY_SETTINGS = {
    "PageName": "page.name",
    "PageUrl": "page.url",
    "PageTimeZone": "page.time_zone",
    "SenderAddress": "email.sender_address",
    "PublicBucket": "public_bucket",
    "StatusTable": "table_name",
}


class Cancelled(Exception):
    """The handler has answered CloudFormation already; the render must stop."""


class _Guarded:
    """A boto3 client that refuses every call once `cancelled` is set: a render
    the handler gave up on writes nothing more, even if Lambda thaws this
    container for a later event while the render's thread still exists."""

    def __init__(self, client: Any, cancelled: threading.Event) -> None:
        self._client = client
        self._cancelled = cancelled

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._cancelled.is_set():
                raise Cancelled(f"{name} refused: CloudFormation was answered already")
            return attribute(*args, **kwargs)

        return call


def render_everything(properties: dict[str, Any], cancelled: threading.Event) -> dict[str, int]:
    """Publisher.publish_all with the function's settings, the resource's
    properties winning; {"Rendered": artifacts, "Written": objects whose bytes changed}."""
    import boto3
    from botocore.config import Config

    from status_fanout.incidents.store import IncidentStore
    from status_fanout.publishing.publisher import Publisher
    from status_fanout.settings import Settings, get_settings

    values = get_settings().model_dump()
    for name, setting in PROPERTY_SETTINGS.items():
        if properties.get(name):
            section, _, field = setting.rpartition(".")
            (values[section] if section else values)[field] = str(properties[name])
    settings = Settings.model_validate(values)
    if not settings.public_bucket:
        raise ValueError("no public bucket: set PUBLIC_BUCKET or the PublicBucket property")
    # Bounded calls: a hung connection must not outlive the invocation.
    config = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 4, "mode": "standard"})
    store = IncidentStore(settings.table_name, _Guarded(boto3.client("dynamodb", config=config), cancelled))
    publisher = Publisher(store, settings, s3=_Guarded(boto3.client("s3", config=config), cancelled))
    written = publisher.publish_all()
    return {"Rendered": len(written), "Written": sum(written.values())}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "RequestType" not in event or "ResponseURL" not in event:
        # An operator's direct invocation: no CloudFormation to answer.
        return render_everything(event.get("ResourceProperties") or {}, threading.Event())
    properties = event.get("ResourceProperties") or {}
    physical_id = event.get("PhysicalResourceId") or f"public-artifacts:{properties.get('PublicBucket', '')}"
    request_type = event["RequestType"]
    if request_type == "Delete":
        return answer(event, context, "SUCCESS", "nothing to do: the bucket's objects stay", physical_id)
    if request_type not in ("Create", "Update"):
        return answer(event, context, "FAILED", f"unknown RequestType {request_type!r}", physical_id)
    status, reason, data = _render_in_time(properties, context)
    return answer(event, context, status, reason, physical_id, data)


def _render_in_time(properties: dict[str, Any], context: Any) -> tuple[str, str, dict[str, int]]:
    """Render on a worker thread; give up ANSWER_MARGIN_SECONDS before the deadline."""
    cancelled = threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["data"] = render_everything(properties, cancelled)
        except Exception as exc:  # every failure, an ImportError of the layer included, is an answer
            logger.exception("the render failed")
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="render-everything", daemon=True)
    worker.start()
    worker.join(timeout=max(0.0, context.get_remaining_time_in_millis() / 1000 - ANSWER_MARGIN_SECONDS))
    if worker.is_alive():
        cancelled.set()
        return ("FAILED", f"the render was still running {ANSWER_MARGIN_SECONDS:.0f} s before the function's "
                "timeout and was stopped; raise the function's Timeout (objects already written stay)", {})
    if "error" in outcome:
        error = outcome["error"]
        return "FAILED", f"the render failed: {type(error).__name__}: {error}", {}
    data: dict[str, int] = outcome["data"]
    return ("SUCCESS", f"rendered {data['Rendered']} public artifacts; wrote the {data['Written']} "
            "whose bytes changed", data)


def answer(event: dict[str, Any], context: Any, status: str, reason: str, physical_id: str,
           data: dict[str, int] | None = None) -> dict[str, Any]:
    """PUT the response CloudFormation waits for to the event's ResponseURL; returns it."""
    if status != "SUCCESS":
        reason = f"log stream {getattr(context, 'log_stream_name', '?')}: {reason}"
    body = {
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": physical_id,
        "StackId": event.get("StackId", ""),
        "RequestId": event.get("RequestId", ""),
        "LogicalResourceId": event.get("LogicalResourceId", ""),
        "NoEcho": False,
        "Data": data or {},
    }
    (logger.info if status == "SUCCESS" else logger.error)(
        "%s %s: %s", event.get("RequestType"), status, reason)
    send(event["ResponseURL"], body)
    return body


def fitted(body: dict[str, Any]) -> bytes:
    """The body as JSON, its Reason cut to the longest start that lets the
    whole fit MAX_RESPONSE_BYTES (a character may take 1 to 12 bytes in JSON)."""
    payload = json.dumps(body).encode()
    if len(payload) <= MAX_RESPONSE_BYTES:
        return payload
    reason = body["Reason"]

    def cut(length: int) -> bytes:
        return json.dumps({**body, "Reason": reason[:length] + "…"}).encode()

    shortest, longest = 0, min(len(reason), MAX_RESPONSE_BYTES)
    while shortest < longest:
        middle = (shortest + longest + 1) // 2
        if len(cut(middle)) <= MAX_RESPONSE_BYTES:
            shortest = middle
        else:
            longest = middle - 1
    body["Reason"] = reason[:shortest] + "…"
    return cut(shortest)


def send(url: str, body: dict[str, Any]) -> None:
    """One PUT, tried twice. The Content-Type is empty: the presigned S3 URL
    CloudFormation hands out is signed without one."""
    if urlsplit(url).scheme not in ("https", "http"):
        raise ValueError(f"not an HTTP(S) ResponseURL: {url[:80]!r}")
    payload = fitted(body)
    for attempt in (1, 2):
        request = urllib.request.Request(url, data=payload, method="PUT",  # noqa: S310 - scheme checked above
                                         headers={"Content-Type": "", "Content-Length": str(len(payload))})
        try:
            with urllib.request.urlopen(request, timeout=RESPONSE_TIMEOUT_SECONDS) as response:  # noqa: S310
                response.read()
            return
        except (urllib.error.URLError, OSError) as exc:
            if attempt == 2:
                raise
            logger.warning("answering CloudFormation failed (%s); trying once more", exc)
