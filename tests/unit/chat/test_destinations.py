"""Where a chat endpoint may point (its app's own webhook host, 422 on `url`
otherwise), and how the API shows its URL, which is its only credential."""

from __future__ import annotations

import pytest

from status_fanout.chat.formats import check_destination, mask
from status_fanout.errors import InvalidFieldError

PUBLIC = "52.89.214.238"

ACCEPTED = [
    ("slack", "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"),
    ("teams", "https://prod-12.westus.logic.azure.com:443/workflows/0123abcd/triggers/manual/paths/invoke"
              "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=s3cr3tS1gnature"),
    ("teams", "https://default0123.45.environment.api.powerplatform.com/powerautomate/automations/direct/x"),
    ("discord", "https://discord.com/api/webhooks/1234567890/tok3n-secret"),
    ("discord", "https://discordapp.com/api/webhooks/1234567890/tok3n-secret"),
    ("google_chat", "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=k3y&token=t0ken"),
]
REFUSED = [
    ("slack", "https://hooks.slack.com.evil.example/services/T0000/B0000/XXXX", "another host"),
    ("slack", "https://evil.example/services/T0000/B0000/XXXX", "another host"),
    ("slack", "https://hooks.slack.com/api/chat.postMessage", "not an incoming webhook"),
    ("slack", "https://hooks.slack.com:8443/services/T0000/B0000/XXXX", "another port"),
    ("teams", "https://logic.azure.com.evil.example/workflows/x", "a lookalike host"),
    ("teams", "https://evillogic.azure.com/workflows/x", "a lookalike host"),
    ("discord", "https://discord.com/channels/1234567890/987", "not a webhook path"),
    ("discord", "https://discord.com:8443/api/webhooks/1234567890/tok3n", "another port"),
    ("google_chat", "https://chat.googleapis.com/v1/users/me", "not a space's webhook"),
    ("google_chat", "https://chat.googleapis.com.evil.example/v1/spaces/AAAA/messages", "a lookalike host"),
]


@pytest.mark.parametrize(("body_format", "url"), ACCEPTED)
def test_an_apps_own_webhook_url_is_accepted(body_format: str, url: str) -> None:
    # WHEN a chat endpoint is registered with its app's incoming-webhook URL (resolving publicly)
    # THEN it is accepted, in production and locally alike
    check_destination(body_format, url, PUBLIC, allow_loopback=False)
    check_destination(body_format, url, PUBLIC, allow_loopback=True)


@pytest.mark.parametrize(("body_format", "url", "why"), REFUSED)
def test_any_other_url_is_refused_on_the_url_field(body_format: str, url: str, why: str) -> None:
    # WHEN a chat endpoint is registered with a URL that is not its app's webhook (host, port or path)
    with pytest.raises(InvalidFieldError) as refused:
        check_destination(body_format, url, PUBLIC, allow_loopback=False)
    # THEN the API's 422 names the url field
    assert refused.value.field == "url", why


def test_a_slack_endpoint_on_another_host_is_told_which_host_it_must_be() -> None:
    with pytest.raises(InvalidFieldError) as refused:
        check_destination("slack", "https://example.com/services/T0/B0/X", PUBLIC, allow_loopback=False)
    assert refused.value.field == "url" and "hooks.slack.com" in refused.value.message


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
@pytest.mark.parametrize("body_format", ["slack", "teams", "discord", "google_chat"])
def test_a_loopback_receiver_stands_in_for_every_app_only_on_the_local_stack(body_format: str,
                                                                              address: str) -> None:
    url = f"http://localhost:9000/{body_format}"
    # WHEN the local stack (which allows loopback receivers) registers a loopback URL
    check_destination(body_format, url, address, allow_loopback=True)
    # THEN it is accepted there, and refused where loopback is not allowed
    with pytest.raises(InvalidFieldError) as refused:
        check_destination(body_format, url, address, allow_loopback=False)
    assert refused.value.field == "url"


@pytest.mark.parametrize(("body_format", "url"), ACCEPTED)
def test_the_api_shows_a_chat_url_as_its_scheme_host_and_last_four_characters(body_format: str, url: str) -> None:
    masked = mask(url)
    scheme, rest = url.split("://", 1)
    host = rest.split("/", 1)[0]
    # THEN the scheme, the host and the last four characters show, and nothing else of the URL
    assert masked == f"{scheme}://{host}/…{url[-4:]}"
    # AND no piece of the path or query before those four shows (the credential)
    secret = rest[len(host):-4]
    assert not [part for part in secret.replace("?", "/").replace("&", "/").split("/")
                if len(part) > 4 and part in masked]


def test_a_short_path_is_masked_whole() -> None:
    # A path of a dozen characters or fewer would be mostly shown by its last four: none of it is.
    assert mask("https://hooks.slack.com/s/abcdef") == "https://hooks.slack.com/…"
