"""When a failed job comes back: the retry timing every queue consumer uses.

SQS holds every retry (the message's visibility is set to the delay), so no
Lambda sleeps. Each delay is jittered ±20 % so a burst of failures does not
come back as a burst.
"""

from __future__ import annotations

import random

MAX_VISIBILITY = 12 * 3600  # SQS's ceiling for one message's visibility timeout
MAX_BACKOFF = 900
JITTER = 0.2
# How long a claim is ours when the caller does not say (Lambda passes the
# invocation's remaining time): a crashed attempt's delivery is retried after it.
DEFAULT_LEASE_SECONDS = 120


class RetryLater(Exception):
    """The attempt did not happen or did not succeed; the job comes back after `delay` seconds."""

    def __init__(self, delay: int) -> None:
        super().__init__(f"retry in {delay} s")
        self.delay = delay


def bounded(delay: float) -> int:
    """Whole seconds SQS can hold a message for: 0 to 12 h."""
    return int(min(MAX_VISIBILITY, max(0, round(delay))))


def backoff(base: int, attempt: int, rng: random.Random) -> int:
    """Seconds before retry `attempt` (1-based): base·2^(n-1), ±20 %, ≤ 15 min."""
    return bounded(min(MAX_BACKOFF, base * 2 ** min(attempt - 1, 20)) * (1 + rng.uniform(-JITTER, JITTER)))


def scheduled_delay(schedule: tuple[float, ...], attempt: int, retry_after: int | None,
                    rng: random.Random) -> int | None:
    """Seconds until the next attempt after failed attempt `attempt` (1-based) of a
    fixed schedule, never sooner than the receiver's Retry-After; None when exhausted.

    Whole seconds, as SQS holds a message: a step under half a second (a
    scaled schedule's first) is 0, visible again at once, and the retry then
    comes as soon as a poller next receives it."""
    if attempt > len(schedule):
        return None
    delay = schedule[attempt - 1] * (1 + rng.uniform(-JITTER, JITTER))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return bounded(delay)


def busy_delay(base: int, attempt: int, lease_seconds: int, rng: random.Random) -> int:
    """When to look again at a delivery another attempt holds. Usually that is
    a duplicate job whose twin finishes within seconds, so soon at first, then
    doubling up to the holder's lease, so a crashed holder's delivery does not
    use up the queue's receives before its lease runs out."""
    return max(1, min(lease_seconds, backoff(max(1, base), attempt, rng)))
