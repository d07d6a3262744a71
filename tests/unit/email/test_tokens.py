"""Subscription links: a token opens only what it was made for, and only with the secret."""

from __future__ import annotations

import pytest

from status_fanout.email.tokens import (
    CONFIRM_TTL_SECONDS,
    BadTokenError,
    ExpiredTokenError,
    address_key,
    make_token,
    read_token,
)

SECRET = b"s" * 32
ISSUED = 1_700_000_000


def test_a_token_reads_back_as_the_subscriber_and_purpose_it_was_made_for() -> None:
    token = make_token(SECRET, "manage", "sub123", ISSUED)
    claims = read_token(SECRET, "manage", token, now=ISSUED + 10)
    assert (claims.purpose, claims.subscriber_id, claims.issued_at) == ("manage", "sub123", ISSUED)


@pytest.mark.parametrize("other", ["confirm", "unsubscribe"])
def test_a_manage_link_never_passes_as_another_purpose(other: str) -> None:
    token = make_token(SECRET, "manage", "sub123", ISSUED)
    with pytest.raises(BadTokenError):
        read_token(SECRET, other, token, now=ISSUED)  # type: ignore[arg-type]


def test_a_token_made_with_another_secret_or_altered_is_refused() -> None:
    token = make_token(SECRET, "unsubscribe", "sub123", ISSUED)
    payload, tag = token.split(".")
    forged_payload = make_token(SECRET, "unsubscribe", "sub999", ISSUED).split(".")[0]
    for bad in (make_token(b"t" * 32, "unsubscribe", "sub123", ISSUED), f"{forged_payload}.{tag}",
                f"{payload}.{tag[:-2]}AA", "", "no-dot", "a.b.c", "x" * 600, "%%%.***"):
        with pytest.raises(BadTokenError) as refused:
            read_token(SECRET, "unsubscribe", bad, now=ISSUED)
        assert refused.value.details == [{"field": "token"}]


def test_a_confirm_link_expires_after_seven_days_and_an_unsubscribe_link_never() -> None:
    confirm = make_token(SECRET, "confirm", "sub123", ISSUED)
    assert read_token(SECRET, "confirm", confirm, now=ISSUED + CONFIRM_TTL_SECONDS).subscriber_id == "sub123"
    with pytest.raises(ExpiredTokenError):
        read_token(SECRET, "confirm", confirm, now=ISSUED + CONFIRM_TTL_SECONDS + 1)
    unsubscribe = make_token(SECRET, "unsubscribe", "sub123", ISSUED)
    assert read_token(SECRET, "unsubscribe", unsubscribe, now=ISSUED + 10 * 365 * 86400).subscriber_id == "sub123"


def test_an_address_key_ignores_case_and_spaces_and_reveals_nothing_without_the_secret() -> None:
    assert address_key(SECRET, " Ann@Example.com ") == address_key(SECRET, "ann@example.com")
    assert address_key(SECRET, "ann@example.com") != address_key(b"t" * 32, "ann@example.com")
    assert "ann" not in address_key(SECRET, "ann@example.com")
