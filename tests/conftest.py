"""Fixtures shared by the integration and end-to-end tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"  # real third-party samples, byte-identical copies (data/README.md)
SEED = ROOT / "events" / "seed" / "mail-platform-outage.json"
STAFF_TOKEN = "sf_test-staff-token-0123456789abcdef"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


def http(url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None,
         raw: bytes | None = None, timeout: float = 30) -> Reply:
    """One HTTP request, as a user's client would send it; never raises on 4xx/5xx."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and "Content-Type" not in (headers or {}):
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read())


@dataclass
class Api:
    """The running local stack's API, with the staff token."""

    url: str
    token: str = STAFF_TOKEN

    def __call__(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                 raw: bytes | None = None, auth: bool = True, timeout: float = 30) -> Reply:
        merged = {"Authorization": f"Bearer {self.token}"} if auth else {}
        merged.update(headers or {})
        return http(self.url + path, method, body, merged, raw, timeout)


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    """The whole system from template.yaml on moto server, one per test module."""
    from status_fanout.api.auth import hash_token
    from status_fanout_local.stack import LocalStack

    # Four shards, not the template's sixteen: every notifying change plans one
    # job per (channel, shard), and modules that never look at the fan-out
    # would otherwise spend minutes draining empty planning jobs.
    with LocalStack(ROOT, parameters={"StaffTokenSha256": hash_token(STAFF_TOKEN)},
                    env={"FANOUT_SHARDS": "4"}) as running:
        yield running


@pytest.fixture(scope="module")
def api(stack: Any) -> Api:
    return Api(stack.api_url)
