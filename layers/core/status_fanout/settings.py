"""One settings model, read once per cold start from the Lambda environment."""

from __future__ import annotations

import functools
import os
import re

from pydantic import BaseModel, Field, field_validator


class Settings(BaseModel):
    table_name: str
    public_bucket: str = ""
    page_name: str = "Status"
    page_url: str = "http://127.0.0.1:3000"
    page_time_zone: str = "Etc/UTC"
    page_id: str = ""
    # SHA-256 hex digests of the staff bearer tokens; two during a rotation.
    staff_token_sha256: tuple[str, ...] = Field(default=())

    @field_validator("staff_token_sha256", mode="before")
    @classmethod
    def _split_hashes(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return value

    @field_validator("page_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def effective_page_id(self) -> str:
        return self.page_id or re.sub(r"[^a-z0-9]+", "-", self.page_name.lower()).strip("-") or "page"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            table_name=env["TABLE_NAME"],
            public_bucket=env.get("PUBLIC_BUCKET", ""),
            page_name=env.get("PAGE_NAME", "Status"),
            page_url=env.get("PAGE_URL") or "http://127.0.0.1:3000",
            page_time_zone=env.get("PAGE_TIME_ZONE", "Etc/UTC"),
            page_id=env.get("PAGE_ID", ""),
            staff_token_sha256=env.get("STAFF_TOKEN_SHA256", ""),  # type: ignore[arg-type]
        )


@functools.cache
def get_settings() -> Settings:
    return Settings.from_env()
