"""Replay an incident history through the staff API.

Reads our seed format (events/seed/*.json) or Statuspage v2 incident JSON
(`{"incident": {...}}`, a list of them, or a folder of such files) and posts
it as components, incidents, updates and postmortems. Every request carries a
deterministic Idempotency-Key, so re-running a replay that died half way
finishes it without duplicating anything.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (method, path, body, idempotency key) -> (status, parsed JSON body)
Send = Callable[[str, str, dict[str, Any] | None, str | None], tuple[int, Any]]


class ReplayError(RuntimeError):
    pass


@dataclass
class IncidentPlan:
    """One incident as the API calls that recreate it."""

    source_id: str
    name: str
    impact: str | None
    updates: list[dict[str, Any]]  # oldest first: status, body, display_at?, components?
    postmortem: dict[str, Any] | None = None
    components: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> PUT body


def http_sender(api_url: str, token: str, timeout: float = 30) -> Send:
    base = api_url.rstrip("/")

    def send(method: str, path: str, body: dict[str, Any] | None, key: str | None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if key:
            headers["Idempotency-Key"] = key
        request = urllib.request.Request(base + path, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            payload = err.read()
            try:
                return err.code, json.loads(payload)
            except ValueError:
                return err.code, payload.decode(errors="replace")

    return send


# --- reading -----------------------------------------------------------------

def _from_seed(doc: dict[str, Any], live: bool) -> IncidentPlan:
    incident = doc["incident"]
    components = {
        c["id"]: {k: v for k, v in c.items() if k in ("name", "group", "description", "position")}
        for c in doc.get("components", [])
    }
    updates = []
    for update in incident["updates"]:
        body: dict[str, Any] = {"status": update["status"], "body": update["body"]}
        if update.get("components"):
            body["components"] = update["components"]
        if not live:
            body["display_at"] = update["display_at"]
        updates.append(body)
    postmortem = None
    if incident.get("postmortem"):
        postmortem = {"body": incident["postmortem"]["body"]}
        if not live:
            postmortem["display_at"] = incident["postmortem"]["display_at"]
    source = doc.get("page", {}).get("source_url") or incident["name"]
    return IncidentPlan(source_id=source, name=incident["name"], impact=incident.get("impact"),
                        updates=updates, postmortem=postmortem, components=components)


def _from_statuspage(incident: dict[str, Any], live: bool) -> IncidentPlan:
    components: dict[str, dict[str, Any]] = {}
    for position, component in enumerate(incident.get("components") or [], start=1):
        components[component["id"]] = {"name": component["name"], "position": component.get("position", position)}
        if component.get("description"):
            components[component["id"]]["description"] = component["description"]
    ordered = sorted(incident["incident_updates"], key=lambda u: (u["display_at"], u["created_at"]))
    updates = []
    for update in ordered:
        body: dict[str, Any] = {"status": update["status"], "body": update["body"]}
        affected = update.get("affected_components") or []
        if affected:
            body["components"] = {a["code"]: a["new_status"] for a in affected}
            for a in affected:
                components.setdefault(a["code"], {"name": a["name"]})
        if not live:
            body["display_at"] = update["display_at"]
        updates.append(body)
    postmortem = None
    if incident.get("postmortem_body") and incident.get("postmortem_published_at"):
        postmortem = {"body": incident["postmortem_body"]}
        if not live:
            postmortem["display_at"] = incident["postmortem_published_at"]
    return IncidentPlan(source_id=incident["id"], name=incident["name"], impact=incident.get("impact"),
                        updates=updates, postmortem=postmortem, components=components)


def read_plans(source: Path, live: bool = False) -> list[IncidentPlan]:
    """Every incident in a file or folder, oldest first."""
    files = sorted(source.glob("*.json")) if source.is_dir() else [source]
    plans: list[IncidentPlan] = []
    for path in files:
        plans.extend(_plans_in(json.loads(path.read_text(encoding="utf-8")), live))
    return sorted(plans, key=lambda p: p.updates[0].get("display_at", "") if p.updates else "")


def _plans_in(doc: Any, live: bool) -> Iterator[IncidentPlan]:
    if isinstance(doc, list):
        for item in doc:
            yield from _plans_in(item, live)
    elif isinstance(doc, dict) and isinstance(doc.get("incident"), dict):
        if "updates" in doc["incident"]:
            yield _from_seed(doc, live)
        else:
            yield _from_statuspage(doc["incident"], live)
    elif isinstance(doc, dict) and isinstance(doc.get("incidents"), list):
        for incident in doc["incidents"]:
            yield _from_statuspage(incident, live)
    else:
        raise ReplayError("not a seed file or Statuspage incident JSON")


# --- posting -----------------------------------------------------------------

def _expect(status: int, payload: Any, what: str) -> Any:
    if status >= 300:
        raise ReplayError(f"{what}: HTTP {status}: {payload}")
    return payload


def ensure_components(send: Send, plans: Iterable[IncidentPlan]) -> None:
    """Create the components the incidents mention that the page lacks."""
    existing = {c["id"] for c in _expect(*send("GET", "/v1/components", None, None), "list components")["components"]}
    wanted: dict[str, dict[str, Any]] = {}
    for plan in plans:
        for component_id, body in plan.components.items():
            wanted.setdefault(component_id, body)
    for component_id, body in wanted.items():
        if component_id not in existing:
            _expect(*send("PUT", f"/v1/components/{component_id}", body, None), f"component {component_id}")


def replay_incident(send: Send, plan: IncidentPlan, key_prefix: str = "replay") -> dict[str, Any]:
    """Post one incident; returns the API's final incident object."""
    key = f"{key_prefix}:{plan.source_id}"[:200]
    first, *rest = plan.updates
    create = {"name": plan.name, **first}
    if plan.impact:
        create["impact"] = plan.impact
    incident = _expect(*send("POST", "/v1/incidents", create, f"{key}:0"), f"create {plan.name!r}")
    incident_id = incident["id"]
    for index, update in enumerate(rest, start=1):
        incident = _expect(*send("POST", f"/v1/incidents/{incident_id}/updates", update, f"{key}:{index}"),
                           f"update {index} of {plan.name!r}")
    if plan.postmortem:
        incident = _expect(*send("PUT", f"/v1/incidents/{incident_id}/postmortem", plan.postmortem, None),
                           f"postmortem of {plan.name!r}")
    return incident


def replay(send: Send, plans: list[IncidentPlan], workers: int = 4, progress: bool = False,
           key_prefix: str = "replay") -> list[dict[str, Any]]:
    ensure_components(send, plans)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(plans), unit="incident", disable=len(plans) < 2)
    results: list[dict[str, Any]] = []

    def one(plan: IncidentPlan) -> dict[str, Any]:
        result = replay_incident(send, plan, key_prefix)
        if bar is not None:
            bar.update(1)
        return result

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(one, plans))
    finally:
        if bar is not None:
            bar.close()
    return results
