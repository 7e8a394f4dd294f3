"""The SSRF guard's pure half: address classes (IPv6 wrappers included), URL shapes, the allowance."""

from __future__ import annotations

import ipaddress

import pytest

from leadline.core.ssrf import UnsafeTarget, check_address, check_addresses, classify, parse_target


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("::1", "loopback"),
    ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"), ("fd12::1", "private"),
    ("169.254.169.254", "cloud metadata"), ("fd00:ec2::254", "cloud metadata"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"),
    ("100.64.0.1", "carrier-grade NAT (100.64.0.0/10)"), ("100.127.255.254", "carrier-grade NAT (100.64.0.0/10)"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"), ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"), ("::", "unspecified"),
    ("192.0.2.10", "private"),  # documentation range: not routable
    ("::ffff:127.0.0.1", "loopback (IPv4 127.0.0.1 inside IPv6)"),
    ("::ffff:169.254.169.254", "cloud metadata (IPv4 169.254.169.254 inside IPv6)"),
    ("64:ff9b::a00:1", "private (IPv4 10.0.0.1 inside IPv6)"),
    ("2002:7f00:1::", "loopback (IPv4 127.0.0.1 inside IPv6)"),
])
def test_addresses_that_reach_inside_are_classified(address: str, reason: str) -> None:
    assert classify(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "100.128.0.1", "2606:4700::1111",
                                     "::ffff:93.184.216.34"])
def test_public_addresses_pass(address: str) -> None:
    assert classify(ipaddress.ip_address(address)) is None
    check_address(ipaddress.ip_address(address), allow_private=False)


def test_every_resolved_address_must_pass() -> None:
    public, private = ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.1")
    with pytest.raises(UnsafeTarget, match=r"^a.example resolves to 10.0.0.1: private address refused"):
        check_addresses("a.example", [public, private], allow_private=False)
    assert check_addresses("a.example", [public, private, public], allow_private=True) == [public, private]
    with pytest.raises(UnsafeTarget, match="does not resolve"):
        check_addresses("a.example", [], allow_private=True)


@pytest.mark.parametrize("address", ["169.254.169.254", "::ffff:169.254.169.254", "0.0.0.0", "224.0.0.1"])
def test_the_allowance_never_opens_metadata_unspecified_or_multicast(address: str) -> None:
    with pytest.raises(UnsafeTarget):
        check_address(ipaddress.ip_address(address), allow_private=True)


@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://example.org/", "only http and https"), ("file:///etc/passwd", "only http and https"),
    ("gopher://example.org/", "only http and https"), ("/relative", "only http and https"),
    ("http://u:p@example.org/", "credentials"), ("http://example.org:99999/", "port"),
    ("http://example.org:0/", "port 0"), ("http:///nohost", "no host"),
    ("http://exa mple.org/", "spaces or control"), ("http://example.org/\r\nX: y", "spaces or control"),
    ("http://example.org/" + "a" * 2000, "longer than"),
])
def test_urls_of_the_wrong_shape_are_refused(url: str, reason: str) -> None:
    with pytest.raises(UnsafeTarget, match=reason):
        parse_target(url)


def test_targets_are_parsed_with_default_and_odd_ports() -> None:
    assert parse_target("HTTPS://Hooks.Example.org./in").host == "hooks.example.org"
    assert parse_target("https://hooks.example.org/in").port == 443
    assert parse_target("http://hooks.example.org:8081/in").port == 8081
    assert parse_target("http://[2606:4700::1]:8443/").host == "2606:4700::1"
