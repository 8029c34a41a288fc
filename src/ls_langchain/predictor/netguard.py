"""Which addresses the backend may connect to when it fetches task media, decided at connect time.

The check is on the address a connection is actually made to: each host is resolved here, every address it
resolves to is checked, and the socket is opened to a checked address itself. So no spelling of a URL
(``[::ffff:a9fe:a9fe]``, ``2130706433``, a name that resolves inward) and no redirect can lead past it. Public
addresses are allowed; loopback and private ones only with ``ALLOW_PRIVATE_URLS``; link-local and cloud-metadata
ones only with ``ALLOW_LINK_LOCAL_URLS``. IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible,
NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo) are judged by that address too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from ls_langchain.errors import TaskInputError

__all__ = ["GuardedTransport", "address_refusal"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Cloud metadata services (AWS, ECS tasks, Alibaba, AWS over IPv6); most are link-local, not all.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _carried(ip: IPAddress) -> list[IPAddress]:
    """``ip`` and every IPv4 address its IPv6 form carries."""
    if isinstance(ip, ipaddress.IPv4Address):
        return [ip]
    found: list[IPAddress] = [ip]
    found += [v4 for v4 in (ip.ipv4_mapped, ip.sixtofour) if v4 is not None]
    found += list(ip.teredo or ())
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def address_refusal(address: str, *, allow_private: bool, allow_link_local: bool) -> str | None:
    """Why the backend may not connect to ``address`` (an IP address), or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) says nothing of the address
    carried = _carried(ip)
    if any(a.is_link_local or a in METADATA_ADDRESSES for a in carried):
        if allow_link_local:
            return None
        return "a link-local or cloud-metadata address (set ALLOW_LINK_LOCAL_URLS=true if that is really meant)"
    if all(a.is_global for a in carried) or allow_private:
        return None
    return "a loopback, private or reserved address (set ALLOW_PRIVATE_URLS=true for media on a private network)"


class _GuardedNetwork(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving each host itself and connecting only to addresses the policy allows."""

    def __init__(self, *, allow_private: bool, allow_link_local: bool) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow = {"allow_private": allow_private, "allow_link_local": allow_link_local}

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:  # all of them: a name that resolves both out and in is refused
            reason = address_refusal(address, **self._allow)
            if reason:
                shown = host if host == address else f"{host} ({address})"
                raise TaskInputError(f"Refusing to fetch from {shown}: {reason}.")
        error: Exception = httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport that connects only where ``address_refusal`` allows, and never through a proxy (a proxy
    would resolve the name itself, out of the check's sight)."""

    def __init__(self, *, allow_private: bool, allow_link_local: bool) -> None:
        super().__init__(trust_env=False)
        # httpx's transport takes no network backend; the connection pool under it does (httpcore's seam for this).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            network_backend=_GuardedNetwork(allow_private=allow_private, allow_link_local=allow_link_local),
        )
