"""maintenance_clock: how late the maintenance clock takes each automatic step,
on the local stack (its scheduler poller firing the API's one-time schedules).

N maintenances (default 10), each on a component of its own, scheduled
through the API with a short reminder lead (MAINTENANCE_REMINDER_MINUTES,
default 0.1 = 6 s) and short windows, their starts `--spread` seconds
apart; all times are whole seconds, so an at() expression is exactly the
step's due time (schedules.py rounds a fraction of a second up). For every
step (reminder, start, completion):

  lateness   the update's created_at (the time take_step ran) - the step's due time
  poll       due -> the clock's invocation began (the scheduler poller's share)
  handler    invocation began -> the update's created_at (cold start, reads, the step)

printed as p50 and max per step and overall, one JSON line each, with the
load average (os.getloadavg) before and after and the process CPU. Target:
lateness p50 <= 2 s. The clock's invocations are timed by wrapping the local
runtime's `invoke` (this script only). Every other consumer runs as usual:
each step notifies, so the stream, fan-out and publisher work beside it.

Usage: .venv/bin/python bench/maintenance_clock.py [--maintenances N] [--spread S] [--length S]
           [--lead-minutes M] [--shards N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "sf_bench-maintenance-clock-token"  # noqa: S105 - a local throwaway token
TARGET_P50 = 2.0
STEPS = ("reminder", "start", "complete")


def call(base: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"{method} {path}: {error.code} {error.read()[:300]!r}") from error


class ClockInvocations:
    """When each invocation of the clock began, by (maintenance, step)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: dict[tuple[str, str], list[float]] = {}

    def wrap(self, original: Any) -> Any:
        recorder = self

        def invoke(runtime: Any, logical_id: str, event: Any) -> Any:
            if logical_id == "MaintenanceClockFunction" and isinstance(event, dict):
                with recorder.lock:
                    key = (str(event.get("maintenance_id")), str(event.get("step")))
                    recorder.started.setdefault(key, []).append(time.time())
            return original(runtime, logical_id, event)

        return invoke


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50_s": round(statistics.median(values), 3) if values else None,
            "max_s": round(max(values), 3) if values else None}


