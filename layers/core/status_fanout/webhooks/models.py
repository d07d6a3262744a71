"""Webhook endpoints: models, Standard Webhooks signatures, and the two
partner body formats (our `standard` one and Statuspage's own, for migrating
consumers). The chat apps' formats are `status_fanout.chat`'s."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from status_fanout.delivery.events import EVENT_TYPES, EventSnapshot, EventType
from status_fanout.incidents.models import ComponentId
from status_fanout.webhooks import docs as webhook_docs

BodyFormat = Literal["standard", "statuspage", "slack", "teams", "discord", "google_chat"]
SIGNED_FORMATS = ("standard", "statuspage")
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SECRET_BYTES = 32  # docs/contract.md §7.2: at least 24 random bytes

_strict = ConfigDict(extra="forbid", defer_build=True)
Url = Annotated[str, StringConstraints(min_length=8, max_length=2048)]
Description = Annotated[str, StringConstraints(max_length=255)]
ComponentFilter = Annotated[list[ComponentId], Field(max_length=50)]
EventFilter = Annotated[list[EventType], Field(max_length=len(EVENT_TYPES))]


class WebhookSecret(BaseModel):
    model_config = ConfigDict(defer_build=True)
    secret: str
    created_at: str
    # Set when a rotation retires the secret: it keeps signing until then.
    retires_at: str | None = None


class WebhookEndpoint(BaseModel):
    model_config = ConfigDict(defer_build=True)
    id: str
    url: str
    description: str | None = None
    components: list[str] = Field(default_factory=list)
    events: list[str] = Field(default_factory=list)
    format: BodyFormat = "standard"
    # None for a chat endpoint: its URL is its credential, and it gets no signature.
    secrets: list[WebhookSecret] = Field(default_factory=list)
    status: Literal["active", "disabled"] = "active"
    disabled_reason: str | None = None
    disabled_at: str | None = None
    failing_since: str | None = None
    created_at: str
    updated_at: str
    version: int = 0

    def wants(self, event_type: str, component_ids: list[str]) -> bool:
        if self.status != "active":
            return False
        if self.events and event_type not in self.events and event_type != "webhook.test":
            return False
        if self.components and event_type != "webhook.test":
            return bool(set(self.components) & set(component_ids))
        return True

    @property
    def signed(self) -> bool:
        return self.format in SIGNED_FORMATS

    @property
    def shown_url(self) -> str:
        """The URL as staff see it: a chat endpoint's is its credential, so masked."""
        if self.signed:
            return self.url
        from status_fanout.chat.formats import mask

        return mask(self.url)

    def public(self) -> dict[str, Any]:
        """What the API shows: everything but the secrets, a chat URL masked."""
        return {**self.model_dump(exclude={"secrets", "version"}), "url": self.shown_url}


class WebhookCreate(BaseModel):
    model_config = _strict
    url: Url
    description: Description | None = None
    components: ComponentFilter = Field(default_factory=list)
    events: EventFilter = Field(default_factory=list)
    format: BodyFormat = "standard"

    @model_validator(mode="after")
    def _unique(self) -> WebhookCreate:
        self.components = list(dict.fromkeys(self.components))
        self.events = list(dict.fromkeys(self.events))
        return self


class WebhookPatch(BaseModel):
    model_config = _strict
    url: Url | None = None
    description: Description | None = None
    components: ComponentFilter | None = None
    events: EventFilter | None = None
    format: BodyFormat | None = None
    status: Literal["active"] | None = Field(default=None, description="set to 'active' to re-enable")


class ReplayRequest(BaseModel):
    model_config = _strict
    since: AwareDatetime


# --- secrets and signatures -----------------------------------------------------

