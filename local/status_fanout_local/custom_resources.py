"""CloudFormation's side of custom resources, for the local stack.

On AWS, CloudFormation invokes a custom resource's function with a Create
event when the stack is made, and waits for the function's answer: a PUT of
a JSON body to the event's ResponseURL (a presigned S3 URL). The local stack
does the same when it starts, once the template's resources exist and before
it serves anything: a loopback receiver stands in for the presigned URL, and
an answer other than SUCCESS, or none at all, fails the start, as it would
roll a stack back. So `make run` goes through the very code `sam deploy`
runs (template.yaml's `PublicArtifacts` renders the empty page this way).

Only Create is ever sent: every local stack starts from nothing and takes
everything with it when it stops, so there is no Update or Delete to send.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .template import PSEUDO_PARAMETERS, CustomResourceSpec

logger = logging.getLogger("status_fanout_local.custom_resources")


class CustomResourceFailed(RuntimeError):
    """A custom resource did not answer SUCCESS: the stack would roll back."""


@contextmanager
def _response_receiver() -> Iterator[tuple[str, dict[str, Any]]]:
    """(base URL, path -> answer body) of a loopback server taking the answers."""
    answers: dict[str, Any] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                answer = json.loads(body)
            except ValueError:
                answer = {"Status": "FAILED", "Reason": f"the answer is not JSON: {body[:200]!r}"}
            with lock:
                answers[self.path] = answer
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="cloudformation-responses", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answers
    finally:
        server.shutdown()
        server.server_close()


def create_event(spec: CustomResourceSpec, response_url: str) -> dict[str, Any]:
    """The Create request CloudFormation sends a Lambda-backed custom resource."""
    return {
        "RequestType": "Create",
        "ServiceToken": spec.properties["ServiceToken"],
        "ResponseURL": response_url,
        "StackId": PSEUDO_PARAMETERS["AWS::StackId"],
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": spec.logical_id,
        "ResourceType": spec.resource_type,
        "ResourceProperties": spec.properties,
    }


def create_all(specs: list[CustomResourceSpec], invoke: Callable[[str, Any], Any]) -> dict[str, dict[str, Any]]:
    """Create each custom resource in order; logical id -> its SUCCESS answer.

    Raises CustomResourceFailed on the first that fails, crashes or returns
    without answering (on AWS that stack would wait for ServiceTimeout)."""
    created: dict[str, dict[str, Any]] = {}
    if not specs:
        return created
    with _response_receiver() as (base, answers):
        for spec in specs:
            path = f"/{spec.logical_id}/{uuid.uuid4().hex}"
            event = create_event(spec, base + path)
            try:
                invoke(spec.function, event)
            except Exception as exc:
                raise CustomResourceFailed(f"{spec.logical_id} ({spec.resource_type}): {spec.function} "
                                           f"raised {type(exc).__name__}: {exc}") from exc
            answer = answers.get(path)
            if answer is None:
                raise CustomResourceFailed(f"{spec.logical_id} ({spec.resource_type}): {spec.function} "
                                           "returned without answering CloudFormation")
            if answer.get("Status") != "SUCCESS" or answer.get("RequestId") != event["RequestId"]:
                raise CustomResourceFailed(f"{spec.logical_id} ({spec.resource_type}) answered "
                                           f"{answer.get('Status')}: {answer.get('Reason')}")
            logger.debug("created %s: %s", spec.logical_id, answer.get("Reason"))
            created[spec.logical_id] = answer
    return created
