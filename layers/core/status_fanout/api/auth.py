"""Staff bearer tokens: only SHA-256 digests are deployed, compared in constant time.

Tokens are long random strings, so a fast hash is enough; a slow KDF would
only add latency to every staff request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from status_fanout.errors import DomainError


class UnauthorizedError(DomainError):
    status = 401
    code = "unauthorized"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "sf_" + secrets.token_urlsafe(32)


def check_bearer(authorization: str | None, allowed_hashes: Iterable[str]) -> str:
    """Return the digest of the presented token if it is a staff token."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("send the staff token as 'Authorization: Bearer <token>'")
    presented = hash_token(token.strip())
    matched = False
    for allowed in allowed_hashes:
        # No early exit: every configured digest is compared every time.
        matched |= hmac.compare_digest(presented, allowed)
    if not matched:
        raise UnauthorizedError("the staff token is not valid")
    return presented
