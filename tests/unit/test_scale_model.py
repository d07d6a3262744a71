"""The scale model (bench/scale_model.py) says what a user would check by hand:
SES-bound times are subscribers / send rate, the bottleneck is named, and the
call counts follow the batch sizes of template.yaml and the code."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sm() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scale_model", ROOT / "bench" / "scale_model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scale_model"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def email(sm: ModuleType, n: int, rate: float, *flags: str) -> dict[str, Any]:
    model = sm.build_model(sm.parse_args(list(flags)))
    result: dict[str, Any] = sm.channel(model, "email", n, rate)
    return result


def test_a_million_mails_at_14_per_second_take_a_million_fourteenths_and_ses_is_the_bottleneck(sm: ModuleType) -> None:
    # GIVEN the template as deployed and SES at 14 mails/s
    # WHEN one update goes to 1,000,000 email subscribers
    result = email(sm, 1_000_000, 14)
    # THEN the last mail leaves after ~1,000,000 / 14 s (plus seconds of pipeline latency)
    assert result["time_to_last_s"] == pytest.approx(1_000_000 / 14, rel=0.01)
    assert "SES" in result["bottleneck"]
    assert result["throughput_per_s"] == pytest.approx(14)
    # AND the model says that at this size a plan job outlives FanoutFunction's timeout
    assert result["planning"]["status"] == "fails"
    assert "Timeout" in result["blocker"]


def test_doubling_the_send_rate_halves_the_time_while_ses_is_the_bottleneck(sm: ModuleType) -> None:
    # GIVEN 100,000 subscribers, SES-bound at 14/s
    slow = email(sm, 100_000, 14)
    # WHEN SES allows 28/s
    fast = email(sm, 100_000, 28)
    # THEN the time to the last mail halves, and SES is still what binds
    assert "SES" in slow["bottleneck"] and "SES" in fast["bottleneck"]
    assert fast["time_to_last_s"] / slow["time_to_last_s"] == pytest.approx(0.5, abs=0.01)


def test_past_a_high_send_rate_the_email_senders_concurrency_binds_and_raising_it_helps(sm: ModuleType) -> None:
    # GIVEN a million subscribers, SES at 3,000 mails/s and the template's 5 email sender containers
    capped = email(sm, 1_000_000, 3_000)
    # WHEN MaximumConcurrency (and EMAIL_SENDER_CONCURRENCY with it) goes to 250, with the
    # planning fix docs/scaling.md gives (64 shards, one plan job per invocation)
    raised = email(sm, 1_000_000, 3_000, "--email-concurrency", "250", "--shards", "64", "--plan-batch", "1")
    # THEN the default is bound by the sender, not SES, and the raised one is far faster and SES-bound
    assert capped["bottleneck"].startswith("email sender")
    assert capped["throughput_per_s"] < 3_000
    assert "SES" in raised["bottleneck"]
    assert raised["time_to_last_s"] < capped["time_to_last_s"] / 10
    assert raised["blocker"] is None


def test_call_counts_follow_the_batch_arithmetic(sm: ModuleType) -> None:
    # GIVEN 100,000 email subscribers over the template's 16 shards
    model = sm.build_model(sm.parse_args([]))
    shards, n = model.deployment.shards, 100_000
    # WHEN the model counts the calls of one update
    result = sm.channel(model, "email", n, 14)
    # THEN planning sends ceil(shard / 10) batches per shard, the sender runs in batches of 10,
    # and every mail costs one SendEmail, two GetItems and a claim (PutItem + UpdateItem)
    assert result["sqs"]["SendMessageBatch"] == sum(math.ceil(s / 10) for s in sm.shard_sizes(n, shards))
    assert result["lambda"]["sender_invocations"] == math.ceil(n / model.deployment.email_batch)
    assert result["ses_send_email"] == n
    assert result["dynamodb"]["calls"]["GetItem"] == 2 * n
    assert result["dynamodb"]["calls"]["PutItem"] == result["dynamodb"]["calls"]["UpdateItem"] == n
    # AND the index is read in 1 MB pages of real-sized items, one query more per touched component
    pages_per_shard = math.ceil(math.ceil(n / shards) * model.index_item_bytes["email"] / 1_000_000)
    assert result["dynamodb"]["calls"]["Query"] == shards * (pages_per_shard + model.components)


def test_webhook_batches_of_50_are_received_and_deleted_ten_messages_a_call(sm: ModuleType) -> None:
    # GIVEN 10,000 webhook endpoints and the sender's BatchSize of 50
    model = sm.build_model(sm.parse_args([]))
    # WHEN the model counts the webhook channel's SQS requests
    result = sm.channel(model, "webhook", 10_000)
    # THEN 200 invocations each take 5 receives and 5 deletes, and every delivery writes 3 items
    plan_invocations = math.ceil(model.deployment.shards / model.deployment.plan_batch)
    assert result["lambda"]["sender_invocations"] == 200
    assert result["sqs"]["ReceiveMessage"] == 200 * 5 + plan_invocations
    assert result["dynamodb"]["write_request_units"] == 3 * 10_000


def test_the_cost_of_a_million_mails_is_mostly_ses_at_its_dated_list_price(sm: ModuleType) -> None:
    # GIVEN the prices written down with their date
    assert sm.PRICES_DATE and sm.PRICES["ses_per_thousand_emails"] == 0.10
    # WHEN one update goes to 1,000,000 subscribers at 14/s
    result = email(sm, 1_000_000, 14)
    # THEN SES is $100 of it and everything else together is a few dollars
    assert result["usd"]["ses"] == pytest.approx(100)
    assert 0 < result["usd_total"] - result["usd"]["ses"] < 10
