"""Peer and tracker addresses, and the IP policy: which addresses a session may talk to.

Every session labkit opens is loopback-only unless the user asks for classroom
LAN mode (``listen=``). This module makes that decision, once, for every caller:

- ``parse_address("HOST:PORT")`` / ``to_address(...)`` read an address, with a
  clear error (BadAddress) for a bad port or anything but printable ASCII: the one
  parser every command uses, ``node`` and the DHT included; ``parse_ip_address``
  also wants an IP address (labkit does no DNS look-ups), ``peer_address`` an
  address that names one machine (port 1-65535, never unspecified, broadcast or
  multicast), ``listen_address`` one a session can listen on;
- ``AddressPolicy(lan=False)`` says which peers and trackers a session may
  contact: loopback only by default; in LAN mode also private (RFC 1918,
  link-local, IPv6 unique-local) addresses and any unicast address the user
  names, never unspecified, broadcast or multicast ones.
  ``AddressPolicy.ranges()`` are the IP ranges a session's IP filter lets through;
- ``split_peers`` sorts the ``x.pe`` values of a magnet link into usable
  addresses and the ones that must be reported (bad port, host name).

IPv4-mapped IPv6 addresses (``::ffff:127.0.0.1``) are judged as the IPv4
address they carry.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from typing import Iterable, Sequence, Union

from ..errors import BadAddress, TorrentError

__all__ = [
    "Address",
    "IP",
    "LOOPBACK",
    "LAN",
    "LAN_PORT",
    "format_address",
    "parse_address",
    "parse_ip_address",
    "peer_address",
    "listen_address",
    "nobody",
    "to_address",
    "parse_ip",
    "is_loopback",
    "split_peers",
    "AddressPolicy",
]

Address = tuple[str, int]  # (host, port)
IP = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

LAN_PORT = 6881  # the classic BitTorrent port, used when a LAN listen address names no port

LOOPBACK = ("127.0.0.0/8", "::1/128")
# Classroom LAN mode accepts these besides the peers it is given: RFC 1918,
# link-local, and IPv6 unique-local and link-local addresses.
LAN = LOOPBACK + ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                  "fc00::/7", "fe80::/10")


def format_address(address: Address) -> str:
    """(host, port) -> 'host:port', or '[v6]:port'."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address(text: str, default_port: int | None = None) -> Address:
    """'HOST:PORT', '[V6]:PORT' (or 'HOST' when a default port is given) -> (host, port).

    The one reader of addresses typed by people or found in files: raises BadAddress
    (a message for people) unless the text is printable ASCII and the port is ASCII
    digits 0-65535. Whether the host is an IP address a session may contact is
    :func:`peer_address`'s question (and then :class:`AddressPolicy`'s).
    """
    if not isinstance(text, str):
        raise BadAddress(f"expected HOST:PORT text, got {type(text).__name__}")
    text = text.strip()
    if not (text.isascii() and text.isprintable()):  # no '٣', no '¹', no control characters
        raise BadAddress(f"expected HOST:PORT in ASCII with a port 0-65535, got {text!r}")
    host, sep, port = text.rpartition(":")
    if text.startswith("[") and "]" in text:
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif not sep or (":" in host):  # no port, or a bare IPv6 address
        host, port = text, ""
    if not port:
        if default_port is None:
            raise BadAddress(f"expected HOST:PORT, got {text!r}")
        port = str(default_port)
    if not host or not (port.isdigit() and len(port) <= 5) or not 0 <= int(port) <= 65535:
        raise BadAddress(f"expected HOST:PORT with a port 0-65535, got {text!r}")
    return host, int(port)


def parse_ip_address(text: str, default_port: int | None = None) -> Address:
    """Like :func:`parse_address`, but HOST must be an IP address (labkit does no DNS look-ups)."""
    host, port = parse_address(text, default_port)
    ip = parse_ip(host)
    if ip is None:
        raise BadAddress(f"expected IP:PORT with an IP address (no names: labkit does no DNS look-ups), "
                         f"got {text!r}")
    return str(ip), port


def nobody(ip: IP) -> bool:
    """True for an address that names no single peer: unspecified (0.0.0.0, ::), broadcast or multicast."""
    return ip.is_unspecified or ip.is_multicast or ip == ipaddress.IPv4Address("255.255.255.255")


def peer_address(peer: Address | str) -> Address:
    """(ip, port) of a peer any session could contact: an IP address, a port 1-65535, one machine.

    Raises BadAddress for a host name, port 0 or a non-ASCII digit, an unspecified, broadcast or
    multicast address. Whether *this* session may contact it is :meth:`AddressPolicy.allow`'s decision.
    """
    host, port = to_address(peer)
    where = format_address((host, port))
    if not 0 < port < 65536:
        raise BadAddress(f"bad peer port {port} in {where}")
    ip = parse_ip(host)
    if ip is None:
        raise BadAddress(f"peer addresses must be IP addresses (labkit does no DNS look-ups), not {host!r}")
    if nobody(ip):
        raise BadAddress(f"{where} is not a peer's address (unspecified, broadcast or multicast)")
    return str(ip), port  # ::ffff:127.0.0.1 -> 127.0.0.1


