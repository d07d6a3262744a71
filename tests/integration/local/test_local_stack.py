"""The local stack runs a SAM template against moto with the real event shapes.

One stack (from localstack_fixtures/template.yaml and its toy handlers) serves
the whole class, because starting one costs about two seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from status_fanout_local.pollers import StreamPoller
from status_fanout_local.stack import LocalStack
from status_fanout_local.template import DynamoDBEvent, Template, load_template

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent / "localstack_fixtures"
PARAMETERS = {"Secret": "s3cret", "Greeting": "hi from the test"}


def request(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes, Any]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, dict(response.headers), response.read(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read(), error.headers


def drain(queue_url: str, expected: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(messages) < expected and time.monotonic() < deadline:
        response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages += response.get("Messages", [])
    return messages


def seen(stack: LocalStack, prefix: str) -> list[dict[str, Any]]:
    s3 = boto3.client("s3")
    bucket = stack.physical["PublicBucket"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return [json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) for key in sorted(keys)]


def test_template_reads_every_short_tag(tmp_path: Path) -> None:
    # GIVEN a template using each CloudFormation short tag
    (tmp_path / "template.yaml").write_text(
        "Conditions:\n"
        "  A: !Equals [x, x]\n"
        "  B: !Not [!Condition A]\n"
        "  C: !Or [!Condition B, !And [!Condition A, !Equals [1, 1]]]\n"
        "Mappings:\n  M: {k: {v: mapped}}\n"
        "Resources:\n  T: {Type: AWS::CloudWatch::Alarm}\n"
        "Outputs:\n"
        "  o1: {Value: !Ref AWS::Region}\n"
        "  o2: {Value: !GetAtt T.Arn}\n"
        "  o3: {Value: !Sub '${AWS::StackName}-${T}-${!Literal}'}\n"
        "  o4: {Value: !If [C, chosen, other]}\n"
        "  o5: {Value: !Join ['-', [a, b]]}\n"
        "  o6: {Value: !Select [1, !Split [',', 'x,y,z']]}\n"
        "  o7: {Value: !FindInMap [M, k, v]}\n"
        "  o8: {Value: !Select [0, !GetAZs '']}\n"
        "  o9: {Value: !If [B, x, !Ref AWS::NoValue]}\n"
    )
    raw = load_template(tmp_path / "template.yaml")
    assert raw["Outputs"]["o2"]["Value"] == {"Fn::GetAtt": ["T", "Arn"]}

    # WHEN its outputs are resolved
    outputs = Template(tmp_path).resolver().resolve(raw["Outputs"])

    # THEN every intrinsic is evaluated and non-emulated resources become placeholders
    values = {name: output.get("Value") for name, output in outputs.items()}
    assert values == {
        "o1": "us-east-1",
        "o2": "local-placeholder-t-arn",
        "o3": "status-fanout-local-local-placeholder-t-${Literal}",
        "o4": "chosen",
        "o5": "a-b",
        "o6": "y",
        "o7": "mapped",
        "o8": "us-east-1a",
        "o9": None,
    }


@pytest.fixture(scope="class")
def stack() -> Iterator[LocalStack]:
    # Class scope: torn down before the tests below start stacks of their own.
    with LocalStack(FIXTURES, parameters=PARAMETERS, env={"EXTRA": "from-env"}) as running:
        yield running


class _PoisonRuntime:
    """Fails any batch holding a record whose sequence number is 3."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        self.calls.append(sequence_numbers)
        if "3" in sequence_numbers:
            raise ValueError("poison")
        return None


class _RecordingPoller(StreamPoller):
    given_up: list[list[str]]

    def _send_to_destination(self, shard_id: str, records: list[dict[str, Any]], attempts: int, sqs: Any) -> None:
        self.given_up.append([r["dynamodb"]["SequenceNumber"] for r in records])


