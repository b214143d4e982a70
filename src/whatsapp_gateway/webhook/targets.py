"""Which webhook targets the gateway may call: the SSRF guard.

A webhook URL is chosen by a tenant, and the gateway calls it from inside the operator's network. Unless the operator
allows it (`WEBHOOK_ALLOW_PRIVATE_TARGETS=true`), targets whose address is loopback, private, link-local, multicast,
reserved or unspecified are refused: when the URL is saved (if its name resolves then) and again on every delivery,
against the addresses the name resolves to at that moment. The delivery then connects to the address that was checked,
not to a second lookup's answer, so a name that changes its answer between the check and the connection (DNS
rebinding) gains nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass

RESOLVE_CACHE_SECONDS = 30.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetNotAllowed(Exception):
    """The URL's host is, or resolves to, an address the gateway must not call."""


class TargetUnresolvable(Exception):
    """The URL's host does not resolve (now)."""


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


@dataclass
class _Resolved:
    addresses: list[IPAddress]
    at: float


class TargetResolver:
    """Resolves webhook hosts, refusing non-public addresses; answers are kept a few seconds."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._cache: dict[tuple[str, int], _Resolved] = {}

    async def resolve(self, host: str, port: int) -> IPAddress:
        """The address to connect to for `host`, checked; raises TargetNotAllowed or TargetUnresolvable."""
        addresses = await self._addresses(host, port)
        if self.allow_private:
            return addresses[0]
        refused = [a for a in addresses if not is_public(a)]
        if refused:
            # One private answer among public ones is refused too: which one a client uses is not ours to choose.
            raise TargetNotAllowed(f"{host} resolves to {refused[0]}, which is not a public address")
        return addresses[0]

    async def _addresses(self, host: str, port: int) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            pass
        cached = self._cache.get((host, port))
        if cached is not None and time.monotonic() - cached.at < RESOLVE_CACHE_SECONDS:
            return cached.addresses
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise TargetUnresolvable(f"{host} does not resolve: {exc}") from exc
        addresses: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise TargetUnresolvable(f"{host} does not resolve")
        self._cache[(host, port)] = _Resolved(addresses, time.monotonic())
        return addresses
