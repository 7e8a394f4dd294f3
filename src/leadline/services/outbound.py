"""The SSRF guard's I/O half: resolve a host, check every address (`leadline.core.ssrf`), and connect only to
an address that was checked.

`GuardedTransport` wraps httpx's transport: for each request it resolves the URL's host once, checks the
addresses, and rewrites the request to the first usable one while keeping the Host header and the TLS server
name (SNI, certificate check) of the original host. Nothing resolves the name again between the check and the
connection, so a DNS answer that changes in between (rebinding) cannot lead it elsewhere. Clients built here
ignore proxy variables (a proxy would resolve the name itself), keep no idle connections (a pooled
connection to an IP could otherwise serve a different host name), and never follow redirects.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
from collections.abc import Callable

import httpx

from leadline.core.ssrf import IPAddress, Target, UnsafeTarget, check_addresses, parse_target

Resolver = Callable[[str, int], list[IPAddress]]


def system_resolver(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UnresolvedHost(f"{host} does not resolve: {error}") from error
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


class UnresolvedHost(OSError):
    """DNS gave no answer: a network error (retried at send time), not a policy refusal."""


def check_target(url: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> Target:
    """For subscription time: the URL's shape and every address its host resolves to now."""
    target = parse_target(url)
    try:
        addresses = resolver(target.host, target.port)
    except UnresolvedHost as error:
        raise UnsafeTarget(f"{target.host} does not resolve to any address") from error
    check_addresses(target.host, addresses, allow_private=allow_private)
    return target


@functools.cache
def _tls() -> ssl.SSLContext:
    """One verifying TLS context for every client: building one loads the CA bundle (tens of ms)."""
    return httpx.create_ssl_context()


class GuardedTransport(httpx.BaseTransport):
    """Connects only to checked addresses (see the module's docstring)."""

    def __init__(self, *, allow_private: bool, resolver: Resolver = system_resolver,
                 inner: httpx.BaseTransport | None = None) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.inner = inner or httpx.HTTPTransport(verify=_tls(), retries=0,
                                                  limits=httpx.Limits(max_keepalive_connections=0))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = parse_target(str(request.url))
        addresses = check_addresses(target.host, self.resolver(target.host, target.port),
                                    allow_private=self.allow_private)
        last: httpx.TransportError | None = None
        for ip in addresses:  # the next checked address when one refuses the connection
            request.url = request.url.copy_with(host=str(ip))
            if target.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": target.host}
            try:
                return self.inner.handle_request(request)
            except httpx.ConnectError as error:
                last = error
        assert last is not None
        raise last

    def close(self) -> None:
        self.inner.close()


def guarded_client(*, allow_private: bool, timeout: float = 5.0, resolver: Resolver = system_resolver,
                   user_agent: str = "Leadline-Webhooks") -> httpx.Client:
    return httpx.Client(transport=GuardedTransport(allow_private=allow_private, resolver=resolver),
                        follow_redirects=False, trust_env=False, timeout=timeout,
                        headers={"User-Agent": user_agent})
