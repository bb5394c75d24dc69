"""URL and address policy for captures (SEC-02, SSRF).

A URL is judged twice: by its spelling (scheme, userinfo, IP literals in every encoding a browser
accepts) and, after DNS resolution, by every address its host resolves to. Loopback, private,
link-local, carrier-grade NAT, multicast, reserved, unspecified and cloud-metadata addresses are
refused, also when they hide inside IPv6 (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64).

The only way past the policy is an explicit allow-list of ``HOST:PORT`` pairs, from ``--allow`` or
the ``WB_CAPTURE_ALLOW`` environment variable (comma-separated), or the home's capture targets; who may
set which is the workbench's rule (``workbench.services.capture.network``: a run's own targets are for
admins).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from archive.errors import InvalidRequest

__all__ = [
    "Decision",
    "GuardError",
    "IPAddress",
    "Policy",
    "address_problem",
    "parse_allow",
    "parse_host_ip",
    "split_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ENV_ALLOW = "WB_CAPTURE_ALLOW"
MAX_URL = 8192
SCHEMES = {"http": 80, "https": 443}

_METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SIXTOFOUR = ipaddress.ip_network("2002::/16")


class GuardError(InvalidRequest, ValueError):
    """A URL or address the policy refuses; the message is the reason a person reads."""


@dataclass(frozen=True)
class Decision:
    """The guard's answer for one URL: allowed or not, why, and the addresses checked."""

    allowed: bool
    reason: str | None
    host: str = ""
    port: int = 0
    addresses: tuple[str, ...] = ()


def parse_allow(entries: Iterable[str]) -> frozenset[tuple[str, int]]:
    """``HOST:PORT`` strings (``[::1]:8080`` for IPv6) into normalised pairs; bad entries raise."""
    pairs: set[tuple[str, int]] = set()
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        host, sep, port = entry.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise GuardError(f"allow-list entry {entry!r} is not HOST:PORT")
        pairs.add((_normal_host(host.strip("[]")), int(port)))
    return frozenset(pairs)


def _normal_host(host: str) -> str:
    ip = parse_host_ip(host)
    return str(ip) if ip is not None else host.lower().rstrip(".")


@dataclass(frozen=True)
class Policy:
    """What a capture may reach: the public internet plus exactly the allow-listed pairs."""

    allow: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    deny_all: bool = False

    @classmethod
    def from_settings(cls, allow: Iterable[str] = (), env: dict[str, str] | None = None) -> Policy:
        """The allow-list from ``--allow`` values plus ``WB_CAPTURE_ALLOW``."""
        source = os.environ if env is None else env
        extra = [e for e in source.get(ENV_ALLOW, "").split(",") if e.strip()]
        return cls(parse_allow([*allow, *extra]))

    def allowed_pair(self, host: str, port: int, ip: IPAddress | None = None) -> bool:
        if (_normal_host(host), port) in self.allow:
            return True
        return ip is not None and (str(ip), port) in self.allow

    def check_url(self, url: str) -> Decision:
        """Spelling only (no DNS): scheme, userinfo, port, IP literals."""
        try:
            host, port = split_url(url)
            ip = parse_host_ip(host)
        except GuardError as exc:
            return Decision(False, str(exc))
        if self.deny_all:
            return Decision(False, "no capture is running on this connection", host, port)
        if ip is not None:
            return self.check_address(host, port, ip)
        return Decision(True, None, host, port)

    def check_address(self, host: str, port: int, ip: IPAddress) -> Decision:
        """One resolved address of ``host``."""
        if self.deny_all:
            return Decision(False, "no capture is running on this connection", host, port, (str(ip),))
        if self.allowed_pair(host, port, ip):
            return Decision(True, None, host, port, (str(ip),))
        problem = address_problem(ip)
        if problem:
            return Decision(False, f"{host} -> {ip}: {problem}", host, port, (str(ip),))
        return Decision(True, None, host, port, (str(ip),))

    def resolve_and_check(self, host: str, port: int) -> Decision:
        """Resolve ``host`` once and check every address; blocking (run it in a thread)."""
        try:
            ip = parse_host_ip(host)
        except GuardError as exc:
            return Decision(False, str(exc), host, port)
        if ip is not None:
            return self.check_address(host, port, ip)
        if self.deny_all:
            return Decision(False, "no capture is running on this connection", host, port)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            return Decision(False, f"{host}: name does not resolve ({exc})", host, port)
        found: list[str] = []
        for info in infos:
            addr = str(info[4][0]).split("%", 1)[0]
            if addr not in found:
                found.append(addr)
        for addr in found:
            decision = self.check_address(host, port, ipaddress.ip_address(addr))
            if not decision.allowed:
                # One bad answer is enough: a name that resolves inside is hostile, whatever else.
                return Decision(False, decision.reason, host, port, tuple(found))
        if not found:
            return Decision(False, f"{host}: name has no address", host, port)
        return Decision(True, None, host, port, tuple(found))


