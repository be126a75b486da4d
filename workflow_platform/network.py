"""Which hosts a tenant's catalog may make the platform connect to: public addresses, and the loopback, private
or link-local ones the operator lists in `WORKFLOW_PLATFORM_ALLOWED_HOSTS` (settings.allowed_hosts). Names are
resolved when the connection is about to be made, so a name that points somewhere else later is checked again.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from workflow_platform.settings import allowed_hosts


class BlockedHost(ValueError):
    """A catalog URL leads to an address the operator has not allowed (retrying cannot help: retries.py counts it
    as permanent); the message names the host, never a secret."""


def _allowed(host: str, addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    for entry in allowed_hosts():
        if entry.lower() == host.lower():
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if addresses and all(a in network for a in addresses):
            return True
    return False


def _restricted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def check_host(host: str, what: str, port: int | None = None) -> None:
    """Raise BlockedHost when `host` resolves to a loopback, private, link-local (cloud metadata), reserved or
    multicast address that WORKFLOW_PLATFORM_ALLOWED_HOSTS does not list."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return  # unknown name: the connection fails on its own, with the client's error
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    blocked = sorted({str(a) for a in addresses if _restricted(a)})
    if blocked and not _allowed(host, addresses):
        raise BlockedHost(f"{what}: host {host} resolves to {', '.join(blocked)}, a loopback, private or "
                          "link-local address; the operator can allow it in WORKFLOW_PLATFORM_ALLOWED_HOSTS")


def check_url(url: str, what: str) -> None:
    """check_host for the host of an http(s), sftp or ssh URL (other URLs have no host to check)."""
    parts = urlsplit(url)
    if parts.hostname:
        check_host(parts.hostname, what, parts.port)
