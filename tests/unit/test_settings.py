"""The settings' one table of environment variables (status_fanout.settings.ENVIRONMENT)
against the model's fields and what template.yaml and the local stack set."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from status_fanout.settings import ENVIRONMENT, Settings
from status_fanout_local.stack import LOCAL_ENVIRONMENT
from tests.support.cfn_template import load_template

# Read by Powertools itself, not by our settings.
NOT_OURS = ("POWERTOOLS_",)


def leaf_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every field as ENVIRONMENT names it: "section.field" or a top-level field."""
    fields = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields += leaf_fields(annotation, f"{prefix}{name}.")
        else:
            fields.append(prefix + name)
    return fields


def template_variables() -> set[str]:
    template: dict[str, Any] = load_template()
    names = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            names |= set(((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {})
    return {name for name in names if not name.startswith(NOT_OURS)}


def test_every_field_is_read_from_exactly_one_variable() -> None:
    fields = leaf_fields(Settings)
    targets = list(ENVIRONMENT.values())
    assert len(targets) == len(set(targets)), "two variables set one field"
    assert sorted(targets) == sorted(fields)


def test_every_variable_the_template_or_the_local_stack_sets_is_read() -> None:
    told = template_variables() | set(LOCAL_ENVIRONMENT)
    assert told - set(ENVIRONMENT) == set()
    # and the table is not reading the template's names under new spellings
    assert {"TABLE_NAME", "PAGE_NAME", "WEBHOOK_QUEUE_URL", "EMAIL_QUEUE_URL", "SENDER_ADDRESS"} <= told


def test_from_env_puts_each_variable_on_its_section(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ENVIRONMENT:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("TABLE_NAME", "t")
    monkeypatch.setenv("PAGE_NAME", "Bottlenose")
    monkeypatch.setenv("PAGE_URL", "https://status.example.com/")
    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE", "1, 2,3")
    monkeypatch.setenv("WEBHOOK_RETRY_SCALE", "0.5")
    monkeypatch.setenv("FANOUT_SHARDS", "4")
    monkeypatch.setenv("SENDER_ADDRESS", "status@bottlenose.example")
    monkeypatch.setenv("STAFF_TOKEN_SHA256", "AB, cd")
    monkeypatch.setenv("EMAIL_QUEUE_URL", "")  # empty: the default
    settings = Settings.from_env()
    assert settings.table_name == "t" and settings.staff_token_sha256 == ("ab", "cd")
    assert settings.page.name == "Bottlenose" and settings.page.url == "https://status.example.com"
    assert settings.page.effective_id == "bottlenose"
    assert settings.webhook.retry_schedule == (1, 2, 3) and settings.webhook.retry_delays == (0.5, 1.0, 1.5)
    assert settings.fanout.shards == 4 and settings.email.queue_url == ""
    assert settings.email.sender_address == "status@bottlenose.example"
    assert settings.links_base == "https://status.example.com"
