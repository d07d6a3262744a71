"""One webhook attempt over HTTP, dialled to the address the SSRF guard checked.

Connections are pooled per (address, port, host) and reused across the
deliveries of one invocation; redirects are never followed; each attempt
has a total deadline of at most 15 s; the response body is read only far
enough to log it.
"""

from __future__ import annotations

import email.utils
import json
import math
import threading
import time
from dataclasses import dataclass

import urllib3

from status_fanout.webhooks.ssrf import Target

USER_AGENT = "status-fanout-webhooks/1"
RESPONSE_KEPT = 512


@dataclass(frozen=True)
class Outcome:
    status: int | None
    latency_ms: int
    error: str | None = None
    retry_after: int | None = None
    excerpt: str = ""

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        return self.status == 410


def retry_after_seconds(value: str | None, now: float | None = None) -> int | None:
    """Retry-After as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, int(when.timestamp() - (now if now is not None else time.time())))


def json_retry_after(body: str) -> int | None:
    """Discord's rate-limit answer says when in its JSON body: `{"retry_after": 1.5, ...}`
    (seconds, fractional); whole seconds, rounded up, as SQS holds a message."""
    try:
        value = json.loads(body).get("retry_after")
    except (ValueError, AttributeError):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 86400:
        return None
    return math.ceil(value)


class Dialer:
    """A pool of connections per checked address; thread-safe."""

    def __init__(self, timeout: float, max_per_host: int = 10) -> None:
        self.timeout = urllib3.Timeout(connect=min(5.0, timeout), read=timeout, total=min(15.0, timeout + 5))
        self.max_per_host = max_per_host
        self._pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()

    def _pool(self, target: Target) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, target.address, target.port, target.host)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                if target.scheme == "https":
                    # Dial the checked address; verify the certificate for the host name.
                    pool = urllib3.HTTPSConnectionPool(
                        target.address, target.port, maxsize=self.max_per_host, block=False, retries=False,
                        timeout=self.timeout, server_hostname=target.host, assert_hostname=target.host,
                        cert_reqs="CERT_REQUIRED",
                    )
                else:
                    pool = urllib3.HTTPConnectionPool(target.address, target.port, maxsize=self.max_per_host,
                                                      block=False, retries=False, timeout=self.timeout)
                self._pools[key] = pool
            return pool

    def post(self, target: Target, headers: dict[str, str], body: bytes) -> Outcome:
        default_port = 443 if target.scheme == "https" else 80
        host = target.host if ":" not in target.host else f"[{target.host}]"
        host_header = host if target.port == default_port else f"{host}:{target.port}"
        started = time.perf_counter()
        try:
            response = self._pool(target).urlopen(
                "POST", target.path, body=body,
                headers={**headers, "Host": host_header, "User-Agent": USER_AGENT, "Content-Type": "application/json"},
                redirect=False, retries=False, assert_same_host=False, preload_content=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            latency = int((time.perf_counter() - started) * 1000)
            return Outcome(None, latency, error=type(exc).__name__ + ": " + str(exc)[:200])
        try:
            excerpt = response.read(RESPONSE_KEPT, decode_content=False).decode("utf-8", "replace")
        except urllib3.exceptions.HTTPError:
            excerpt = ""
        latency = int((time.perf_counter() - started) * 1000)
        if response.length_remaining == 0:
            response.release_conn()
        else:
            # An unread rest (or a never-ending body) is not worth draining.
            response.close()
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is None and response.status == 429:
            retry_after = json_retry_after(excerpt)
        return Outcome(response.status, latency, retry_after=retry_after, excerpt=excerpt)
