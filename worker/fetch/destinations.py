"""Which network destinations a fetch may reach: public unicast addresses only, by default.

Usage::

    refusal_reason(ipaddress.ip_address("10.1.2.3"))   # -> "private"
    refusal_reason(ipaddress.ip_address("93.184.216.34"))  # -> None (allowed)

This is the policy only. It is enforced on the address a connection is actually opened to
(see ``transport.py``), so URLs like ``http://2130706433/``, ``http://0x7f.1/`` or a DNS
name that resolves to 127.0.0.1 are refused for what they reach, not for how they are
spelled.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Named ranges first, so a refusal says *why*; the ``is_global`` catch-all below covers the
# rest of IANA's special-purpose registries (documentation, benchmarking, reserved, ...).
_V4_RANGES: tuple[tuple[str, ipaddress.IPv4Network], ...] = tuple(
    (name, ipaddress.IPv4Network(net))
    for name, net in (
        ("unspecified", "0.0.0.0/8"),
        ("loopback", "127.0.0.0/8"),
        ("private", "10.0.0.0/8"),
        ("private", "172.16.0.0/12"),
        ("private", "192.168.0.0/16"),
        ("cgnat", "100.64.0.0/10"),
        ("link_local", "169.254.0.0/16"),
        ("multicast", "224.0.0.0/4"),
        ("reserved", "240.0.0.0/4"),  # includes 255.255.255.255 broadcast
        ("reserved", "192.0.0.0/24"),
        ("reserved", "198.18.0.0/15"),
    )
)
_V6_RANGES: tuple[tuple[str, ipaddress.IPv6Network], ...] = tuple(
    (name, ipaddress.IPv6Network(net))
    for name, net in (
        ("unspecified", "::/128"),
        ("loopback", "::1/128"),
        ("ipv4_mapped", "::ffff:0:0/96"),
        ("ipv4_compatible", "::/96"),  # deprecated ::a.b.c.d form
        ("private", "fc00::/7"),
        ("link_local", "fe80::/10"),
        ("site_local", "fec0::/10"),
        ("multicast", "ff00::/8"),
    )
)
# Prefixes that carry an IPv4 address inside an IPv6 one: judged by the embedded address.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


def refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` may not be connected to (``"loopback"``, ``"private"``, ...), or
    ``None`` when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv4Address):
        return _v4_reason(address)
    if address.scope_id:
        return "link_local"
    if address in _NAT64:
        # DNS64 networks synthesize these for IPv4-only hosts: judge the IPv4 inside.
        return _v4_reason(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address in _SIX_TO_FOUR and address.sixtofour is not None:
        return _v4_reason(address.sixtofour)
    for name, network in _V6_RANGES:
        if address in network:
            return name
    if address.teredo is not None:
        return "teredo"
    if not address.is_global or address.is_reserved:
        return "reserved"
    return None


def parse_ip(host: str) -> IPAddress | None:
    """``host`` as an IP address if it is a literal (``[...]`` and zone allowed), else None."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _v4_reason(address: ipaddress.IPv4Address) -> str | None:
    for name, network in _V4_RANGES:
        if address in network:
            return name
    if not address.is_global:
        return "reserved"
    return None
