"""The logic layer of email subscriptions (docs/contract.md §5.4, docs/email.md).

`POST /v1/subscriptions` does the same, constant work for every address:
count the client's request, check the components, enqueue one `subscribe`
job on the email queue, answer 202. Whether the address is new, pending,
confirmed or suppressed is only looked at by the email sender when it runs
the job (`process_subscribe`), so neither the answer nor its timing says
anything about the address.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from status_fanout.clients import aws_client
from status_fanout.delivery.jobs import enqueue as enqueue_jobs
from status_fanout.dynamo import retry_conflicts
from status_fanout.email.store import Subscriber, SubscriberStore, state_filter
from status_fanout.email.tokens import BadTokenError, Purpose, address_key, make_token, read_token, secret_key
from status_fanout.errors import (
    ConflictError,
    MalformedRequestError,
    NotFoundError,
    TooManyRequestsError,
)
from status_fanout.incidents.lifecycle import new_id
from status_fanout.incidents.models import ComponentId
from status_fanout.incidents.service import check_components
from status_fanout.incidents.store import IncidentStore
from status_fanout.observability import logger
from status_fanout.settings import Settings
from status_fanout.timefmt import format_ts, utcnow

# Deliberately plain: one @, no whitespace, controls, quotes or brackets
# (nothing that could break out of a header), a dotted domain of LDH labels.
ADDRESS = re.compile(
    r"^[^@\s\x00-\x1f\x7f<>()\[\]\\,;:\"]{1,64}@"
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
Enqueue = Callable[[str, list[dict[str, Any]]], int]
_strict = ConfigDict(extra="forbid", defer_build=True)
# A change of components rewrites the old and the new index items in one
# transaction (at most 100 writes): 48 + 48 + the subscriber + its address key.
MAX_SUBSCRIBED_COMPONENTS = 48
ComponentChoice = Annotated[list[ComponentId], Field(max_length=MAX_SUBSCRIBED_COMPONENTS)]


class SubscribeRequest(BaseModel):
    model_config = _strict
    email: Annotated[str, StringConstraints(min_length=3, max_length=254, strip_whitespace=True)]
    components: ComponentChoice = Field(default_factory=list)

    @field_validator("email")
    @classmethod
    def _address(cls, value: str) -> str:
        if not ADDRESS.match(value):
            raise ValueError("must be an email address like name@example.com")
        return value

    @field_validator("components")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class ManageRequest(BaseModel):
    model_config = _strict
    components: ComponentChoice = Field(default_factory=list)

    @field_validator("components")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class TokenQuery(BaseModel):
    """The link's token, for the OpenAPI document: the routes read it from the query or the form."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    token: str | None = Field(default=None, description="the token from the link in the email")


class SubscriberQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    state: str | None = Field(default=None, description="pending, confirmed, unsubscribed or suppressed")
    limit: int = Field(default=50, ge=1, le=100)
    cursor: str | None = None

    _state = field_validator("state")(state_filter)


def form_fields(body: str | None) -> dict[str, list[str]]:
    try:
        return parse_qs(body or "", keep_blank_values=True, max_num_fields=MAX_SUBSCRIBED_COMPONENTS + 10)
    except ValueError as exc:
        raise MalformedRequestError("too many form fields", [{"field": "body"}]) from exc