def split_url(url: str) -> tuple[str, int]:
    """Host and port of an http(s) URL, refusing what a browser or a parser could read differently."""
    if len(url) > MAX_URL:
        raise GuardError(f"URL longer than {MAX_URL} characters")
    if any(ord(c) < 0x21 or c == "\\" for c in url):
        raise GuardError("URL holds spaces, control characters or backslashes")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise GuardError(f"scheme {scheme or '(none)'!r} is not http or https")
    netloc = parts.netloc
    if "@" in netloc:
        raise GuardError("URL carries user information (user@host), a common disguise")
    if not netloc:
        raise GuardError("URL has no host")
    try:
        port = parts.port or SCHEMES[scheme]
    except ValueError:
        raise GuardError("URL has an invalid port") from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise GuardError("URL has no host")
    if "%" in host:
        raise GuardError("URL host holds a percent sign or IPv6 zone")
    try:
        host.encode("idna")
    except UnicodeError:
        raise GuardError("URL host is not a valid international domain name") from None
    return host.lower(), port


def parse_host_ip(host: str) -> IPAddress | None:
    """The address a browser would read from ``host``, or None when it is a name.

    Follows the WHATWG URL parser that Chromium implements: when the last dot-separated part is
    numeric, the host is IPv4 written in 1-4 parts, each decimal, octal (leading 0) or hex (0x).
    """
    text = host.strip("[]").rstrip(".")
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            raise GuardError(f"host {host!r} is not a valid IPv6 address") from None
    parts = text.split(".")
    if not parts or not _numeric(parts[-1]):
        return None
    numbers = [_ipv4_part(p, host) for p in parts]
    if len(numbers) > 4 or any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise GuardError(f"host {host!r} is an IPv4 address out of range")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _numeric(part: str) -> bool:
    low = part.lower()
    if low.startswith("0x"):
        return all(c in "0123456789abcdef" for c in low[2:])
    return part.isdigit() and part.isascii()


def _ipv4_part(part: str, host: str) -> int:
    low = part.lower()
    try:
        if low.startswith("0x"):
            return int(low[2:] or "0", 16)
        if len(low) > 1 and low.startswith("0"):
            return int(low, 8)
        return int(low, 10)
    except ValueError:
        raise GuardError(f"host {host!r} mixes an IPv4 address with other text") from None


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip))
    return None


def address_problem(ip: IPAddress) -> str | None:
    """Why a capture must not connect to ``ip``, or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            problem = address_problem(inner)
            return f"embeds {inner}, {problem}" if problem else None
        if ip in _SIXTOFOUR:
            return "6to4 address"
    checks = (
        (ip in _METADATA, "cloud metadata address"),
        (ip.is_loopback, "loopback address"),
        (ip.is_unspecified, "unspecified address"),
        (ip.is_link_local, "link-local address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "carrier-grade NAT address"),
        (ip.is_multicast, "multicast address"),
        (ip.is_private, "private address"),
        (ip.is_reserved, "reserved address"),
        (not ip.is_global, "not a public address"),
    )
    for hit, reason in checks:
        if hit:
            return reason
    return None
