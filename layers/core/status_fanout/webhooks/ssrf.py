"""SSRF guard for webhook URLs.

A URL is checked when it is registered and again before every attempt, on the
addresses its host resolves to then; the connection is made to the address
that was checked (see webhook_delivery), so DNS rebinding between the check
and the connect cannot redirect it. Numeric tricks (decimal, octal or hex
IPv4, IPv4-mapped IPv6) are caught because the check is made on what the
resolver returns, not on the text of the URL.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from status_fanout.errors import InvalidFieldError

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedAddressError(InvalidFieldError):
    pass


@dataclass(frozen=True)
class Target:
    """A URL that passed the guard, and the address to dial for it."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_allowed(address: str, allow_loopback: bool = False) -> bool:
    """True for a public unicast address (or loopback, when allowed locally)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return address_allowed(str(embedded), allow_loopback)
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_unspecified)


def parse_url(url: str, allow_http: bool = False) -> SplitResult:
    parts = urlsplit(url.strip())
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed:
        raise InvalidFieldError("url", "must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidFieldError("url", "must not carry credentials")
    if not parts.hostname:
        raise InvalidFieldError("url", "has no host")
    try:
        parts.port  # noqa: B018 - raises on a port outside 0-65535
    except ValueError as exc:
        raise InvalidFieldError("url", "has an invalid port") from exc
    if any(ord(c) < 0x21 for c in url.strip()):
        raise InvalidFieldError("url", "must not contain spaces or control characters")
    return parts


def check(url: str, *, allow_http: bool = False, allow_loopback: bool = False,
          resolve: Resolver = system_resolver) -> Target:
    """Resolve the URL's host and accept it only if every address is allowed."""
    parts = parse_url(url, allow_http)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise InvalidFieldError("url", f"host {host!r} does not resolve") from exc
    if not addresses:
        raise InvalidFieldError("url", f"host {host!r} does not resolve")
    blocked = [a for a in addresses if not address_allowed(a, allow_loopback)]
    if blocked:
        raise BlockedAddressError("url", f"host {host!r} resolves to a non-public address ({blocked[0]})")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path, addresses[0])
