"""feed_render: render both feeds and every page for the GitHub status history.

In-process and without AWS: the 1,282 incidents in
data/githubstatus-incidents/ (Statuspage v2 JSON) become our domain
objects (Incident, IncidentUpdate, Component) directly, then the publisher's
pure renderer (`status_fanout.publishing.publisher.render`) produces the artifacts. No
DynamoDB reads or S3 writes are timed: this measures rendering alone.

Figures (one JSON line each on stdout):

- full_seconds / full_bytes / full_artifacts: `/`, `/subscribe`, every
  incident page, the page's RSS and Atom feeds and both feeds of every
  component, from cold caches (median of 3 runs);
- full_with_json_seconds: the same plus the Statuspage v2 JSON documents;
- incremental_seconds: one new update to the newest incident, rendered as
  the publisher renders it (that incident's page, `/`, the page feeds and the
  feeds of the components it touches) in a warm publisher (median of 20);
- incremental_cold_seconds: the same in a fresh container (feed entries not
  yet cached);
- incremental_ratio / incremental_cold_ratio: incremental / full (target <= 0.05).

Usage:
    .venv/bin/python bench/feed_render.py [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from status_fanout.incidents.models import AffectedComponent, Component, Incident, IncidentUpdate
from status_fanout.publishing import feeds
from status_fanout.publishing.publisher import RECENT_INCIDENTS, RenderPlan, SiteState, render
from status_fanout.settings import PageSettings, Settings
from status_fanout.timefmt import format_ts, parse_ts

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "data" / "githubstatus-incidents"
SETTINGS = Settings(table_name="bench", page=PageSettings(name="GitHub", url="https://www.githubstatus.com",
                                                          time_zone="America/New_York"))

Pair = tuple[Incident, list[IncidentUpdate]]


def emit(figure: str, value: float | int, **extra: Any) -> None:
    print(json.dumps({"bench": "feed_render", "figure": figure, "value": value, **extra}), flush=True)


# --- the corpus as domain objects ----------------------------------------------------

def load(folder: Path) -> tuple[dict[str, Component], list[Pair]]:
    components: dict[str, Component] = {}
    incidents: list[Pair] = []
    for path in sorted(folder.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))["incident"]
        for position, c in enumerate(raw.get("components") or []):
            seen = components.get(c["id"])
            if seen is None or c["updated_at"] > seen.updated_at:
                components[c["id"]] = Component(
                    id=c["id"], name=c["name"], status=c["status"], description=c.get("description"),
                    position=c.get("position", position), created_at=c["created_at"], updated_at=c["updated_at"])
        ordered = sorted(raw["incident_updates"], key=lambda u: (u["display_at"], u["created_at"]))
        updates = [
            IncidentUpdate(
                id=u["id"], incident_id=raw["id"], seq=seq, status=u["status"], body=u["body"],
                created_at=u["created_at"], updated_at=u["updated_at"], display_at=u["display_at"],
                affected_components=[AffectedComponent(**{k: a[k] for k in ("code", "name", "old_status",
                                                                             "new_status")})
                                     for a in u.get("affected_components") or []] or None,
                deliver_notifications=u.get("deliver_notifications", True),
            )
            for seq, u in enumerate(ordered, start=1)
        ]
        incident = Incident(
            id=raw["id"], name=raw["name"], status=raw["status"], impact=raw["impact"],
            created_at=raw["created_at"], updated_at=raw["updated_at"],
            started_at=raw.get("started_at") or raw["created_at"], monitoring_at=raw.get("monitoring_at"),
            resolved_at=raw.get("resolved_at"), postmortem_body=raw.get("postmortem_body"),
            postmortem_published_at=raw.get("postmortem_published_at"),
            component_ids=[c["id"] for c in raw.get("components") or []], version=len(updates), seq=len(updates),
        )
        incidents.append((incident, updates))
    incidents.sort(key=lambda pair: (pair[0].started_at, pair[0].id), reverse=True)
    return components, incidents


def state_of(components: dict[str, Component], incidents: list[Pair], touched: list[Pair]) -> SiteState:
    """What the publisher's load_state would read for these incidents."""
    history: dict[str, list[Pair]] = {c: [] for c in components}
    for pair in incidents:
        for component_id in pair[0].component_ids:
            if component_id in history and len(history[component_id]) < feeds.FEED_ENTRIES:
                history[component_id].append(pair)
    return SiteState(
        components=components,
        unresolved=[p for p in incidents if p[0].status != "resolved"],
        recent_heads=[i for i, _ in incidents[:RECENT_INCIDENTS]],
        recent=incidents[:RECENT_INCIDENTS],
        touched=touched,
        component_history=history,
    )