def test_stream_batch_is_bisected_until_the_poison_record_is_isolated() -> None:
    # GIVEN a mapping with BisectBatchOnFunctionError and one retry
    runtime = _PoisonRuntime()
    event = DynamoDBEvent(name="S", stream="arn:stream", bisect_on_error=True, maximum_retry_attempts=1)
    poller = _RecordingPoller(runtime, "F", event, client=lambda service: None)  # type: ignore[arg-type]
    poller.given_up = []
    batch = [{"dynamodb": {"SequenceNumber": str(n)}} for n in range(1, 5)]

    # WHEN a batch with the poison record in it is delivered
    poller._deliver("shard-1", batch, sqs=None)

    # THEN halves are retried in order, and only the poison record is given up on after its retry
    assert runtime.calls == [["1", "2", "3", "4"], ["1", "2"], ["3", "4"], ["3"], ["3"], ["4"]]
    assert poller.given_up == [["3"]]


class TestRunningStack:

    def test_api_event_has_api_gateway_shape(self, stack: LocalStack) -> None:
        # GIVEN a route /items/{item_id} with PUT in the template
        url = f"{stack.api_url}/items/a%20b?x=1&x=2&y=z"

        # WHEN a client PUTs JSON to it
        status, _, body, headers = request(url, "PUT", b'{"name": "x"}', {"X-Test": "yes"})

        # THEN the handler got a REST API proxy event and its response came back
        assert status == 200
        assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]
        answer = json.loads(body)
        event = answer["event"]
        assert event["resource"] == "/items/{item_id}"
        assert event["path"] == "/items/a b"
        assert event["httpMethod"] == "PUT"
        assert event["pathParameters"] == {"item_id": "a b"}
        assert event["queryStringParameters"] == {"x": "2", "y": "z"}
        assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["z"]}
        assert event["headers"]["X-Test"] == "yes"
        assert event["multiValueHeaders"]["X-Test"] == ["yes"]
        assert event["body"] == '{"name": "x"}'
        assert event["isBase64Encoded"] is False
        assert event["stageVariables"] is None
        context = event["requestContext"]
        assert context["resourcePath"] == "/items/{item_id}"
        assert context["stage"] == "prod"
        assert context["identity"]["sourceIp"] == "127.0.0.1"
        assert isinstance(context["requestTimeEpoch"], int)
        # AND the environment and context come from the template
        assert answer["env"]["TABLE_NAME"] == "status-fanout-local-table"
        assert answer["env"]["GREETING"] == "hi from the test"
        assert answer["env"]["SECRET"] == "s3cret"
        assert answer["env"]["SITE_URL"] == "https://status-fanout-local-publicbucket.s3.us-east-1.amazonaws.com"
        assert answer["env"]["WORK_QUEUE_URL"] == stack.queue_url("WorkQueue")
        # A real topic in the emulator, not a placeholder
        assert answer["env"]["TOPIC"] == "arn:aws:sns:us-east-1:123456789012:status-fanout-local-alertstopic"
        assert answer["context"]["function_name"] == "status-fanout-local-echofunction"
        assert answer["context"]["memory_limit_in_mb"] == 256
        assert 0 < answer["context"]["remaining_ms"] <= 10_000
        assert os.environ["EXTRA"] == "from-env"

    def test_binary_body_and_greedy_path(self, stack: LocalStack) -> None:
        # GIVEN a {proxy+} route with method ANY
        # WHEN a body that is not UTF-8 is sent to a deep path
        status, _, body, _ = request(f"{stack.api_url}/proxy/a/b/c", "DELETE", b"\xff\xfe")

        # THEN the event carries it base64-encoded with the greedy parameter
        event = json.loads(body)["event"]
        assert status == 200
        assert event["pathParameters"] == {"proxy": "a/b/c"}
        assert event["isBase64Encoded"] is True
        assert event["body"] == "//4="

    def test_known_path_with_other_method_is_405(self, stack: LocalStack) -> None:
        # GIVEN /items/{item_id} only has GET and PUT
        # WHEN it is DELETEd
        status, _, body, _ = request(f"{stack.api_url}/items/1", "DELETE")

        # THEN API-style 405
        assert status == 405
        assert json.loads(body)["error"]["code"] == "method_not_allowed"

    def test_handler_exception_is_502(self, stack: LocalStack) -> None:
        # GIVEN a handler that raises
        # WHEN its route is called
        status, _, body, _ = request(f"{stack.api_url}/boom")

        # THEN API Gateway's answer to a function error
        assert (status, json.loads(body)) == (502, {"message": "Internal server error"})

    def test_body_over_api_gateway_limit_is_413(self, stack: LocalStack) -> None:
        # GIVEN a body one byte over 10 MiB
        # WHEN it is POSTed to an API route
        status, _, body, _ = request(f"{stack.api_url}/echo", "POST", b"x" * (10 * 1024 * 1024 + 1))

        # THEN 413 without invoking the handler
        assert status == 413
        assert json.loads(body)["error"]["code"] == "payload_too_large"

    def test_public_bucket_is_served_with_conditional_gets(self, stack: LocalStack) -> None:
        # GIVEN an index page in the public bucket
        boto3.client("s3").put_object(
            Bucket=stack.physical["PublicBucket"],
            Key="index.html",
            Body=b"<h1>ok</h1>",
            ContentType="text/html; charset=utf-8",
            CacheControl="max-age=60",
        )

        # WHEN / is fetched
        status, headers, body, _ = request(f"{stack.api_url}/")

        # THEN the object comes back with its metadata
        assert (status, body) == (200, b"<h1>ok</h1>")
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert headers["Cache-Control"] == "max-age=60"
        assert headers["Content-Length"] == "11"
        etag, last_modified = headers["ETag"], headers["Last-Modified"]

        # AND conditional requests are answered like S3/CloudFront
        status, headers, body, _ = request(f"{stack.api_url}/", headers={"If-None-Match": etag})
        assert (status, body, headers["ETag"]) == (304, b"", etag)
        status, _, _, _ = request(f"{stack.api_url}/index.html", headers={"If-Modified-Since": last_modified})
        assert status == 304
        status, _, _, _ = request(f"{stack.api_url}/", headers={"If-None-Match": '"other"'})
        assert status == 200
        status, headers, body, _ = request(f"{stack.api_url}/", "HEAD")
        assert (status, body, headers["Content-Length"]) == (200, b"", "11")
        assert request(f"{stack.api_url}/missing.json")[0] == 404

    def test_stream_records_reach_consumer_with_images(self, stack: LocalStack) -> None:
        # GIVEN an item written and then changed
        table = stack.physical["Table"]
        ddb = boto3.client("dynamodb")
        ddb.put_item(TableName=table, Item={"pk": {"S": "c#1"}, "sk": {"S": "v"}, "n": {"N": "1"}})
        ddb.update_item(
            TableName=table,
            Key={"pk": {"S": "c#1"}, "sk": {"S": "v"}},
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": "2"}},
        )

        # WHEN the stack has drained the stream
        stack.wait_idle(10)

        # THEN the consumer saw both records in order, in Lambda's shape
        records = [r for r in seen(stack, "seen/stream/") if r["dynamodb"]["Keys"]["pk"]["S"] == "c#1"]
        assert [r["eventName"] for r in records] == ["INSERT", "MODIFY"]
        insert, modify = records
        assert insert["dynamodb"]["NewImage"]["n"] == {"N": "1"}
        assert "OldImage" not in insert["dynamodb"]
        assert modify["dynamodb"]["OldImage"]["n"] == {"N": "1"}
        assert modify["dynamodb"]["NewImage"]["n"] == {"N": "2"}
        assert modify["eventSource"] == "aws:dynamodb"
        assert modify["eventVersion"] == "1.1"
        assert modify["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert isinstance(modify["dynamodb"]["ApproximateCreationDateTime"], float)
        assert modify["eventSourceARN"] == stack.resources["Table"].attributes["StreamArn"]

    def test_stream_record_failing_every_retry_goes_to_on_failure_queue(self, stack: LocalStack) -> None:
        # GIVEN a record the consumer always reports as failed (MaximumRetryAttempts: 1)
        boto3.client("dynamodb").put_item(
            TableName=stack.physical["Table"],
            Item={"pk": {"S": "poison"}, "sk": {"S": "v"}, "poison": {"BOOL": True}},
        )

        # WHEN the stream is drained
        stack.wait_idle(10)

        # THEN Lambda's on-failure record lands in the destination queue
        (message,) = drain(stack.queue_url("StreamFailureQueue"), 1)
        info = json.loads(message["Body"])
        assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert info["requestContext"]["approximateInvokeCount"] == 2
        assert info["DDBStreamBatchInfo"]["batchSize"] == 1
        assert info["DDBStreamBatchInfo"]["streamArn"] == stack.resources["Table"].attributes["StreamArn"]

    def test_failing_sqs_message_lands_in_dlq(self, stack: LocalStack) -> None:
        # GIVEN a good and a poison message (maxReceiveCount 2, visibility 1 s)
        sqs = boto3.client("sqs")
        good = sqs.send_message(
            QueueUrl=stack.queue_url("WorkQueue"),
            MessageBody="good",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
        )["MessageId"]
        # Handled before the poison one is sent: in one batch with it, the good
        # message would fail with it and be received twice.
        stack.wait_idle(15)
        sqs.send_message(QueueUrl=stack.queue_url("WorkQueue"), MessageBody="poison")

        # WHEN the queue is drained
        stack.wait_idle(15)

        # THEN the good one was handled once, in Lambda's record shape
        (record,) = [r for r in seen(stack, "seen/queue/") if r["messageId"] == good]
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"] == stack.resources["WorkQueue"].attributes["Arn"]
        assert record["messageAttributes"]["kind"] == {
            "stringValue": "test",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
        assert record["attributes"]["ApproximateReceiveCount"] == "1"
        assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
        # AND the poison one is in the dead-letter queue
        (dead,) = drain(stack.queue_url("WorkDeadLetterQueue"), 1)
        assert dead["Body"] == "poison"

    def test_invoke_runs_a_function_directly(self, stack: LocalStack) -> None:
        # GIVEN the stream consumer
        # WHEN it is invoked with an empty batch
        # THEN its return value comes back as JSON
        assert stack.invoke("StreamFunction", {"Records": []}) == {"batchItemFailures": []}


def test_stack_stops_cleanly() -> None:
    # GIVEN a running stack
    before = os.environ.get("AWS_ENDPOINT_URL")
    threads_before = {t.name for t in threading.enumerate()}
    stack = LocalStack(FIXTURES, parameters=PARAMETERS).start()
    api_url, moto_url = stack.api_url, stack.moto_url
    assert request(f"{api_url}/items/1")[0] == 200

    # WHEN it is stopped
    stack.stop()

    # THEN nothing listens, no poller thread is left and the env is restored
    for url in (api_url, moto_url):
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(url, timeout=2)
    leftover = {t.name for t in threading.enumerate()} - threads_before
    assert not {name for name in leftover if name.startswith(("ddb-", "sqs-", "local-http"))}
    assert os.environ.get("AWS_ENDPOINT_URL") == before


def test_run_forever_exits_zero_on_sigterm() -> None:
    # GIVEN the stack running as a CLI would run it
    code = (
        "import sys; from pathlib import Path; from status_fanout_local.stack import LocalStack; "
        f"sys.exit(LocalStack(Path({str(FIXTURES)!r}), parameters={PARAMETERS!r}).run_forever())"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        assert any("http://127.0.0.1:" in line for line in lines)

        # WHEN it gets SIGTERM
        process.send_signal(signal.SIGTERM)

        # THEN it stops with exit code 0
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
