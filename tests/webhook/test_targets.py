"""The SSRF guard: which addresses a webhook may point at."""

from __future__ import annotations

import ipaddress

import pytest

from whatsapp_gateway.webhook.targets import TargetNotAllowed, TargetResolver, TargetUnresolvable

NOT_PUBLIC = [
    pytest.param("127.0.0.1", id="loopback"),
    pytest.param("127.8.9.10", id="loopback-range"),
    pytest.param("10.0.0.1", id="private-10"),
    pytest.param("172.16.5.4", id="private-172"),
    pytest.param("192.168.1.1", id="private-192"),
    pytest.param("169.254.169.254", id="link-local-metadata"),
    pytest.param("100.64.0.1", id="cgnat"),
    pytest.param("100.127.255.254", id="cgnat-top"),
    pytest.param("0.0.0.0", id="unspecified"),  # noqa: S104 - an address under test, nothing binds to it
    pytest.param("224.0.0.1", id="multicast"),
    pytest.param("255.255.255.255", id="broadcast"),
    pytest.param("::1", id="ipv6-loopback"),
    pytest.param("[::1]", id="ipv6-loopback-bracketed"),
    pytest.param("::", id="ipv6-unspecified"),
    pytest.param("::ffff:127.0.0.1", id="ipv4-mapped-loopback"),
    pytest.param("::ffff:10.0.0.1", id="ipv4-mapped-private"),
    pytest.param("fe80::1", id="ipv6-link-local"),
    pytest.param("fc00::1", id="ipv6-unique-local"),
    pytest.param("ff02::1", id="ipv6-multicast"),
]


@pytest.mark.parametrize("host", NOT_PUBLIC)
async def test_non_public_addresses_are_refused(host: str) -> None:
    with pytest.raises(TargetNotAllowed):
        await TargetResolver(allow_private=False).resolve(host, 443)


@pytest.mark.parametrize("host", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "[2606:4700:4700::1111]"])
async def test_a_public_address_is_the_one_connected_to(host: str) -> None:
    address = await TargetResolver(allow_private=False).resolve(host, 443)
    assert address == ipaddress.ip_address(host.strip("[]"))


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.1", "::1", "169.254.169.254"])
async def test_the_operator_may_allow_private_targets(host: str) -> None:
    address = await TargetResolver(allow_private=True).resolve(host, 80)
    assert address == ipaddress.ip_address(host)


async def test_a_name_that_resolves_to_loopback_is_refused() -> None:
    with pytest.raises(TargetNotAllowed, match="localhost"):
        await TargetResolver(allow_private=False).resolve("localhost", 80)
    # With private targets allowed, the same name is what it resolves to.
    assert (await TargetResolver(allow_private=True).resolve("localhost", 80)).is_loopback


async def test_a_name_that_does_not_resolve_is_unresolvable() -> None:
    with pytest.raises(TargetUnresolvable):
        await TargetResolver(allow_private=False).resolve("no-such-host.invalid", 443)
