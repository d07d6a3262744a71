"""The burst test at CI's smoke size (`make loadtest` runs the full size)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.load.burst import run_burst

pytestmark = pytest.mark.e2e


def test_a_burst_of_posts_and_subscribes_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    # GIVEN two webhook endpoints and two confirmed inboxes
    # WHEN ten staff posts to one incident and twenty subscribes arrive at once
    result = run_burst(posts=10, subscribes=20, endpoints=2, inboxes=2, outbox_dir=tmp_path)
    # THEN no answer was a 5xx, every accepted update is stored once and public,
    # and every endpoint and inbox got exactly what it should
    assert result.accepted_updates == 11, result
    assert result.problems == [], result
