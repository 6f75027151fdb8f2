"""Which network addresses Trama may connect to on a partner's behalf (connectors, their
OAuth token endpoints).

A partner's platform is on the public internet. An address that is not — loopback,
link-local (cloud metadata at 169.254.169.254), private ranges, shared CGNAT space,
unspecified, multicast, reserved, documentation ranges — would let whoever registers an
endpoint reach Trama's own machines and network (server-side request forgery), so it is
refused unless an operator allows the network of a partner reached privately
(``TRAMA_CONNECTOR_ALLOWED_NETWORKS``). IPv6 forms that carry an IPv4 address
(IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible, 6to4, NAT64) are judged by that address.

Pure logic: the HTTP layer resolves names and asks :meth:`AddressPolicy.refusal` for every
address it might connect to, at connection time.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Names that always mean this machine (RFC 6761: ``localhost`` and ``*.localhost``).
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


#: (networks, what they are), most specific first; anything else not global is refused
#: as "not a public internet address".
SPECIAL_NETWORKS: tuple[tuple[tuple[IPNetwork, ...], str], ...] = (
    (_nets("0.0.0.0/8", "::/128"), "unspecified ('this network')"),
    (_nets("127.0.0.0/8", "::1/128"), "loopback"),
    (_nets("169.254.0.0/16", "fe80::/10"), "link-local (cloud metadata lives there)"),
    (_nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"), "private"),
    (_nets("100.64.0.0/10"), "shared address space (carrier-grade NAT)"),
    (_nets("224.0.0.0/4", "ff00::/8"), "multicast"),
    (_nets("255.255.255.255/32"), "broadcast"),
    (_nets("240.0.0.0/4"), "reserved"),
    (_nets("fec0::/10"), "site-local"),
)

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings (``10.20.0.0/16``, ``2001:db8::/32``, a bare address) as networks;
    ``ValueError`` names a bad one."""
    out = []
    for value in values:
        text = value.strip()
        if not text:
            continue
        try:
            out.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{text!r} is not a network (CIDR, e.g. 10.20.0.0/16)") from None
    return tuple(out)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def parse_address(text: str) -> IPAddress | None:
    """An IP literal (IPv6 with or without brackets, zone ids dropped), or None."""
    candidate = text.strip().strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def is_loopback_name(host: str) -> bool:
    name = host.strip().rstrip(".").lower()
    return name in LOOPBACK_NAMES or name.endswith(".localhost")


@dataclass(frozen=True)
class AddressPolicy:
    """Refuses non-public addresses except those in ``allowed`` (see the module doc)."""

    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def allowing(cls, cidrs: Iterable[str | IPNetwork]) -> AddressPolicy:
        return cls(parse_networks(str(c) for c in cidrs))

    def _allowed(self, address: IPAddress) -> bool:
        return any(address.version == n.version and address in n for n in self.allowed)

    def refusal(self, address: IPAddress) -> str | None:
        """Why Trama may not connect to ``address`` (None: it may)."""
        if self._allowed(address):
            return None
        inner = embedded_ipv4(address)
        if inner is not None:
            if self._allowed(inner):
                return None
            reason = self.refusal(inner)
            return f"{reason} (as {address})" if reason else None
        for networks, what in SPECIAL_NETWORKS:
            for network in networks:
                if address.version == network.version and address in network:
                    return f"{address} is a {what} address ({network})"
        if not address.is_global:
            return f"{address} is not a public internet address"
        return None

    def host_refusal(self, host: str) -> str | None:
        """For a URL's host: an IP literal or a name that always means this machine is
        judged now; other names are judged at connection time, once resolved."""
        if is_loopback_name(host):
            reason = self.refusal(ipaddress.IPv4Address("127.0.0.1"))
            return f"{host} is this machine: {reason}" if reason else None
        address = parse_address(host)
        return self.refusal(address) if address is not None else None


#: No allowance: every non-public address is refused.
STRICT = AddressPolicy()

__all__ = [
    "STRICT",
    "AddressPolicy",
    "IPAddress",
    "IPNetwork",
    "embedded_ipv4",
    "is_loopback_name",
    "parse_address",
    "parse_networks",
]
