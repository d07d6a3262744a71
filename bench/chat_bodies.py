"""chat_bodies: the CPU `WebhookChannel._post` spends producing one
delivery's body bytes, per format, against the standard body's (issue 12:
"body building must not cost more than 10 % of the standard format's CPU
per delivery").

Modes, each per format and per delivery:

- `memo`: as the channel does it. A batch of `--batch` deliveries of one
  event to endpoints of one format shares a fresh `BatchMemo`: each
  delivery asks it for the body under the channel's key
  (`body\\0<event id>\\0<format>`), so the first builds it
  (`encode(standard_body(event))` or `encode(chat.formats.body(format,
  event))`, the channel's own functions) and the other `--batch` - 1 are
  memo hits. `--batch 1` is a batch with one endpoint of the format.
- `no_memo`: a build per delivery, the same two functions.
- `post`: the whole `WebhookChannel._post` with the memo as above and a
  dialer that answers 204 at once: the body, and for the standard format
  its live secrets and Standard Webhooks signature, which a chat message
  does not get (its URL is its credential).

Events (`--events`): `seed`, the seed's Bottlenose incident
(events/seed/mail-platform-outage.json) as the planner snapshots it when
posted live (six updates, then the postmortem; each standard body carries
the incident with its updates so far) and one component change, 8 events,
America/New_York; or `bench`, the event `webhook_vs_floor` sends (a 400
character update, Etc/UTC); or `long`, the seed's third update with a
long text: the postmortem's prose (no markup) and a markup-dense paragraph,
each repeated to 5,000 and to 20,000 characters (the longest an update may
be), 4 events. Each delivery cost is the mean over the events, and
`per_event_us` gives each event's.

Timing: `time.process_time()` around `--deliveries` deliveries of a
(format, mode) at a time, spread over the events, the garbage collector on
(as in the sender), what setup loaded frozen (`gc.freeze()`, as the
handlers do after their imports) and garbage collected before each event;
every round measures every (mode, format) once, in an order rotated each
round; `--rounds` rounds, and each figure is the
median of its rounds, each ratio the median of the rounds' ratios to the
standard format in the same mode.

The goal's denominator is the standard format's whole CPU per delivery in
the sender process, `--standard-delivery-cpu-ms`: by default the bench
process's CPU per standard delivery that `webhook_vs_floor` measured
(docs/benchmarks.md, issue 12). `extra_share_of_standard_delivery_cpu` =
(format - standard) / that, the goal ≤ 0.10.

One JSON line per (format, mode), `loadavg` (/proc/loadavg) at its start
and end. `--profile`: also one line per chat format with where a build
(no memo) spends its time (cProfile over the events; cProfile's own cost
inflates small functions, so read the shares, not the microseconds).

Usage: .venv/bin/python bench/chat_bodies.py [--events seed|bench|long] [--batch 50] [--deliveries 2000]
       [--rounds 21] [--standard-delivery-cpu-ms 1.74] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from status_fanout.chat import formats as chat_formats
from status_fanout.delivery.events import EventSnapshot, delivery_id
from status_fanout.delivery.jobs import BatchMemo
from status_fanout.settings import PageSettings, Settings
from status_fanout.timefmt import format_ts
from status_fanout.webhooks.channel import WebhookChannel, encode
from status_fanout.webhooks.models import BodyFormat, WebhookEndpoint, WebhookSecret, new_secret, standard_body
from status_fanout.webhooks.ssrf import Target
from status_fanout.webhooks.transport import Outcome

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "events" / "seed" / "mail-platform-outage.json"
FORMATS = ("standard", "slack", "teams", "discord", "google_chat")
MODES = ("memo", "no_memo", "post")
GOAL = 0.10
# The standard sender's bench-process CPU per delivery, webhook_vs_floor at 0 ms, 2026-12-02 01:17 (the lower
# of its two figures that day, so the larger share; docs/benchmarks.md).
STANDARD_DELIVERY_CPU_MS = 1.74
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SETTINGS = Settings(table_name="bench", page=PageSettings(name="Bottlenose", url="https://status.example.com",
                                                          time_zone="America/New_York"))
# What each app's webhook URL looks like (the channel only uses the checked target).
URLS = {"standard": "https://partner.example.com/hooks/status",
        "slack": "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX",
        "teams": "https://prod-00.westus.logic.azure.com/workflows/0000/triggers/manual/paths/invoke?sig=x",
        "discord": "https://discord.com/api/webhooks/000000000000000000/XXXXXXXXXXXXXXXXXXXX",
        "google_chat": "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=x&token=y"}


# --- the events -------------------------------------------------------------------

def seed_events() -> list[tuple[str, EventSnapshot]]:
    """The seed incident posted live (every update notifies), snapshotted by
    the planner as it would for each update and the postmortem, and one
    component change."""
    from status_fanout.delivery.planner import EventRef, Planner
    from status_fanout.incidents import lifecycle
    from status_fanout.incidents.models import Component
    from status_fanout.publishing import public_json

    doc = json.loads(SEED.read_text())
    components = {c["id"]: Component(**c, created_at="2018-01-01T00:00:00.000Z",
                                     updated_at="2018-01-01T00:00:00.000Z") for c in doc["components"]}
    first, *rest = doc["incident"]["updates"]
    incident, update = lifecycle.open_incident(
        name=doc["incident"]["name"], status=first["status"], body=first["body"], impact="critical",
        requested_components=first.get("components"), notify=True, display_at=None, components=components,
        now=datetime.fromisoformat(first["display_at"]))
    updates = [update]
    for item in rest:
        incident, update = lifecycle.add_update(
            incident, updates, status=item["status"], body=item["body"], impact=None,
            requested_components=item.get("components"), notify=True, display_at=None, components=components,
            now=datetime.fromisoformat(item["display_at"]))
        updates.append(update)
    postmortem = doc["incident"]["postmortem"]
    incident = lifecycle.publish_postmortem(incident, body=postmortem["body"], notify=True, display_at=None,
                                            now=datetime.fromisoformat(postmortem["display_at"]))
    status = public_json.status_object(components.values(), [])
    planner = Planner(cast(Any, None), cast(Any, None), SETTINGS)  # snapshots need no AWS
    refs = [(f"update {u.seq}", EventRef("update", incident.id, update_seq=u.seq)) for u in updates]
    refs.append(("postmortem", EventRef("postmortem", incident.id)))
    events = [(label, planner._incident_event(ref, incident, updates, components, status)) for label, ref in refs]
    changed = components["email-marketing"].model_copy(update={"status": "degraded_performance"})
    component = planner._component_event(EventRef("component", component_id=changed.id, old_status="operational",
                                                   version=2), {**components, changed.id: changed},
                                         {"indicator": "minor", "description": "Minor Service Outage"})
    events.append(("component", component))
    return [(label, event) for label, event in events if event is not None]


# A markup-dense paragraph: every app's markup characters, a mention, a list's and a heading's line start.
MARKUP = "We *identified* the [cause](x): `smtp-01` <@here> & #ops_team > 1. retry_queue | ~50% of mail\n"
MAX_BODY = 20_000  # an update's longest text (incidents.models.MAX_BODY)


def long_events() -> list[tuple[str, EventSnapshot]]:
    """The seed's third update with a long text: its postmortem's prose (no
    markup) and a markup-dense paragraph, each repeated to 5,000 characters
    and to the longest an update may be."""
    prose = json.loads(SEED.read_text())["incident"]["postmortem"]["body"] + "\n\n"
    _, event = seed_events()[2]
    assert event.update is not None
    events = []
    for name, unit in (("prose", prose), ("markup", MARKUP)):
        for size in (5000, MAX_BODY):
            body = (unit * (size // len(unit) + 1))[:size]
            events.append((f"{name} {size}", event.model_copy(update={
                "id": f"{event.id}:{name}:{size}", "update": {**event.update, "body": body}})))
    return events


def bench_event() -> list[tuple[str, EventSnapshot]]:
    """The event webhook_vs_floor sends."""
    at = format_ts(NOW)
    return [("bench", EventSnapshot(
        id="bench:0:bench:1", type="incident.updated", occurred_at=at, incident_id="bench",
        page={"id": "bench", "name": "Bench", "url": "http://127.0.0.1:8000", "time_zone": "Etc/UTC",
              "updated_at": at},
        status={"indicator": "minor", "description": "Minor Service Outage"},
        incident={"id": "bench", "name": "Bench incident", "status": "identified", "impact": "minor"},
        update={"id": "u0", "status": "identified", "label": "Identified", "created_at": at,
                "body": ("Update bench-event-1: " + "x" * 400)[:400]},
        sequence=1))]


# --- one delivery's body, as the channel produces it ---------------------------------------

class NullDialer:
    """A dialer whose every POST is answered 204 at once; it keeps the last one."""

    last: tuple[dict[str, str], bytes] = ({}, b"")

    def post(self, target: Target, headers: dict[str, str], body: bytes) -> Outcome:
        self.last = headers, body
        return Outcome(204, 0)


@dataclass
class Case:
    """What a round measures for one format: `deliveries` deliveries of each event."""

    fmt: str
    events: list[tuple[str, EventSnapshot]]
    batch: int
    endpoints: list[WebhookEndpoint]
    jobs: dict[str, list[dict[str, Any]]]  # event id -> one job per endpoint
    target: Target
    channel: WebhookChannel

    def build(self, event: EventSnapshot) -> bytes:
        """`_post`'s build (its memo's load), for a format other than Statuspage."""
        fmt = self.fmt
        return encode(standard_body(event) if fmt == "standard" else chat_formats.body(fmt, event))

    def memo(self, event: EventSnapshot, count: int) -> None:
        key = f"body\x00{event.id}\x00{self.fmt}"  # _post's key
        build = self.build
        for start in range(0, count, self.batch):
            memo = BatchMemo()
            for _ in range(min(self.batch, count - start)):
                memo.get(key, lambda: build(event))  # called at once, as in _post

    def no_memo(self, event: EventSnapshot, count: int) -> None:
        build = self.build
        for _ in range(count):
            build(event)

    def post(self, event: EventSnapshot, count: int) -> None:
        post, target, endpoints, jobs = self.channel._post, self.target, self.endpoints, self.jobs[event.id]
        for start in range(0, count, self.batch):
            memo = BatchMemo()
            for n in range(min(self.batch, count - start)):
                post(target, jobs[n], endpoints[n], event, NOW, memo)


def check(one: Case) -> None:
    """What is timed is what the channel sends: the bytes `build` makes are
    the bytes `_post` posts, signed for the standard format only."""
    dialer = one.channel.dialer
    assert isinstance(dialer, NullDialer)
    for label, event in one.events:
        one.post(event, 1)
        headers, body = dialer.last
        if body != one.build(event) or not isinstance(json.loads(body), dict):
            raise SystemExit(f"{one.fmt}, {label}: the channel posts other bytes than the bench builds")
        if ("webhook-signature" in headers) != (one.fmt == "standard"):
            raise SystemExit(f"{one.fmt}, {label}: headers {sorted(headers)}")


def case(fmt: str, events: list[tuple[str, EventSnapshot]], batch: int) -> Case:
    now = format_ts(NOW)
    secrets = [WebhookSecret(secret=new_secret(), created_at=now)] if fmt == "standard" else []
    endpoints = [WebhookEndpoint(id=f"wh_{fmt}_{n:04d}", url=URLS[fmt], format=cast(BodyFormat, fmt),
                                 created_at=now, updated_at=now, secrets=secrets) for n in range(batch)]
    jobs = {event.id: [{"delivery_id": delivery_id(event.id, ep.id)} for ep in endpoints] for _, event in events}
    target = Target(scheme="https", host=URLS[fmt].split("/")[2], port=443, path="/" + URLS[fmt].split("/", 3)[3],
                    address="192.0.2.1")
    channel = WebhookChannel(cast(Any, None), SETTINGS, dialer=cast(Any, NullDialer()))  # _post needs no store
    return Case(fmt, events, batch, endpoints, jobs, target, channel)


def measure(run: Callable[[EventSnapshot, int], None], events: list[tuple[str, EventSnapshot]],
            deliveries: int) -> dict[str, float]:
    """CPU µs per delivery for each event, `deliveries` deliveries spread over the events."""
    each = max(1, deliveries // len(events))
    used = {}
    for label, event in events:
        gc.collect()
        started = time.process_time()
        run(event, each)
        used[label] = (time.process_time() - started) / each * 1e6
    return used


# --- where a build's time goes ----------------------------------------------------------

# Functions whose cumulative time says where a chat build goes (module file, function name).
WHERE = {
    "chat_message (the format-neutral message)": ("message.py", "chat_message"),
    "zone (page time zone, lru_cache)": ("feeds.py", "zone"),
    "long_time (the page's time format)": ("presentation.py", "long_time"),
    "format layout (<format>.body)": ("{fmt}.py", "body"),
    "text.fit (escape + cut)": ("text.py", "fit"),
    "text.markdown (regex escaping)": ("text.py", "markdown"),
    "text.slack": ("text.py", "slack"),
    "text.card_html (html.escape)": ("text.py", "card_html"),
    "disarm_mentions (regex)": ("text.py", "disarm_mentions"),
    "encode (json.dumps + utf-8)": ("channel.py", "encode"),
    "teams size check (json.dumps)": ("teams.py", "body"),
    "importlib.import_module": ("__init__.py", "import_module"),
}


def profile(fmt: str, events: list[tuple[str, EventSnapshot]], builds: int) -> dict[str, Any]:
    one = case(fmt, events, 1)
    each = max(1, builds // len(events))
    profiler = cProfile.Profile()
    profiler.enable()
    for _, event in events:
        one.no_memo(event, each)
    profiler.disable()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    count = each * len(events)
    total = sum(tt for (_, _, tt, _, _) in stats.values())

    def cumulative(file: str, name: str) -> float:
        return sum(ct for (path, _, func), (_, _, _, ct, _) in stats.items()
                   if func == name and path.endswith("/" + file) and ("importlib" in path) == (name == "import_module"))

    where = {}
    for label, (file, name) in WHERE.items():
        if label.startswith("teams size"):
            if fmt != "teams":
                continue
            # json.dumps as teams.body calls it (its size check), not as encode does
            seconds = sum(timing[3] for (path, _, func), (_, _, _, _, callers) in stats.items()
                          if func == "dumps" and path.endswith("json/__init__.py")
                          for caller, timing in callers.items() if caller[0].endswith("/teams.py"))
        else:
            seconds = cumulative(file.format(fmt=fmt), name)
        if seconds:
            where[label] = {"share": round(seconds / total, 3), "us_per_build": round(seconds / count * 1e6, 1)}
    top = sorted(stats.items(), key=lambda kv: -kv[1][2])[:12]
    return {
        "bench": "chat_bodies.profile", "format": fmt, "builds": count, "profiled_us_per_build":
            round(total / count * 1e6, 1),
        "cumulative": where,
        "top_own_time": [{"function": f"{Path(path).name}:{line}:{func}", "share": round(tt / total, 3),
                          "calls_per_build": round(nc / count, 1)}
                         for (path, line, func), (_, nc, tt, _, _) in top],
    }


# --- the run ---------------------------------------------------------------------------

def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return f.read().strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", choices=("seed", "bench", "long"), default="seed")
    parser.add_argument("--batch", type=int, default=50, help="deliveries of one event and format per batch (memo)")
    parser.add_argument("--deliveries", type=int, default=2000, help="per (format, mode) and round")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--standard-delivery-cpu-ms", type=float, default=STANDARD_DELIVERY_CPU_MS,
                        help="the standard format's whole CPU per delivery (the goal's denominator)")
    parser.add_argument("--profile", action="store_true", help="also profile each chat format's build")
    args = parser.parse_args()

    events = {"seed": seed_events, "bench": bench_event, "long": long_events}[args.events]()
    cases = {fmt: case(fmt, events, args.batch) for fmt in FORMATS}
    pairs = [(mode, fmt) for mode in MODES for fmt in FORMATS]
    for one in cases.values():
        check(one)
    for mode, fmt in pairs:  # warm-up: imports, the zone cache, each format's module
        measure(getattr(cases[fmt], mode), events, len(events))
    # What is loaded by now is long-lived, as the handlers leave it after their
    # imports (gc.freeze): collections then scan only what the builds allocate.
    gc.collect()
    gc.freeze()

    started, load_start = now_text(), loadavg()
    rounds: dict[tuple[str, str], list[dict[str, float]]] = {pair: [] for pair in pairs}
    for round_ in range(args.rounds):
        shift = round_ % len(pairs)
        for mode, fmt in pairs[shift:] + pairs[:shift]:
            rounds[mode, fmt].append(measure(getattr(cases[fmt], mode), events, args.deliveries))
    load_end = loadavg()

    denominator_us = args.standard_delivery_cpu_ms * 1000
    for mode, fmt in pairs:
        mine = [statistics.fmean(r.values()) for r in rounds[mode, fmt]]
        standard = [statistics.fmean(r.values()) for r in rounds[mode, "standard"]]
        cpu, standard_cpu = statistics.median(mine), statistics.median(standard)
        extra = statistics.median(m - s for m, s in zip(mine, standard, strict=True))
        quartiles = statistics.quantiles(mine, n=4) if len(mine) > 1 else [cpu, cpu, cpu]
        share = extra / denominator_us
        print(json.dumps({
            "bench": "chat_bodies", "format": fmt, "mode": mode, "events": args.events, "event_count": len(events),
            "batch": args.batch if mode != "no_memo" else 1, "deliveries_per_round": args.deliveries,
            "rounds": args.rounds,
            "cpu_us_per_delivery": round(cpu, 2), "cpu_us_quartiles": [round(quartiles[0], 2), round(quartiles[2], 2)],
            "standard_cpu_us_per_delivery": round(standard_cpu, 2),
            "ratio_to_standard": round(statistics.median(m / s for m, s in zip(mine, standard, strict=True)), 3),
            "extra_us_per_delivery": round(extra, 2),
            "standard_delivery_cpu_ms": args.standard_delivery_cpu_ms,
            "extra_share_of_standard_delivery_cpu": round(share, 4),
            "goal": f"extra_share_of_standard_delivery_cpu <= {GOAL}", "goal_holds": share <= GOAL,
            "per_event_us": {label: round(statistics.median(r[label] for r in rounds[mode, fmt]), 1)
                             for label, _ in events},
            "loadavg": [load_start, load_end], "started": started, "finished": now_text(),
        }), flush=True)
    if args.profile:
        for fmt in FORMATS[1:]:
            print(json.dumps(profile(fmt, events, args.deliveries)), flush=True)


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


if __name__ == "__main__":
    main()