class SubscriptionService:
    sqs = aws_client("sqs")

    def __init__(self, store: IncidentStore, settings: Settings, enqueue: Enqueue | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.settings = settings
        self.subscribers = SubscriberStore(store, settings.fanout.shards)
        self.enqueue = enqueue or (lambda queue_url, bodies: enqueue_jobs(self.sqs, queue_url, bodies))
        self.clock = clock

    @property
    def secret(self) -> bytes:
        return secret_key(self.settings.email)

    def token(self, purpose: Purpose, subscriber: Subscriber) -> str:
        return make_token(self.secret, purpose, subscriber.id, int(self.clock().timestamp()))

    def link(self, path: str, token: str) -> str:
        return f"{self.settings.links_base}/v1/subscriptions/{path}?token={token}"

    # --- POST /v1/subscriptions ----------------------------------------------

    def accept(self, request: SubscribeRequest, client_ip: str) -> None:
        """Count the client, check the request, enqueue the work; the same for every address."""
        s = self.settings.email
        wait = self.subscribers.take("ip", address_key(self.secret, f"ip:{client_ip}"), s.subscribe_ip_limit,
                                     s.subscribe_ip_window_seconds, time.time())
        if wait:
            raise TooManyRequestsError("too many subscription requests from this client; try again later", wait)
        check_components(self.store, request.components)
        if not s.queue_url:
            raise RuntimeError("no email queue configured")
        self.enqueue(s.queue_url, [{"kind": "subscribe", "request_id": uuid.uuid4().hex,
                                          "email": request.email, "components": request.components}])

    def process_subscribe(self, job: Mapping[str, Any]) -> Subscriber | None:
        """Apply a subscribe request; the subscriber to send a confirmation to, or None."""
        email, components = str(job["email"]).strip(), list(job.get("components") or [])
        key = address_key(self.secret, email)
        def apply() -> Subscriber | None:
            current = self.subscribers.find(key)
            now = format_ts(self.clock())
            if current is None:
                return self.subscribers.save(Subscriber(
                    id=new_id(), email=email, address_key=key, components=components, state="pending",
                    created_at=now, updated_at=now), None)
            if current.state == "confirmed":
                # A re-subscribe of a confirmed address changes its components, nothing else.
                if current.components != components:
                    self.subscribers.save(current.model_copy(update={"components": components,
                                                                     "updated_at": now}), current)
                return None
            if current.state == "suppressed":
                return None  # bounced or complained: never mailed again unless staff delete it
            if current.state == "pending" and current.components == components and current.email == email:
                return current  # nothing to change (an imported subscriber's first mail, a repeated request)
            return self.subscribers.save(current.model_copy(update={
                "state": "pending", "components": components, "email": email, "updated_at": now,
                "unsubscribed_at": None}), current)

        subscriber = retry_conflicts(apply, "the subscriber")
        if subscriber is None:
            return None
        s = self.settings.email
        if self.subscribers.take("address", key, s.confirm_mails_per_address, s.confirm_window_seconds,
                                 time.time()):
            logger.info("confirmation mail withheld: per-address limit", extra={"subscriber": subscriber.id})
            return None
        return subscriber

    # --- token routes -----------------------------------------------------------

    def _by_token(self, purposes: tuple[Purpose, ...], token: str | None) -> Subscriber:
        error: Exception | None = None
        for purpose in purposes:
            try:
                claims = read_token(self.secret, purpose, token)
                break
            except BadTokenError as exc:
                error = exc
        else:
            assert error is not None
            raise error
        subscriber = self.subscribers.get(claims.subscriber_id)
        if subscriber is None:
            raise NotFoundError("this subscription no longer exists")
        return subscriber

    def _change(self, subscriber: Subscriber, **changes: Any) -> Subscriber:
        return self.subscribers.save(subscriber.model_copy(update={**changes,
                                                                   "updated_at": format_ts(self.clock())}),
                                     subscriber)

    def pending(self, token: str | None) -> Subscriber:
        return self._by_token(("confirm",), token)

    def confirm(self, token: str | None) -> Subscriber:
        subscriber = self._by_token(("confirm",), token)
        if subscriber.state == "confirmed":
            return subscriber
        if subscriber.state != "pending":
            raise ConflictError("this subscription was cancelled; subscribe again to get a new link")
        return self._change(subscriber, state="confirmed", confirmed_at=format_ts(self.clock()))

    def managed(self, token: str | None) -> Subscriber:
        return self._by_token(("manage",), token)

    def save_components(self, token: str | None, request: ManageRequest) -> Subscriber:
        subscriber = self._by_token(("manage",), token)
        check_components(self.store, request.components)
        return self._change(subscriber, components=request.components)

    def check_unsubscribe(self, token: str | None) -> Subscriber | None:
        try:
            return self._by_token(("unsubscribe", "manage"), token)
        except NotFoundError:
            return None

    def unsubscribe(self, token: str | None) -> None:
        """RFC 8058: always 200 for a genuine token, whatever the state."""
        subscriber = self.check_unsubscribe(token)
        if subscriber is not None and subscriber.state in ("pending", "confirmed"):
            self._change(subscriber, state="unsubscribed", unsubscribed_at=format_ts(self.clock()))

    # --- feedback ------------------------------------------------------------------

    def suppress(self, address: str, reason: str) -> Subscriber | None:
        def apply() -> Subscriber | None:
            subscriber = self.subscribers.find(address_key(self.secret, address))
            if subscriber is None or subscriber.state == "suppressed":
                return subscriber
            return self._change(subscriber, state="suppressed", suppressed_at=format_ts(self.clock()),
                                suppressed_reason=reason)

        return retry_conflicts(apply, "the subscriber")

    def soft_bounce(self, address: str) -> Subscriber | None:
        subscriber = self.subscribers.find(address_key(self.secret, address))
        if subscriber is not None:
            self.subscribers.count_soft_bounce(subscriber.id)
        return subscriber

    # --- staff ---------------------------------------------------------------------

    def list(self, query: SubscriberQuery) -> tuple[list[Subscriber], str | None]:
        return self.subscribers.list(query.state, query.limit, query.cursor)

    def delete(self, subscriber_id: str) -> None:
        subscriber = self.subscribers.get(subscriber_id)
        if subscriber is None:
            raise NotFoundError(f"no subscriber {subscriber_id}")
        self.subscribers.delete(subscriber)
