"""Render-on-write: turn table changes into the public artifacts in the bucket.

The publisher reads current state from the table rather than trusting stream
images, so duplicate, reordered or replayed stream records render the same
bytes; an object whose bytes did not change is not rewritten (its ETag and
Last-Modified stay put).

Only what a change touched is rendered: an incident change renders that
incident's JSON and page, the indexes, the page feeds and the feeds of the
components it touches; a component change renders `/`, the component JSON,
`/subscribe`, its badges and (when a component is new or renamed) its feeds. A
maintenance (an incident whose impact is "maintenance", in its own index
partitions) renders like an incident, except that its documents are the
scheduled-maintenance ones and the calendar, not the incident JSON.

Every render shows each component's 90-day uptime (`/` its bars, and
`/uptime.json`, rendered on any incident, maintenance or component change),
computed once per render. A component's window is computed from its status
history (one query while the window holds fewer than 100 changes) only when
the rollup the last render stored (`uptime.Rollup`, an `UPT#` item) no longer
holds: its history moved (the component's `history_rev`), the day or the
page's zone changed. Otherwise today's figure is brought up to date from the
rollup alone, so one status change reads one component's history, not every
one's. A full render (`publish_all`) computes every window from the history
and stores the rollups again. The days move with the date too: the daily
schedule renders them (`RenderPlan.daily`) just after midnight in the page's
zone, posted or not.

`Publisher.publish_all` renders every artifact from the table's current state,
empty or not (`RenderPlan.everything`): the deploy-time custom resource
(functions/public_artifacts) and the local stack's start call it, so the page
answers before anything is posted. A new artifact must render under that plan
too; tests/unit/test_render_everything.py fails otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from status_fanout.clients import aws_client
from status_fanout.incidents.models import MAINTENANCE, Component, Incident
from status_fanout.incidents.store import COMPONENTS_PK, IncidentStore
from status_fanout.publishing import badges, feeds, ics_calendar, pages, public_json, uptime
from status_fanout.publishing.feeds import IncidentWithUpdates
from status_fanout.publishing.pages import HTML_TYPE
from status_fanout.settings import Settings
from status_fanout.timefmt import format_ts, parse_ts, utcnow

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

RECENT_INCIDENTS = 50
# scheduled-maintenances.json: Statuspage's "50 most recent", latest scheduled
# first; the calendar holds these and every upcoming or active one.
RECENT_MAINTENANCES = 50
# Parallel S3 writes per publish (boto3 clients are thread-safe).
WRITERS = 8
# Incident heads per query when a component's feed needs older incidents.
HEAD_PAGE = 100
JSON_TYPE = "application/json; charset=utf-8"
# Short enough that CloudFront serves a new update within half a minute,
# long enough that a burst of readers costs one origin fetch per edge. The same
# for JSON, feeds and HTML: all of them change on the same writes.
CACHE_CONTROL = "public, max-age=30, stale-while-revalidate=30"
UPTIME_KEY = "uptime.json"


@dataclass
class RenderPlan:
    # Incidents and maintenances whose partition changed (head or update):
    # their pages and the lists and feeds that hold them.
    incident_ids: set[str] = field(default_factory=set)
    components: bool = False
    # Components whose own artifacts (their feeds) need rendering: new or renamed
    # ones. A status change alone does not show in a component's feed.
    component_ids: set[str] = field(default_factory=set)
    # Components whose record changed in any way (a status move too): their badges.
    changed_component_ids: set[str] = field(default_factory=set)
    # A component's place on the pages that list components without their
    # status (/subscribe) may have moved: created, deleted, renamed, regrouped, reordered.
    listing: bool = False
    # Components the stream saw move from one status to another (both images):
    # every artifact showing their status differs from the bucket's (`moved_keys`).
    status_moved_ids: set[str] = field(default_factory=set)
    # A maintenance changed (or may have): the scheduled-maintenance documents
    # and the calendar render too.
    maintenances: bool = False
    # Every artifact, including the indexes and feeds that hold no incident yet:
    # the deploy-time render and the local stack's start (Publisher.publish_all).
    everything: bool = False
    # The date moved (the daily schedule, after midnight in the page's zone):
    # what shows days re-renders though nothing was posted (RenderPlan.daily).
    dated: bool = False

    @classmethod
    def daily(cls) -> RenderPlan:
        """The plan of the daily render (the `{"render": "daily"}` schedule just
        after midnight in the page's zone): what depends on the date alone, `/`
        with its 90-day bars and /uptime.json (status.json, summary.json and the
        page's badges render with every plan, and do not change with the date)."""
        return cls(dated=True)

    @classmethod
    def everything_in(cls, incident_ids: Iterable[str], component_ids: Iterable[str]) -> RenderPlan:
        """The plan that renders every public artifact of a page holding these
        incidents and maintenances and these components (all of them, or none)."""
        component_ids = set(component_ids)
        return cls(incident_ids=set(incident_ids), components=True, component_ids=component_ids,
                   changed_component_ids=set(component_ids), listing=True, maintenances=True, everything=True,
                   dated=True)

    @classmethod
    def from_stream_records(cls, records: Iterable[Mapping[str, Any]]) -> RenderPlan:
        plan = cls()
        for record in records:
            change = record.get("dynamodb", {})
            keys = change.get("Keys", {})
            pk = keys.get("pk", {}).get("S", "")
            if pk.startswith("INC#"):
                plan.incident_ids.add(pk.removeprefix("INC#"))
                plan.maintenances = plan.maintenances or _maybe_maintenance(change)
            elif pk == COMPONENTS_PK:
                plan.components = True
                component_id = keys.get("sk", {}).get("S", "").removeprefix("COMP#")
                if component_id:
                    plan.changed_component_ids.add(component_id)
                # A component's feeds show its name; /subscribe its name, group and place.
                if component_id and _moved(change, ("name",), without_both=True):
                    plan.component_ids.add(component_id)
                # Put without a HEAD only on a move both images show (an upsert may rewrite the same status).
                if component_id and _moved(change, ("status",), without_both=False):
                    plan.status_moved_ids.add(component_id)
                plan.listing = plan.listing or _moved(change, ("name", "group", "position"), without_both=True)
        return plan

    def moved_keys(self) -> set[str]:
        """The artifacts whose bytes this plan's changes are bound to move, put
        without asking the bucket first (`Publisher.write`): those showing the
        status of a component the stream saw move, and the documents carrying
        the page's `updated_at`, which a live write moves to its own time. Where
        the bytes did not move after all (a backfill stamped in the past, a
        record delivered again, a full render in between), the same bytes are
        put again: the ETag stays, Last-Modified moves, nothing is lost."""
        if not self.status_moved_ids:
            return set()
        keys = {"index.html", "api/v2/summary.json", "api/v2/components.json", "api/v2/status.json", UPTIME_KEY}
        for component_id in self.status_moved_ids:
            keys.update((f"components/{component_id}/badge.svg", f"components/{component_id}/badge.json"))
        return keys

    def __bool__(self) -> bool:
        return (bool(self.incident_ids) or self.components or bool(self.component_ids)
                or bool(self.changed_component_ids) or self.maintenances or self.everything
                or self.dated)

    @property
    def incident_lists(self) -> bool:
        """Whether the incident lists render: `incidents.json`, `unresolved.json`
        and the page feeds (on any incident change, and in the full render)."""
        return self.everything or bool(self.incident_ids)

    @property
    def uptime(self) -> bool:
        """Whether /uptime.json renders: on any change that can move a
        component's status history (written with the change, docs/data-model.md),
        and when the date moves (its window ends today)."""
        return self.everything or self.components or bool(self.incident_ids) or self.dated

    @property
    def maintenance_lists(self) -> bool:
        """Whether the scheduled-maintenance documents and the calendar render."""
        return self.everything or self.maintenances


def _maybe_maintenance(change: Mapping[str, Any]) -> bool:
    """Whether an incident partition's record may be a maintenance's: its head
    says impact "maintenance", its updates carry a `step` (an incident's never
    do). Without an image the answer is yes: the images decide only what to
    render, and rendering the maintenance documents for nothing writes nothing."""
    images = [image for image in (change.get("NewImage"), change.get("OldImage")) if image]
    if not images:
        return True
    return any(image.get("impact", {}).get("S") == MAINTENANCE or "step" in image for image in images)


def _moved(change: Mapping[str, Any], names: tuple[str, ...], without_both: bool) -> bool:
    """Whether a record's images differ in any of these attributes; with one
    image missing (an INSERT, which an upsert may be; a REMOVE), `without_both`.
    The images only decide what to render or whether to ask the bucket first,
    never what is rendered."""
    old, new = change.get("OldImage"), change.get("NewImage")
    if not old or not new:
        return without_both
    return any(old.get(name) != new.get(name) for name in names)


@dataclass
class SiteState:
    """What a render reads: loaded once per publish, pure data for the renderers."""

    components: dict[str, Component]
    unresolved: list[IncidentWithUpdates]
    recent_heads: list[Incident]  # the RECENT_INCIDENTS newest, heads only
    recent: list[IncidentWithUpdates]  # the same with updates (needed for incident changes)
    touched: list[IncidentWithUpdates]
    # component id -> the newest FEED_ENTRIES incidents and maintenances touching it, with updates
    component_history: dict[str, list[IncidentWithUpdates]] = field(default_factory=dict)
    # Upcoming and active maintenances (summary, status, the page): loaded for every render.
    open_maintenances: list[IncidentWithUpdates] = field(default_factory=list)
    # The RECENT_MAINTENANCES latest scheduled (scheduled-maintenances.json, the calendar).
    maintenances: list[IncidentWithUpdates] = field(default_factory=list)
    # The maintenances among the page feed's newest FEED_ENTRIES entries.
    feed_maintenances: list[IncidentWithUpdates] = field(default_factory=list)
    # component id -> its days in the uptime window: /uptime.json and the page's bars.
    uptime_days: dict[str, list[uptime.Day]] = field(default_factory=dict)
    # When the state was read: the uptime window ends today.
    now: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class Artifact:
    body: bytes
    content_type: str


def newest(heads: Iterable[Incident], count: int = feeds.FEED_ENTRIES) -> list[Incident]:
    """The heads a feed of `count` entries holds, in its order (feeds.render's)."""
    return sorted(heads, key=lambda head: (head.started_at, head.id), reverse=True)[:count]


def feed_components(plan: RenderPlan, touched: Iterable[IncidentWithUpdates],
                    components: Mapping[str, Component]) -> set[str]:
    """The components whose feeds a plan re-renders: those the touched incidents
    touch, and the new or renamed ones."""
    wanted = set(plan.component_ids)
    for incident, _ in touched:
        if incident.id in plan.incident_ids:
            wanted.update(incident.component_ids)
    return {c for c in wanted if c in components}


def render(plan: RenderPlan, state: SiteState, settings: Settings, *, json: bool = True) -> dict[str, Artifact]:
    """Every artifact the plan touches, keyed by bucket key. Pure."""
    artifacts: dict[str, Artifact] = {}
    components = state.components
    days = window_days(state, settings)
    if json:
        artifacts.update(_json_documents(plan, state, settings, days))
        artifacts.update(_badge_artifacts(plan, state, settings))
    # "/" shows components, incidents and maintenances: any change can move it.
    artifacts["index.html"] = Artifact(pages.index_page(
        settings, components.values(), state.unresolved, state.recent_heads, state.open_maintenances,
        uptime_days=days, now=state.now).encode(), HTML_TYPE)
    if plan.listing or plan.component_ids:
        artifacts["subscribe"] = Artifact(pages.subscribe_page(settings, components.values()).encode(), HTML_TYPE)
    site = feeds.FeedSite.from_settings(settings)
    if plan.incident_lists:
        for incident, updates in state.touched:
            artifacts[f"incidents/{incident.id}"] = Artifact(
                pages.incident_page(settings, incident, updates, components).encode(), HTML_TYPE)
        artifacts.update(_feed_artifacts(site, feeds.page_feed(site), [*state.recent, *state.feed_maintenances]))
    for component_id in sorted(feed_components(plan, state.touched, components)):
        feed = feeds.component_feed(site, component_id, components[component_id].name)
        artifacts.update(_feed_artifacts(site, feed, state.component_history.get(component_id, [])))
    if plan.maintenance_lists:
        artifacts[ics_calendar.CALENDAR_KEY] = Artifact(
            ics_calendar.render(site, calendar_maintenances(state), components), ics_calendar.CALENDAR_TYPE)
    return artifacts


def window_days(state: SiteState, settings: Settings) -> dict[str, list[uptime.Day]]:
    """Each component's days in the uptime window (/uptime.json and the page's
    bars): as loaded, or for a component the state holds none of (a state built
    by hand) from its creation alone, as with no recorded change."""
    tz = feeds.zone(settings.page.time_zone)
    return {c.id: state.uptime_days[c.id] if c.id in state.uptime_days
            else uptime.component_window(parse_ts(c.created_at), [], tz, state.now)
            for c in state.components.values()}


def calendar_maintenances(state: SiteState) -> list[IncidentWithUpdates]:
    """The calendar's maintenances: the RECENT_MAINTENANCES latest scheduled
    (completed and cancelled ones among them) and every upcoming or active one."""
    chosen = {m.id: (m, u) for m, u in state.maintenances}
    chosen.update((m.id, (m, u)) for m, u in state.open_maintenances)
    return list(chosen.values())


def _feed_artifacts(site: feeds.FeedSite, feed: feeds.Feed,
                    incidents: list[IncidentWithUpdates]) -> dict[str, Artifact]:
    rss, atom = feeds.render(site, feed, incidents)
    return {f"{feed.path}.rss": Artifact(rss, feeds.RSS_TYPE), f"{feed.path}.atom": Artifact(atom, feeds.ATOM_TYPE)}


def page_status(state: SiteState) -> dict[str, str]:
    """status.json's `status`: the page's indicator and its description."""
    return public_json.status_object(state.components.values(), (i for i, _ in state.unresolved),
                                     (m for m, _ in state.open_maintenances))


def _badge_artifacts(plan: RenderPlan, state: SiteState, settings: Settings) -> dict[str, Artifact]:
    """The page's badges, with status.json (on every render), and the changed components'."""
    changed = [state.components[c] for c in sorted(plan.changed_component_ids) if c in state.components]
    rendered = badges.render(settings.page.name, page_status(state), changed)
    return {key: Artifact(body, badges.SVG_TYPE if key.endswith(".svg") else JSON_TYPE)
            for key, body in rendered.items()}


def _json_documents(plan: RenderPlan, state: SiteState, settings: Settings,
                    days: Mapping[str, list[uptime.Day]]) -> dict[str, Artifact]:
    components = state.components
    stamps = [c.updated_at for c in components.values()]
    stamps += [i.updated_at for i, _ in [*state.unresolved, *state.recent, *state.touched,
                                         *state.open_maintenances, *state.maintenances]]
    page = public_json.page_object(settings, max(stamps) if stamps else None)
    status = page_status(state)

    def incidents(pairs: list[IncidentWithUpdates]) -> list[dict[str, Any]]:
        return [public_json.incident_object(i, u, components, settings) for i, u in pairs]

    def maintenances(pairs: list[IncidentWithUpdates]) -> list[dict[str, Any]]:
        return [public_json.maintenance_object(m, u, components, settings) for m, u in pairs]

    upcoming = public_json.soonest_first(p for p in state.open_maintenances if public_json.is_upcoming(p[0]))
    active = public_json.soonest_first(p for p in state.open_maintenances if public_json.is_active(p[0]))
    listed = public_json.component_objects(components.values(), page["id"])  # summary's and components.json's
    documents: dict[str, Any] = {
        "api/v2/status.json": {"page": page, "status": status},
        "api/v2/summary.json": {
            "page": page,
            "components": listed,
            "incidents": incidents(state.unresolved),
            # Upcoming and active, soonest first, as githubstatus.com's summary lists them.
            "scheduled_maintenances": maintenances(public_json.soonest_first([*upcoming, *active])),
            "status": status,
        },
    }
    if plan.components:
        documents["api/v2/components.json"] = {"page": page, "components": listed}
    if plan.incident_lists:
        documents["api/v2/incidents.json"] = {"page": page, "incidents": incidents(state.recent)}
        documents["api/v2/incidents/unresolved.json"] = {"page": page, "incidents": incidents(state.unresolved)}
        for incident, updates in state.touched:
            if incident.is_maintenance:  # an incident document never shows a maintenance
                continue
            documents[f"api/v2/incidents/{incident.id}.json"] = {
                "page": page, "incident": public_json.incident_object(incident, updates, components, settings)
            }
    if plan.maintenance_lists:
        documents["api/v2/scheduled-maintenances.json"] = {
            "page": page,
            "scheduled_maintenances": maintenances(public_json.latest_scheduled_first(state.maintenances)),
        }
        documents["api/v2/scheduled-maintenances/upcoming.json"] = {
            "page": page, "scheduled_maintenances": maintenances(upcoming)}
        documents["api/v2/scheduled-maintenances/active.json"] = {
            "page": page, "scheduled_maintenances": maintenances(active)}
    if plan.uptime:
        documents[UPTIME_KEY] = {"page": page, "components": [
            {"id": c.id, "name": c.name, "days": uptime.days_json(days[c.id]),
             "uptime_90d": uptime.overall(days[c.id])} for c in components.values()]}
    return {key: Artifact(public_json.dumps(doc), JSON_TYPE) for key, doc in documents.items()}


class Publisher:
    s3 = aws_client("s3")

    def __init__(self, store: IncidentStore, settings: Settings, s3: S3Client | None = None) -> None:
        self.store = store
        self.settings = settings
        self._s3 = s3
        # The rollups this container last read or made, by component: one still
        # holding (the component's mark, the zone and the day unchanged) is used
        # as it is, not read again. The mark comes from the table with every
        # render, so one another container moved is never taken for current.
        self._rollups: dict[str, uptime.Rollup] = {}


    def publish(self, plan: RenderPlan) -> dict[str, bool]:
        """Render what the plan touches; returns {key: written} for each artifact rendered."""
        if not plan:
            return {}
        state = self.load_state(plan)
        artifacts = render(plan, state, self.settings)
        moved = plan.moved_keys()
        # Each write is a HEAD and maybe a PUT (only a PUT for the keys the plan
        # knows moved); in parallel a change touching a dozen artifacts costs
        # about one round trip, not a dozen.
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            written = pool.map(lambda item: self.write(item[0], item[1].body, item[1].content_type,
                                                       moved=item[0] in moved), artifacts.items())
            return dict(zip(artifacts, written, strict=True))

    def publish_all(self) -> dict[str, bool]:
        """Render every public artifact from the table's current state, empty or
        not; returns {key: written} like `publish`. Objects whose bytes did not
        change are left alone, so running it again writes nothing."""
        return self.publish(self.everything_plan())

    def everything_plan(self) -> RenderPlan:
        """Every incident and maintenance (walking both indexes, heads only) and every component."""
        incident_ids: set[str] = set()
        for lister in (self.store.list_incidents, self.store.list_maintenances):
            cursor: str | None = None
            while True:
                heads, cursor = lister(HEAD_PAGE, cursor)
                incident_ids.update(head.id for head in heads)
                if cursor is None:
                    break
        return RenderPlan.everything_in(incident_ids, (c.id for c in self.store.list_components()))

    def load_state(self, plan: RenderPlan) -> SiteState:
        loaded: dict[str, IncidentWithUpdates] = {}

        def load(head: Incident) -> IncidentWithUpdates | None:
            if head.id not in loaded and (pair := self.store.load_incident(head.id)):
                loaded[head.id] = pair
            return loaded.get(head.id)

        with_revs = self.store.components_with_history_revs()
        components = {c.id: c for c, _ in with_revs}
        touched = [pair for i in sorted(plan.incident_ids) if (pair := self.store.load_incident(i))]
        loaded.update((i.id, (i, u)) for i, u in touched)
        # The incident lists hold no maintenance (the store keeps them apart; the filter says so here too).
        unresolved = [pair for head in self.store.list_unresolved()
                      if not head.is_maintenance and (pair := load(head))]
        heads, cursor = self.store.list_incidents(RECENT_INCIDENTS)
        heads = [head for head in heads if not head.is_maintenance]
        recent = [pair for head in heads if (pair := load(head))] if plan.incident_lists else []
        state = SiteState(components, unresolved, heads, recent, touched)
        state.open_maintenances = [pair for head in self.store.list_open_maintenances()
                                   if head.is_maintenance and (pair := load(head))]
        maintenance_heads: list[Incident] = []
        maintenance_cursor: str | None = None
        if plan.incident_lists or plan.maintenance_lists:
            maintenance_heads, maintenance_cursor = self.store.list_maintenances(RECENT_MAINTENANCES)
            maintenance_heads = [head for head in maintenance_heads if head.is_maintenance]
        if plan.maintenance_lists:
            state.maintenances = [pair for head in maintenance_heads if (pair := load(head))]
        if plan.incident_lists:
            # Only the maintenances that make the page feed's cut are read.
            state.feed_maintenances = [pair for head in newest([*heads, *maintenance_heads])
                                       if head.is_maintenance and (pair := load(head))]
        # Every render: `/` shows each component's 90-day bar.
        state.uptime_days = self._uptime_days(components, {c.id: rev for c, rev in with_revs}, state.now,
                                              from_history=plan.everything)
        wanted = feed_components(plan, touched, components)
        incident_history = self._component_heads(wanted, heads, cursor, self.store.list_incidents)
        maintenance_history = self._component_heads(wanted, maintenance_heads, maintenance_cursor,
                                                     self.store.list_maintenances,
                                                     walked=plan.incident_lists or plan.maintenance_lists)
        for component_id in wanted:
            history = newest([*incident_history[component_id], *maintenance_history[component_id]])
            state.component_history[component_id] = [pair for head in history if (pair := load(head))]
        return state

    def _uptime_days(self, components: Mapping[str, Component], revs: Mapping[str, str], now: datetime,
                     from_history: bool) -> dict[str, list[uptime.Day]]:
        """Each component's days in the uptime window: from its stored rollup
        while that holds, else from its history (a query each, in parallel),
        storing the new rollups. `from_history`: every one from its history."""
        zone_name = self.settings.page.time_zone
        tz = feeds.zone(zone_name)
        today = now.astimezone(tz).date()
        held: dict[str, uptime.Rollup] = {}
        if not from_history:
            held = {c: r for c, r in self._rollups.items()
                    if c in components and r.holds(revs[c], zone_name, today)}
            unread = [c for c in components if c not in held]
            if unread:
                stored = self.store.uptime_rollups(unread)
                read = {c: r for c, fields in stored.items() if (r := uptime.Rollup.from_fields(fields)) is not None}
                held.update((c, r) for c, r in read.items() if r.holds(revs[c], zone_name, today))
        days = {c: rollup.days_at(tz, now) for c, rollup in held.items()}
        stale = [c for c in components if c not in days]
        since = format_ts(uptime.window_start(tz, now))

        def compute(component_id: str) -> tuple[uptime.Rollup | None, list[uptime.Day]]:
            changes = [(parse_ts(c.changed_at), c.status) for c in self.store.status_window(component_id, since)]
            return uptime.rollup(parse_ts(components[component_id].created_at), changes, tz, zone_name, now,
                                 revs[component_id])

        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            computed = dict(zip(stale, pool.map(compute, stale), strict=True))
        days.update((c, window) for c, (_, window) in computed.items())
        made = {c: rollup for c, (rollup, _) in computed.items() if rollup is not None}
        if made:
            self.store.save_uptime_rollups({c: rollup.as_fields() for c, rollup in made.items()})
        self._rollups = {**held, **made}
        # The page's order, whichever way each was found.
        return {c: days[c] for c in components}

    def _component_heads(self, wanted: set[str], heads: list[Incident], cursor: str | None,
                         lister: Callable[[int, str | None], tuple[list[Incident], str | None]],
                         walked: bool = True) -> dict[str, list[Incident]]:
        """The newest FEED_ENTRIES heads touching each wanted component, in the
        index's order: walks the index (heads only) until each has enough.
        `heads` and `cursor` are its first page, if `walked`."""
        found: dict[str, list[Incident]] = {c: [] for c in wanted}
        if not found:
            return found
        page = heads
        if not walked:
            page, cursor = lister(HEAD_PAGE, None)
        while True:
            for head in page:
                for component_id in head.component_ids:
                    if component_id in found and len(found[component_id]) < feeds.FEED_ENTRIES:
                        found[component_id].append(head)
            if cursor is None or all(len(v) >= feeds.FEED_ENTRIES for v in found.values()):
                return found
            page, cursor = lister(HEAD_PAGE, cursor)

    def write(self, key: str, body: bytes, content_type: str, moved: bool = False) -> bool:
        """Put the object unless the bucket already holds these exact bytes, which
        a HEAD finds out; a key the caller knows `moved` is put without one."""
        if not moved and self._holds(key, body):
            return False
        self.s3.put_object(
            Bucket=self.settings.public_bucket, Key=key, Body=body,
            ContentType=content_type, CacheControl=CACHE_CONTROL,
        )
        return True

    def _holds(self, key: str, body: bytes) -> bool:
        etag = '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
        try:
            return bool(self.s3.head_object(Bucket=self.settings.public_bucket, Key=key).get("ETag") == etag)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey", "NotFound"}:
                raise
            return False