def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(signing_secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks v1: `v1,<base64 HMAC-SHA256(id.timestamp.body)>`, one per secret."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    signatures = []
    for secret in signing_secrets:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
        signatures.append("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode())
    return " ".join(signatures)


def signing_secrets(endpoint: WebhookEndpoint, now: str) -> list[str]:
    """The current secret, plus a rotated-out one until its grace period ends."""
    return [s.secret for s in endpoint.secrets if s.retires_at is None or s.retires_at > now]


# --- bodies ---------------------------------------------------------------------

def standard_body(event: EventSnapshot) -> dict[str, Any]:
    """Our body: `type`, `timestamp`, `data`. A maintenance's event
    (`maintenance.<step>`) has an incident event's `data`: its `incident` is
    the maintenance, Statuspage's model (impact `maintenance`, `scheduled_*`,
    and `cancelled_at`), its `update` the step's update with the step's label."""
    data: dict[str, Any] = {"page": event.page}
    if event.type == "component.updated":
        data.update(component=event.component, component_update=event.component_update)
    elif event.type == "webhook.test":
        data.update(message=event.message)
    else:
        data.update(incident=event.incident, update=event.update, sequence=event.sequence)
    return {"type": event.type, "timestamp": event.occurred_at, "data": data}


# The keys of Statuspage's incident body that ours lacks, with the values a
# Statuspage page sends for them. A maintenance's own fields (`scheduled_*`)
# and an incident's postmortem, when the event has them, take their place:
# a maintenance's object has no postmortem, so it gets these nulls.
_STATUSPAGE_INCIDENT_DEFAULTS: dict[str, Any] = {
    "postmortem_ignored": False,
    "postmortem_body": None,
    "postmortem_published_at": None,
    "postmortem_body_last_updated_at": None,
    "postmortem_notified_subscribers": False,
    "postmortem_notified_twitter": False,
    "backfilled": False,
    "scheduled_for": None,
    "scheduled_until": None,
    "scheduled_remind_prior": False,
    "scheduled_reminded_at": None,
    "impact_override": None,
    "scheduled_auto_in_progress": False,
    "scheduled_auto_completed": False,
}


def statuspage_body(event: EventSnapshot, endpoint_id: str, generated_at: str, links_base: str) -> dict[str, Any]:
    """Statuspage's webhook body, so existing Statuspage consumers work unchanged.

    `meta` links to our page about these webhooks (`webhooks.docs`, served by
    the API under `links_base`): `documentation` to the page, `unsubscribe` to
    its section on removing an endpoint, naming this one. Statuspage's
    unsubscribe link removes a subscription; an endpoint here is the staff's
    to remove, so the link says how rather than pretending to do it."""
    body: dict[str, Any] = {
        "meta": {
            "unsubscribe": webhook_docs.unsubscribe_url(links_base, endpoint_id),
            "documentation": webhook_docs.documentation_url(links_base),
            "generated_at": generated_at,
        },
        "page": {
            "id": event.page["id"],
            "status_indicator": event.status["indicator"],
            "status_description": event.status["description"],
        },
    }
    if event.type == "component.updated":
        body["component"] = event.component
        body["component_update"] = event.component_update
    elif event.incident is not None:
        incident = {**_STATUSPAGE_INCIDENT_DEFAULTS, **event.incident}
        incident["postmortem_notified_subscribers"] = event.type == "incident.postmortem"
        incident["incident_updates"] = [
            {**u, "wants_twitter_update": False, "twitter_updated_at": None} for u in incident["incident_updates"]
        ]
        body["incident"] = incident
    elif event.type == "webhook.test":
        body["meta"]["test"] = True
        body["component"], body["component_update"] = _test_component_update(event)
    return body


TEST_COMPONENT_ID = "status-fanout-test"


def _test_component_update(event: EventSnapshot) -> tuple[dict[str, Any], dict[str, Any]]:
    """A test ping in the shape Statuspage consumers accept: they dispatch on
    `incident` or `component_update` and drop anything else, so the ping is a
    component update, of a component that does not exist, that changes
    nothing (operational to operational). `meta.test` says what it is."""
    component = {
        "status": "operational",
        "name": "Test component (status-fanout test ping)",
        "created_at": event.occurred_at,
        "updated_at": event.occurred_at,
        "position": 0,
        "description": event.message,
        "showcase": False,
        "start_date": None,
        "id": TEST_COMPONENT_ID,
        "page_id": event.page["id"],
        "group_id": None,
        "group": False,
        "only_show_if_degraded": False,
    }
    update = {
        "old_status": "operational",
        "new_status": "operational",
        "created_at": event.occurred_at,
        "component_type": "Component",
        "id": "test-" + event.id.rsplit(":", 1)[-1],
        "component_id": TEST_COMPONENT_ID,
    }
    return component, update
