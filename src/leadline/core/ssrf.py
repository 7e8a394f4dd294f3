"""Where an outbound webhook may go: the pure half of the SSRF guard (no I/O).

A target is refused when its URL is not plain http(s), or when its host is, or resolves to, an address that
reaches into the server's own network: loopback, private (RFC 1918, unique local), link-local (cloud metadata
at 169.254.169.254 included), CGNAT (100.64.0.0/10), multicast, reserved, unspecified, or any of those
wrapped in IPv6 (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``). A workspace may
allow private targets explicitly (an on-premises CRM); everything else still needs http(s).

The adapter resolves the host, calls `check_addresses` on every address it got, and then connects to one of
those checked addresses (never resolving again), so DNS rebinding between check and connect cannot work.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2000

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeTarget(ValueError):
    """The URL or the address it leads to is not an allowed webhook target; `reason` says why, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed webhook URL: what to resolve and connect to."""

    url: str
    scheme: str
    host: str  # lower case, IPv6 without brackets
    port: int

    @property
    def literal(self) -> IPAddress | None:
        """The host as an address when it is written as one (dotted IPv4 or IPv6), else None."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


# Checked in order; the first that matches names the refusal. `is_global` at the end catches the rest of
# IANA's special-purpose registry (documentation ranges, benchmarking, 192.0.0.0/24 ...).
_CLASSES: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("cloud metadata", lambda ip: ip in _METADATA),
    ("unspecified", lambda ip: ip.is_unspecified or (ip.version == 4 and ip in _THIS_NETWORK)),
    ("loopback", lambda ip: ip.is_loopback),
    ("link-local", lambda ip: ip.is_link_local),
    ("carrier-grade NAT (100.64.0.0/10)", lambda ip: ip.version == 4 and ip in _CGNAT),
    ("multicast", lambda ip: ip.is_multicast),
    ("reserved", lambda ip: ip.is_reserved),
    ("private", lambda ip: ip.is_private),
    ("not globally routable", lambda ip: not ip.is_global),
)


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, NAT64, 6to4, IPv4-compatible), if any."""
    if ip.version == 4:
        return None
    assert isinstance(ip, ipaddress.IPv6Address)
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d (::1 is loopback itself)
        return ipaddress.IPv4Address(int(ip))
    return None


def classify(ip: IPAddress) -> str | None:
    """Why `ip` must not be a webhook target (a short phrase), or None for a public address."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        reason = classify(inner)
        return f"{reason} (IPv4 {inner} inside IPv6)" if reason else None
    for reason, matches in _CLASSES:
        if matches(ip):
            return reason
    return None


def parse_target(url: str) -> Target:
    """Parse and check the URL's shape: http or https, a host, no credentials, a valid port."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeTarget(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise UnsafeTarget("the URL contains spaces or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UnsafeTarget(f"only http and https URLs are allowed, not {parts.scheme or 'a relative URL'!r}")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("credentials in the URL are not allowed: the receiver checks Leadline-Signature")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeTarget("the URL has no host")
    return Target(url=url, scheme=scheme, host=host, port=_port(parts, scheme))


def _port(parts: SplitResult, scheme: str) -> int:
    try:
        port = parts.port
    except ValueError as error:
        raise UnsafeTarget("the port is not a number between 0 and 65535") from error
    if port == 0:
        raise UnsafeTarget("port 0 is not a valid target")
    return port if port is not None else DEFAULT_PORTS[scheme]


#: Refused even when the workspace allows private targets: never a meaningful HTTP peer (unspecified,
#: multicast), or a door to the host's cloud credentials (metadata).
ALWAYS_REFUSED = frozenset({"cloud metadata", "unspecified", "multicast"})


def check_address(ip: IPAddress, *, allow_private: bool, host: str = "") -> None:
    """Refuse one address, with a message naming the host, the address and its class."""
    reason = classify(ip)
    if reason is None:
        return
    if allow_private and not any(reason.startswith(r) for r in ALWAYS_REFUSED):
        return
    where = f"{host} resolves to {ip}" if host and host != str(ip) else f"{ip}"
    hint = "" if allow_private else " (this workspace does not allow private webhook targets)"
    raise UnsafeTarget(f"{where}: {reason} address refused{hint}")


def check_addresses(host: str, addresses: Iterable[IPAddress], *, allow_private: bool) -> list[IPAddress]:
    """Every address a host resolves to must pass (an attacker controls which one a client would pick);
    returns them, in order, for the connection."""
    found = list(dict.fromkeys(addresses))
    if not found:
        raise UnsafeTarget(f"{host} does not resolve to any address")
    for ip in found:
        check_address(ip, allow_private=allow_private, host=host)
    return found