def with_new_update(pair: Pair, n: int) -> Pair:
    incident, updates = pair
    latest = max(u.display_at for u in updates)
    when = format_ts(parse_ts(latest) + timedelta(minutes=n))
    update = IncidentUpdate(id=f"bench{n:06d}", incident_id=incident.id, seq=incident.seq + 1, status="monitoring",
                            body=f"A fix has been deployed (bench update {n}).", created_at=when, updated_at=when,
                            display_at=when)
    changed = incident.model_copy(update={"version": incident.version + 1, "seq": incident.seq + 1,
                                          "updated_at": max(incident.updated_at, when), "status": "monitoring"})
    return changed, [*updates, update]


def timed(action: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result). The ratios use CPU
    time: on a shared 2-core machine wall time swings with other load."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"feed_render: no corpus at {args.data}", file=sys.stderr)
        return 1
    components, incidents = load(args.data)
    updates = sum(len(u) for _, u in incidents)

    full_plan = RenderPlan(incident_ids={i.id for i, _ in incidents}, components=True, component_ids=set(components))
    full_state = state_of(components, incidents, incidents)
    runs: list[tuple[float, float]] = []
    artifacts: dict[str, Any] = {}
    for _ in range(3):
        feeds.clear_cache()
        wall, cpu, artifacts = timed(lambda: render(full_plan, full_state, SETTINGS, json=False))
        runs.append((wall, cpu))
    full, full_cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
    size = sum(len(a.body) for a in artifacts.values())
    feed_count = sum(1 for k in artifacts if k.endswith((".rss", ".atom")))
    emit("full_seconds", round(full, 4), cpu_seconds=round(full_cpu, 4), incidents=len(incidents),
         updates=updates, components=len(components))
    emit("full_bytes", size)
    emit("full_artifacts", len(artifacts), feeds=feed_count, pages=len(artifacts) - feed_count)
    feeds.clear_cache()
    with_json, with_json_cpu, _ = timed(lambda: render(full_plan, full_state, SETTINGS, json=True))
    emit("full_with_json_seconds", round(with_json, 4), cpu_seconds=round(with_json_cpu, 4))

    # One new update to the newest incident, as the publisher renders it.
    def incremental(n: int, cold: bool) -> tuple[float, float, int]:
        changed = with_new_update(incidents[0], n)
        current = [changed, *incidents[1:]]
        plan = RenderPlan(incident_ids={changed[0].id})
        state = state_of(components, current, [changed])
        if cold:
            feeds.clear_cache()
        wall, cpu, rendered = timed(lambda: render(plan, state, SETTINGS, json=False))
        return wall, cpu, len(rendered)

    feeds.clear_cache()
    render(full_plan, full_state, SETTINGS, json=False)  # a warm publisher has rendered before
    warm = [incremental(n, cold=False) for n in range(1, 21)]
    cold = [incremental(n, cold=True) for n in range(21, 31)]
    warm_s, warm_cpu = statistics.median(w for w, _, _ in warm), statistics.median(c for _, c, _ in warm)
    cold_s, cold_cpu = statistics.median(w for w, _, _ in cold), statistics.median(c for _, c, _ in cold)
    touched = len(incidents[0][0].component_ids)
    emit("incremental_seconds", round(warm_s, 5), cpu_seconds=round(warm_cpu, 5), artifacts=warm[0][2],
         components_touched=touched)
    emit("incremental_cold_seconds", round(cold_s, 5), cpu_seconds=round(cold_cpu, 5), artifacts=cold[0][2])
    emit("incremental_ratio", round(warm_cpu / full_cpu, 4), target=0.05)
    emit("incremental_cold_ratio", round(cold_cpu / full_cpu, 4), target=0.05)
    return 0 if warm_cpu / full_cpu <= 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
