"""Staff bearer tokens: only SHA-256 digests are deployed or stored, compared in constant time.

Two kinds: the deploy-time tokens (`StaffTokenSha256`, the bootstrap admins)
and the staff keys admins mint (`sfk_...`, status_fanout.staff_keys). Tokens
are long random strings, so a fast hash is enough; a slow KDF would only add
latency to every staff request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING

from status_fanout.audit import BOOTSTRAP, Principal
from status_fanout.errors import DomainError

if TYPE_CHECKING:
    from status_fanout.dynamo import Store


class UnauthorizedError(DomainError):
    status = 401
    code = "unauthorized"


# What a staff key starts with (status_fanout.staff_keys mints them).
KEY_PREFIX = "sfk_"


class ForbiddenError(DomainError):
    status = 403
    code = "forbidden"


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


def authenticate(authorization: str | None, bootstrap_hashes: Iterable[str], db: Store) -> Principal:
    """Who presents this token: a deploy-time token is a bootstrap admin; an
    `sfk_` key is looked up by its digest in `db`. Anything else is refused
    without reading the table, so a flood of made-up tokens costs no reads."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise UnauthorizedError("send the staff token as 'Authorization: Bearer <token>'")
    presented = hash_token(token)
    matched = False
    for allowed in bootstrap_hashes:
        matched |= hmac.compare_digest(presented, allowed)
    if matched:
        return Principal(BOOTSTRAP, None, "admin")
    key = None
    if token.startswith(KEY_PREFIX):
        from status_fanout.staff_keys import StaffKeys  # the bootstrap tokens' requests never load it

        key = StaffKeys(db).lookup(presented)
    if key is None:
        raise UnauthorizedError("the staff token is not valid")
    return Principal(key.name, key.key_id, key.role)
