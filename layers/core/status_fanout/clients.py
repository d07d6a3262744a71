"""The one place boto3 clients are made: on first use, not at import, so a cold
start that never calls a service (a refused request, /openapi.json) does not
pay for its client (~100 ms or more each, docs/benchmarks.md)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config


def make(service: str, config: Config | None = None) -> Any:
    return boto3.client(service, config=config)


class aws_client:
    """A class attribute that is its instance's boto3 client for `service`,
    made on first use; `self._<name>` holds it (set it to inject a client)."""

    def __init__(self, service: str, config: Config | None = None) -> None:
        self.service = service
        self.config = config
        self.slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        client = getattr(instance, self.slot, None)
        if client is None:
            client = make(self.service, self.config)
            setattr(instance, self.slot, client)
        return client
