"""Burst test: many staff posts to one incident and many subscribes at once,
against the local stack, while the deliveries of earlier posts run.

`make loadtest` runs the full size (50 posts, 200 subscribes) and prints one
JSON line of counts; `tests/e2e/test_burst.py` runs a smoke size in CI and
asserts the same invariants:

- no request got a 5xx; every accepted update is stored exactly once and
  is in the public JSON;
- every webhook endpoint processed each notifying update exactly once (by
  `webhook-id`, as a Standard Webhooks receiver dedupes);
- every confirmed inbox got exactly one mail per notifying update, and each
  new subscriber exactly one confirmation mail.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from status_fanout.api.auth import hash_token
from status_fanout_local.stack import LocalStack
from tests.conftest import ROOT, STAFF_TOKEN, Api
from tests.support.inbox import Outbox, confirmed
from tests.support.receivers import receivers

ENV = {"FANOUT_SHARDS": "4", "WEBHOOK_RETRY_SCHEDULE": "1,1,1", "EMAIL_RETRY_BASE_SECONDS": "1",
       "EMAIL_MAX_SEND_RATE": "200", "SUBSCRIBE_IP_LIMIT": "100000"}
# The local stack runs four API containers on two cores; a burst queues.
CLIENT_TIMEOUT = 180


@dataclass
class BurstResult:
    posts: int
    subscribes: int
    endpoints: int
    inboxes: int
    statuses: dict[str, int] = field(default_factory=dict)
    accepted_updates: int = 0
    stored_updates: int = 0
    stored_duplicates: int = 0
    public_updates: int = 0
    notifying_updates: int = 0
    webhook_unique_per_endpoint: list[int] = field(default_factory=list)
    webhook_raw_per_endpoint: list[int] = field(default_factory=list)
    mails_per_inbox: list[int] = field(default_factory=list)
    confirmations_per_new_subscriber: dict[str, int] = field(default_factory=dict)
    burst_seconds: float = 0.0
    drained_seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        """Every broken invariant, in words; empty when the burst held."""
        found = []
        if any(answer.split()[1].startswith("5") or "no answer" in answer for answer in self.statuses):
            found.append(f"5xx or no answers: {self.statuses}")
        if self.stored_updates != self.accepted_updates or self.stored_duplicates:
            found.append(f"{self.accepted_updates} updates accepted, {self.stored_updates} stored, "
                         f"{self.stored_duplicates} twice")
        if self.public_updates != self.stored_updates:
            found.append(f"public JSON holds {self.public_updates} of {self.stored_updates} updates")
        if set(self.webhook_unique_per_endpoint) != {self.notifying_updates}:
            found.append(f"webhook endpoints processed {self.webhook_unique_per_endpoint}, "
                         f"expected {self.notifying_updates} each")
        if set(self.mails_per_inbox) != {self.notifying_updates}:
            found.append(f"inboxes got {self.mails_per_inbox}, expected {self.notifying_updates} each")
        if self.confirmations_per_new_subscriber != {"1": self.subscribes}:
            found.append(f"confirmation mails per new subscriber: {self.confirmations_per_new_subscriber}")
        return found


def run_burst(posts: int, subscribes: int, endpoints: int, inboxes: int, outbox_dir: Path) -> BurstResult:
    result = BurstResult(posts=posts, subscribes=subscribes, endpoints=endpoints, inboxes=inboxes)
    statuses: Counter[str] = Counter()
    with (LocalStack(ROOT, parameters={"StaffTokenSha256": hash_token(STAFF_TOKEN)},
                     env={**ENV, "OUTBOX_DIR": str(outbox_dir)}) as stack,
          receivers() as rx):
        api, outbox = Api(stack.api_url), Outbox(stack.outbox_dir)
        run = uuid.uuid4().hex[:6]
        hooks = [api("POST", "/v1/webhooks", {"url": f"{rx.url}/hook/{n}"}).json["id"] for n in range(endpoints)]
        readers = [f"reader{n}-{run}@example.com" for n in range(inboxes)]
        for who in readers:
            confirmed(stack, api, outbox, who)
        stack.wait_idle(timeout=120)
        created = api("POST", "/v1/incidents", {"name": "Burst", "status": "investigating", "body": "burst: opened"})
        assert created.status == 201, created.raw
        incident_id = created.json["id"]
        newcomers = [f"new{n}-{run}@example.com" for n in range(subscribes)]
        bodies = [f"burst update {n}" for n in range(posts)]

        def post(body: str) -> int | str:
            try:
                return api("POST", f"/v1/incidents/{incident_id}/updates", {"status": "identified", "body": body},
                           timeout=CLIENT_TIMEOUT).status
            except OSError as exc:  # no answer at all: counted, and a problem
                return f"no answer ({type(exc).__name__})"

        def join(who: str) -> int | str:
            try:
                return api("POST", "/v1/subscriptions", {"email": who}, auth=False, timeout=CLIENT_TIMEOUT).status
            except OSError as exc:
                return f"no answer ({type(exc).__name__})"

        started = time.monotonic()
        # The two bursts interleave: one pool, posts and subscribes alternating.
        work: list[tuple[Any, str]] = [(post, b) for b in bodies] + [(join, w) for w in newcomers]
        work.sort(key=lambda item: hash(item[1]))
        with ThreadPoolExecutor(max_workers=min(50, len(work))) as pool:
            answers = list(pool.map(lambda item: (item[0].__name__, item[1], item[0](item[1])), work))
        result.burst_seconds = round(time.monotonic() - started, 2)
        for kind, _, status in answers:
            statuses[f"{kind} {status}"] += 1
        accepted = {arg for kind, arg, status in answers if kind == "post" and status == 201}
        result.accepted_updates = len(accepted) + 1  # and the opening update
        result.notifying_updates = result.accepted_updates

        stack.wait_idle(timeout=900)
        time.sleep(1)
        result.drained_seconds = round(time.monotonic() - started, 2)
        stored = api("GET", f"/v1/incidents/{incident_id}").json["incident_updates"]
        counts = Counter(u["body"] for u in stored)
        result.stored_updates = len(stored)
        result.stored_duplicates = sum(1 for n in counts.values() if n > 1)
        if {b for b in counts if b.startswith("burst update")} != accepted:
            result.stored_duplicates += 1  # a rejected post was stored, or an accepted one was not
        public = api("GET", f"/api/v2/incidents/{incident_id}.json", auth=False).json["incident"]
        result.public_updates = len(public["incident_updates"])
        for n in range(endpoints):
            got = rx.delivered(f"/hook/{n}")
            result.webhook_raw_per_endpoint.append(len(got))
            result.webhook_unique_per_endpoint.append(len({r.headers["webhook-id"] for r in got}))
        mail = outbox.by_recipient()
        result.mails_per_inbox = [len([m for m in mail.get(who, []) if "Confirm" not in str(m["Subject"])])
                                  for who in readers]
        result.confirmations_per_new_subscriber = {
            str(k): v for k, v in Counter(len(mail.get(who, [])) for who in newcomers).items()}
        result.statuses = dict(statuses)
        for hook in hooks:
            api("DELETE", f"/v1/webhooks/{hook}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=50)
    parser.add_argument("--subscribes", type=int, default=200)
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--inboxes", type=int, default=5)
    args = parser.parse_args(argv)
    # The handlers log to stdout, as on Lambda; send all of that to stderr so
    # that stdout carries the one result line.
    sys.stdout.flush()
    result_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    with tempfile.TemporaryDirectory() as outbox:
        result = run_burst(args.posts, args.subscribes, args.endpoints, args.inboxes, Path(outbox))
    line = {"bench": "burst", **asdict(result), "problems": result.problems}
    print(json.dumps(line), file=result_out, flush=True)
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
