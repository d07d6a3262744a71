"""The settings, read once per cold start from the Lambda environment.

They are grouped by who reads them: `settings.page` (the status page every
rendering and mail names), `settings.fanout` (planning), `settings.webhook`
and `settings.email` (one section per channel), `settings.maintenance` (its clock); what every function shares
(the table, the public bucket, the staff digests, the ops topic) is at the
top. `ENVIRONMENT` is the one table of which environment variable sets which
field; template.yaml and the local stack set them.
"""

# No `from __future__ import annotations` here: pydantic would compile and
# eval every field's annotation string at class creation, on each cold start.
# No pydantic-settings either: importing it (and its dotenv and typing
# machinery) would add to every cold start for what `from_env` does in ten lines.
import functools
import os
import re
from datetime import timedelta
from typing import Any, Self

from pydantic import BaseModel, Field, field_validator

# We use no pydantic plugins. Looking for them reads the metadata of every
# installed distribution when the first model is built: ~7-10 ms of each cold
# start here (fewer distributions in Lambda, so less there). An explicit value
# in the environment still wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

DEFAULT_RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 50400)  # 5 s ... 14 h: 30 h in all


class PageSettings(BaseModel):
    """The status page: what the public surface, feeds, mails and webhooks call it."""

    name: str = "Status"
    url: str = "http://127.0.0.1:3000"
    time_zone: str = "Etc/UTC"
    id: str = ""

    @field_validator("url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def effective_id(self) -> str:
        return self.id or re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or "page"


class FanoutSettings(BaseModel):
    """Planning: the planning queue, and how the subscriber index is sharded."""

    plan_queue_url: str = ""
    plan_dlq_url: str = ""
    # Subscribers of each channel are spread over this many key shards.
    shards: int = Field(default=16, ge=1, le=1000)


class WebhookSettings(BaseModel):
    """The webhook channel (docs/webhooks.md)."""

    queue_url: str = ""
    dlq_url: str = ""
    # Seconds before each retry of a failed webhook delivery.
    retry_schedule: tuple[int, ...] = DEFAULT_RETRY_SCHEDULE
    # Multiplies every step of that schedule: 0.01 runs the whole schedule in
    # minutes in the local stack and tests. The template never sets it (1).
    retry_scale: float = Field(default=1.0, gt=0, le=1)
    timeout_seconds: float = Field(default=10.0, gt=0, le=15)
    disable_after_seconds: int = 5 * 86400
    # The queue's RedrivePolicy maxReceiveCount (template.yaml sets both; a
    # unit test keeps them equal): a job failing on that receive is about to
    # be dead-lettered by SQS, which the sender counts as such.
    max_receives: int = Field(default=12, ge=1)
    # Only the local stack sets these: loopback receivers over plain HTTP.
    allow_loopback: bool = False
    allow_http: bool = False

    @field_validator("retry_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(int(part) for part in value.split(",") if part.strip())
        return value

    @property
    def retry_delays(self) -> tuple[float, ...]:
        """The retry schedule as the sender waits it: each step times the scale."""
        return tuple(step * self.retry_scale for step in self.retry_schedule)


class EmailSettings(BaseModel):
    """The email channel and the subscription routes (docs/email.md)."""

    queue_url: str = ""
    dlq_url: str = ""
    # The verified SES identity mail comes from, and the configuration set
    # whose event destination reports bounces and complaints.
    sender_address: str = "status@example.com"
    configuration_set: str = ""
    # Where the subscription secret (token signing, address keys) lives; read
    # once per cold start. `subscription_secret` is for tests and tools only.
    subscription_secret_arn: str = ""
    subscription_secret: str = ""
    # Base URL of the /v1/subscriptions routes in links; empty: the page's URL.
    subscription_url: str = ""
    # SES send rate when GetAccount cannot tell (mails per second, whole account),
    # and how many sender containers share it (the SQS event's MaximumConcurrency).
    max_send_rate: float = Field(default=14.0, gt=0)
    sender_concurrency: int = Field(default=5, ge=1)
    # The queue's RedrivePolicy maxReceiveCount, as for webhooks.
    max_receives: int = Field(default=50, ge=1)
    # First retry delay of a throttled send; doubles per attempt up to 15 min.
    retry_base_seconds: int = Field(default=5, ge=0)
    # Abuse limits of POST /v1/subscriptions (fixed windows).
    subscribe_ip_limit: int = Field(default=20, ge=1)
    subscribe_ip_window_seconds: int = Field(default=3600, ge=1)
    confirm_mails_per_address: int = Field(default=3, ge=1)
    confirm_window_seconds: int = Field(default=3600, ge=1)


class MaintenanceSettings(BaseModel):
    """The maintenance clock (docs/maintenance.md): the schedule group its
    one-time schedules live in, what they invoke, and the reminder's lead."""

    schedule_group: str = ""
    clock_function_arn: str = ""
    scheduler_role_arn: str = ""
    # Minutes before the start that the reminder goes out (Statuspage: 60).
    # Tests shorten it, so a whole maintenance runs in minutes.
    reminder_minutes: float = Field(default=60.0, gt=0, le=7 * 24 * 60)

    @property
    def reminder_lead(self) -> timedelta:
        return timedelta(minutes=self.reminder_minutes)


class Settings(BaseModel):
    table_name: str
    public_bucket: str = ""
    # SHA-256 hex digests of the staff bearer tokens; two during a rotation.
    staff_token_sha256: tuple[str, ...] = ()
    ops_topic_arn: str = ""
    page: PageSettings = Field(default_factory=PageSettings)
    fanout: FanoutSettings = Field(default_factory=FanoutSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)

    @field_validator("staff_token_sha256", mode="before")
    @classmethod
    def _split_hashes(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return value

    @property
    def links_base(self) -> str:
        """Where links into the API point (subscription and webhook pages)."""
        return (self.email.subscription_url or self.page.url).rstrip("/")

    @classmethod
    def from_env(cls) -> Self:
        """Each variable of ENVIRONMENT that is set and not empty, onto its field."""
        env = os.environ
        values: dict[str, Any] = {}
        for variable, path in ENVIRONMENT.items():
            if value := env.get(variable):
                section, _, field = path.rpartition(".")
                (values.setdefault(section, {}) if section else values)[field] = value
        return cls.model_validate(values)


# Environment variable -> the field it sets ("section.field", or a top-level
# field). The names are the deployed contract (template.yaml, the local
# stack); tests/unit/test_settings.py checks each field has exactly one and
# every variable the template sets is here.
ENVIRONMENT: dict[str, str] = {
    "TABLE_NAME": "table_name",
    "PUBLIC_BUCKET": "public_bucket",
    "STAFF_TOKEN_SHA256": "staff_token_sha256",
    "OPS_TOPIC_ARN": "ops_topic_arn",
    "PAGE_NAME": "page.name",
    "PAGE_URL": "page.url",
    "PAGE_TIME_ZONE": "page.time_zone",
    "PAGE_ID": "page.id",
    "PLAN_QUEUE_URL": "fanout.plan_queue_url",
    "PLAN_DLQ_URL": "fanout.plan_dlq_url",
    "FANOUT_SHARDS": "fanout.shards",
    "WEBHOOK_QUEUE_URL": "webhook.queue_url",
    "WEBHOOK_DLQ_URL": "webhook.dlq_url",
    "WEBHOOK_RETRY_SCHEDULE": "webhook.retry_schedule",
    "WEBHOOK_RETRY_SCALE": "webhook.retry_scale",
    "WEBHOOK_TIMEOUT_SECONDS": "webhook.timeout_seconds",
    "WEBHOOK_DISABLE_AFTER_SECONDS": "webhook.disable_after_seconds",
    "WEBHOOK_MAX_RECEIVES": "webhook.max_receives",
    "WEBHOOK_ALLOW_LOOPBACK": "webhook.allow_loopback",
    "WEBHOOK_ALLOW_HTTP": "webhook.allow_http",
    "EMAIL_QUEUE_URL": "email.queue_url",
    "EMAIL_DLQ_URL": "email.dlq_url",
    "SENDER_ADDRESS": "email.sender_address",
    "EMAIL_CONFIGURATION_SET": "email.configuration_set",
    "SUBSCRIPTION_SECRET_ARN": "email.subscription_secret_arn",
    "SUBSCRIPTION_SECRET": "email.subscription_secret",
    "SUBSCRIPTION_URL": "email.subscription_url",
    "EMAIL_MAX_SEND_RATE": "email.max_send_rate",
    "EMAIL_SENDER_CONCURRENCY": "email.sender_concurrency",
    "EMAIL_MAX_RECEIVES": "email.max_receives",
    "EMAIL_RETRY_BASE_SECONDS": "email.retry_base_seconds",
    "SUBSCRIBE_IP_LIMIT": "email.subscribe_ip_limit",
    "SUBSCRIBE_IP_WINDOW_SECONDS": "email.subscribe_ip_window_seconds",
    "CONFIRM_MAILS_PER_ADDRESS": "email.confirm_mails_per_address",
    "CONFIRM_WINDOW_SECONDS": "email.confirm_window_seconds",
    "MAINTENANCE_SCHEDULE_GROUP": "maintenance.schedule_group",
    "MAINTENANCE_CLOCK_ARN": "maintenance.clock_function_arn",
    "MAINTENANCE_SCHEDULER_ROLE_ARN": "maintenance.scheduler_role_arn",
    "MAINTENANCE_REMINDER_MINUTES": "maintenance.reminder_minutes",
}


@functools.cache
def get_settings() -> Settings:
    return Settings.from_env()
