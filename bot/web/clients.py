"""Who is on the other end: the client's address, trusting ``X-Forwarded-For`` only from
configured proxies (a shop behind nginx would otherwise see every shopper as nginx)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str) -> tuple[Network, ...]:
    """``"127.0.0.1, 10.0.0.0/8"`` → networks; a bad entry is a configuration error."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


def client_ip(remote: str | None, forwarded_for: str | None, trusted: Iterable[Network]) -> str:
    """The client's address: the nearest ``X-Forwarded-For`` hop not sent by a trusted proxy.

    Without trusted proxies (the default) the header is ignored: anyone can write it.
    """
    trusted = tuple(trusted)
    address = remote or "unknown"
    if not trusted or not forwarded_for or not _within(address, trusted):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        address = hop
        if not _within(hop, trusted):
            break
    return address


def _within(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip_of(trusted: Iterable[Network]) -> Callable[[web.Request], str]:
    """The client-address reader for requests, given the trusted proxies."""
    networks = tuple(trusted)

    def read(request: web.Request) -> str:
        return client_ip(request.remote, request.headers.get("X-Forwarded-For"), networks)

    return read