def _main() -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--maintenances", type=int, default=10)
    parser.add_argument("--spread", type=float, default=1.5, help="seconds between two maintenances' starts")
    parser.add_argument("--length", type=int, default=6, help="seconds each maintenance lasts")
    parser.add_argument("--lead-minutes", type=float, default=0.1, help="MAINTENANCE_REMINDER_MINUTES")
    parser.add_argument("--shards", type=int, default=0, help="FANOUT_SHARDS (default: the template's)")
    args = parser.parse_args()

    from status_fanout.api.auth import hash_token
    from status_fanout.maintenance.lifecycle import COMPLETED_BODY, REMINDER_BODY, STARTED_BODY
    from status_fanout_local.runtime import Runtime
    from status_fanout_local.stack import LocalStack

    lead = timedelta(minutes=args.lead_minutes)
    if lead.total_seconds() != int(lead.total_seconds()):
        raise SystemExit("--lead-minutes must make whole seconds")
    env = {"MAINTENANCE_REMINDER_MINUTES": str(args.lead_minutes)}
    if args.shards:
        env["FANOUT_SHARDS"] = str(args.shards)
    recorder = ClockInvocations()
    original = Runtime.invoke
    setattr(Runtime, "invoke", recorder.wrap(original))  # noqa: B010 - a bench-only patch
    reminder_prefix = REMINDER_BODY.split("{", 1)[0]
    bodies = {"start": STARTED_BODY, "complete": COMPLETED_BODY}
    load_before = os.getloadavg()
    lines: list[dict[str, Any]] = []
    try:
        with LocalStack(ROOT, parameters={"StaffTokenSha256": hash_token(TOKEN)}, env=env) as stack:
            shards = int(os.environ.get("FANOUT_SHARDS", "0"))
            for n in range(args.maintenances):
                call(stack.api_url, "PUT", f"/v1/components/bench-{n}", {"name": f"Bench component {n}"})
            stack.wait_idle(timeout=120)
            # The first start far enough ahead that every reminder is still to come once all are scheduled.
            first = datetime.now(UTC).replace(microsecond=0) + lead + timedelta(seconds=8)
            created = []
            for n in range(args.maintenances):
                start = first + timedelta(seconds=int(n * args.spread))
                created.append(call(stack.api_url, "POST", "/v1/maintenances", {
                    "name": f"Bench maintenance {n}", "body": "Scheduled by the bench.",
                    "components": [f"bench-{n}"], "scheduled_for": start.isoformat(),
                    "scheduled_until": (start + timedelta(seconds=args.length)).isoformat()}))
            cpu0 = time.process_time()
            last_end = max(parse(m["scheduled_until"]) for m in created)
            deadline = time.monotonic() + (last_end - datetime.now(UTC)).total_seconds() + 60
            shown: dict[str, Any] = {}
            while time.monotonic() < deadline:
                shown = {m["id"]: call(stack.api_url, "GET", f"/v1/maintenances/{m['id']}") for m in created}
                if all(m["status"] == "completed" for m in shown.values()):
                    break
                time.sleep(1.0)
            stack.wait_idle(timeout=120)
            cpu = time.process_time() - cpu0
    finally:
        setattr(Runtime, "invoke", original)  # noqa: B010

    load_after = os.getloadavg()
    lateness: dict[str, list[float]] = {step: [] for step in STEPS}
    poll: dict[str, list[float]] = {step: [] for step in STEPS}
    handler: dict[str, list[float]] = {step: [] for step in STEPS}
    missing, repeated = [], 0
    for maintenance_id, maintenance in shown.items():
        start, end = parse(maintenance["scheduled_for"]), parse(maintenance["scheduled_until"])
        due = {"reminder": start - lead, "start": start, "complete": end}
        for step in STEPS:
            found = [u for u in maintenance["incident_updates"]
                     if (u["body"].startswith(reminder_prefix) if step == "reminder" else u["body"] == bodies[step])]
            if not found:
                missing.append(f"{maintenance_id}/{step}")
                continue
            applied = parse(found[0]["created_at"])
            lateness[step].append((applied - due[step]).total_seconds())
            invoked = recorder.started.get((maintenance_id, step)) or []
            repeated += max(0, len(invoked) - 1)
            if invoked:
                poll[step].append(invoked[0] - due[step].timestamp())
                handler[step].append(applied.timestamp() - invoked[0])
    load = {"loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after]}
    everything = [value for values in lateness.values() for value in values]
    overall = summary(everything)
    lines.append({"bench": "maintenance_clock", "figure": "run", "maintenances": args.maintenances,
                  "spread_s": args.spread, "length_s": args.length, "lead_s": lead.total_seconds(),
                  "shards": shards, "steps_missing": missing,
                  "clock_invocations_repeated": repeated, "process_cpu_s": round(cpu, 3), **load})
    for step in STEPS:
        lines.append({"bench": "maintenance_clock", "figure": "lateness", "step": step, **summary(lateness[step]),
                      "poll_p50_s": summary(poll[step])["p50_s"], "handler_p50_s": summary(handler[step])["p50_s"],
                      **load})
    lines.append({"bench": "maintenance_clock", "figure": "lateness", "step": "all", **overall,
                  "poll_p50_s": summary([v for values in poll.values() for v in values])["p50_s"],
                  "handler_p50_s": summary([v for values in handler.values() for v in values])["p50_s"],
                  "target_p50_s": TARGET_P50, "met": overall["p50_s"] is not None and overall["p50_s"] <= TARGET_P50
                  and not missing, **load})
    return lines


def main() -> None:
    # The handlers' logs and metrics go to stdout: keep stdout for the figures.
    with contextlib.redirect_stdout(sys.stderr):
        lines = _main()
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