def listen_address(text: str) -> Address:
    """(host, port) a session may listen on: an IP address or an interface name, LAN_PORT by default.

    Raises BadAddress for an unspecified, broadcast or multicast address (they name no one machine).
    """
    host, port = parse_address(text, LAN_PORT)
    ip = parse_ip(host)
    if ip is not None and nobody(ip):
        raise BadAddress(f"cannot listen on {text}: name this machine's LAN address (e.g. "
                         f"192.168.1.10:{port or LAN_PORT}), not an unspecified, broadcast or multicast one")
    return (str(ip) if ip is not None else host), port


def to_address(peer: Address | str) -> Address:
    """A 'HOST:PORT' string or a (host, port) pair -> (host, port); 'localhost' is 127.0.0.1."""
    if isinstance(peer, str):
        host, port = parse_address(peer)
    else:
        try:
            host, port = peer
        except (TypeError, ValueError):
            raise BadAddress(f"expected a (host, port) pair or 'HOST:PORT', got {peer!r}") from None
        if isinstance(port, str):  # as typed: the same rules as in 'HOST:PORT'
            host, port = parse_address(f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}")
        elif isinstance(port, bool) or not isinstance(port, int) or not isinstance(host, str):
            raise BadAddress(f"expected a (host, port) pair or 'HOST:PORT', got {peer!r}")
    return ("127.0.0.1" if host == "localhost" else host), port


def parse_ip(host: str) -> IP | None:
    """The IP address ``host`` names (IPv4-mapped IPv6 read as IPv4), or None for a host name."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _in(ip: IP | None, networks: Sequence[str]) -> bool:
    return ip is not None and any(ip in ipaddress.ip_network(n) for n in networks)


def is_loopback(host: str) -> bool:
    """True if ``host`` is an IP address of this machine's loopback interface."""
    return _in(parse_ip(host), LOOPBACK)


def split_peers(values: Iterable[str]) -> tuple[tuple[Address, ...], tuple[str, ...]]:
    """Sort a magnet link's ``x.pe`` values into (usable addresses, reported values).

    A value is reported when it is not IP:PORT with a port 1-65535 (a host
    name, a bad or missing port); it is never dropped in silence.
    """
    good: list[Address] = []
    bad: list[str] = []
    for value in values:
        try:
            host, port = parse_address(value)
        except TorrentError:
            bad.append(value)
            continue
        if parse_ip(host) is None or port == 0:
            bad.append(value)
        elif (host, port) not in good:
            good.append((host, port))
    return tuple(good), tuple(bad)


class AddressPolicy:
    """Which addresses a session may contact: loopback only, or a classroom LAN.

    :meth:`allow` is asked about every peer and tracker before a packet is
    sent; it returns the address, or raises TorrentError. In LAN mode an address outside the private ranges is
    allowed once the user names it, and :meth:`ranges` then includes it.
    """

    def __init__(self, lan: bool = False):
        self.lan = lan
        self.explicit: set[str] = set()  # hosts outside the ranges that the user named (LAN mode)

    def __repr__(self) -> str:
        return f"AddressPolicy(lan={self.lan})"

    def allow(self, peer: Address | str) -> Address:
        """``peer`` as (host, port) if this session may contact it; raise otherwise."""
        host, port = peer_address(peer)
        self.check_host(parse_ip(host), format_address((host, port)))
        return host, port

    def allow_tracker(self, url: str) -> str:
        """``url`` if it is an http(s) or udp tracker on an address this session may contact."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https", "udp") or not parts.hostname:
            raise TorrentError(f"not a tracker URL (http://, https:// or udp://HOST:PORT/...): {url!r}")
        try:
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
        except ValueError:
            raise TorrentError(f"the tracker URL {url!r} has a bad port") from None
        ip = parse_ip("127.0.0.1" if parts.hostname == "localhost" else parts.hostname)
        if ip is None:
            raise TorrentError(f"name the tracker by its IP address (labkit does no DNS look-ups): {url!r}")
        if not 0 < port < 65536:
            raise TorrentError(f"the tracker URL {url!r} has no port")
        self.check_host(ip, url)
        return url

    def check_host(self, ip: IP, where: str) -> None:
        """Raise TorrentError unless this session may contact ``ip`` (``where`` names it in the message)."""
        if nobody(ip):
            raise BadAddress(f"{where} is not a peer's address (unspecified, broadcast or multicast)")
        if not self.lan:
            if not _in(ip, LOOPBACK):
                raise TorrentError(f"{where} is not on this machine; this session is loopback-only "
                                   f"(for a classroom LAN, listen on this machine's LAN address: "
                                   f"--listen ADDRESS:PORT, or listen='ADDRESS:PORT' in Python)")
            return
        if not _in(ip, LAN):
            self.explicit.add(str(ip))  # named by the user: allowed although outside the private ranges

    def ranges(self) -> list[tuple[str, str]]:
        """(first, last) address ranges an IP filter should let through; everything else is blocked.

        Each IPv4 range also appears IPv4-mapped (``::ffff:a.b.c.d``), as a dual-stack socket sees it.
        """
        nets = [ipaddress.ip_network(n) for n in (LAN if self.lan else LOOPBACK)]
        nets += [ipaddress.ip_network(host) for host in sorted(self.explicit)]
        allowed = []
        for net in nets:
            allowed.append((str(net[0]), str(net[-1])))
            if isinstance(net, ipaddress.IPv4Network):
                allowed.append((f"::ffff:{net[0]}", f"::ffff:{net[-1]}"))
        return allowed
