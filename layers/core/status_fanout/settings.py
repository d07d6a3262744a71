"""One settings model, read once per cold start from the Lambda environment.

Each field is read from the environment variable of the same name in upper
case (TABLE_NAME, PAGE_NAME, ...); template.yaml sets them.
"""

# No `from __future__ import annotations` here: pydantic would compile and
# eval every field's annotation string at class creation, on each cold start.
import functools
import os
import re
from typing import Self

from pydantic import BaseModel, Field, field_validator

# We use no pydantic plugins. Looking for them reads the metadata of every
# installed distribution when the first model is built: ~7-10 ms of each cold
# start here (fewer distributions in Lambda, so less there). An explicit value
# in the environment still wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

DEFAULT_RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 50400)  # 5 s ... 14 h: 30 h in all


class Settings(BaseModel):
    table_name: str
    public_bucket: str = ""
    page_name: str = "Status"
    page_url: str = "http://127.0.0.1:3000"
    page_time_zone: str = "Etc/UTC"
    page_id: str = ""
    # SHA-256 hex digests of the staff bearer tokens; two during a rotation.
    staff_token_sha256: tuple[str, ...] = ()
    plan_queue_url: str = ""
    plan_dlq_url: str = ""
    webhook_queue_url: str = ""
    webhook_dlq_url: str = ""
    # Subscribers of each channel are spread over this many key shards.
    fanout_shards: int = Field(default=16, ge=1, le=1000)
    # Seconds before each retry of a failed webhook delivery.
    webhook_retry_schedule: tuple[int, ...] = DEFAULT_RETRY_SCHEDULE
    # Multiplies every step of that schedule: 0.01 runs the whole schedule in
    # minutes in the local stack and tests. The template never sets it (1).
    webhook_retry_scale: float = Field(default=1.0, gt=0, le=1)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=15)
    webhook_disable_after_seconds: int = 5 * 86400
    # The queues' RedrivePolicy maxReceiveCount (template.yaml sets both; a
    # unit test keeps them equal): a job failing on that receive is about to
    # be dead-lettered by SQS, which the senders count as such.
    webhook_max_receives: int = Field(default=12, ge=1)
    email_max_receives: int = Field(default=50, ge=1)
    # Only the local stack sets these: loopback receivers over plain HTTP.
    webhook_allow_loopback: bool = False
    webhook_allow_http: bool = False
    ops_topic_arn: str = ""
    # --- email (docs/email.md) ---
    email_queue_url: str = ""
    email_dlq_url: str = ""
    # The verified SES identity mail comes from, and the configuration set
    # whose event destination reports bounces and complaints.
    sender_address: str = "status@example.com"
    email_configuration_set: str = ""
    # Where the subscription secret (token signing, address keys) lives; read
    # once per cold start. `subscription_secret` is for tests and tools only.
    subscription_secret_arn: str = ""
    subscription_secret: str = ""
    # Base URL of the /v1/subscriptions routes in links; empty: page_url.
    subscription_url: str = ""
    # SES send rate when GetAccount cannot tell (mails per second, whole account),
    # and how many sender containers share it (the SQS event's MaximumConcurrency).
    email_max_send_rate: float = Field(default=14.0, gt=0)
    email_sender_concurrency: int = Field(default=5, ge=1)
    # Abuse limits of POST /v1/subscriptions (fixed windows).
    subscribe_ip_limit: int = Field(default=20, ge=1)
    subscribe_ip_window_seconds: int = Field(default=3600, ge=1)
    confirm_mails_per_address: int = Field(default=3, ge=1)
    confirm_window_seconds: int = Field(default=3600, ge=1)
    # First retry delay of a throttled send; doubles per attempt up to 15 min.
    email_retry_base_seconds: int = Field(default=5, ge=0)

    @field_validator("staff_token_sha256", mode="before")
    @classmethod
    def _split_hashes(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return value

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(int(part) for part in value.split(",") if part.strip())
        return value

    @field_validator("page_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def webhook_retry_delays(self) -> tuple[float, ...]:
        """The retry schedule as the sender waits it: each step times the scale."""
        return tuple(step * self.webhook_retry_scale for step in self.webhook_retry_schedule)

    @property
    def links_base(self) -> str:
        return (self.subscription_url or self.page_url).rstrip("/")

    @property
    def effective_page_id(self) -> str:
        return self.page_id or re.sub(r"[^a-z0-9]+", "-", self.page_name.lower()).strip("-") or "page"

    @classmethod
    def from_env(cls) -> Self:
        env = os.environ
        values = {name: env[name.upper()] for name in cls.model_fields if env.get(name.upper())}
        return cls.model_validate(values)


@functools.cache
def get_settings() -> Settings:
    return Settings.from_env()
