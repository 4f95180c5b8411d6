"""Which hosts the server may fetch from: allow/deny lists of host names and CIDR ranges.

Checked on the first URL and on every redirect target, on the addresses a host name resolves
to (the connection is then made to a checked address only, so a name cannot resolve to one
address for the check and another for the connection). Link-local ranges (cloud metadata
services live there) and the Jupyter server's own address and port are denied by default.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Denied unless the configuration says otherwise: link-local IPv4 and IPv6.
DEFAULT_DENY = ("169.254.0.0/16", "fe80::/10")
SCHEMES = ("http", "https")


class DestinationRefused(Exception):
    """The URL's scheme or host is not one the server may fetch from (never retried)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidHost(DestinationRefused):
    """The URL's host is not a valid (internationalised) host name."""


def ascii_host(host: str) -> str:
    """The host name as sent on the wire: an internationalised name in its IDNA 2008 / UTS 46
    (``xn--``) form (Python's own codec is IDNA 2003: it turns ``faß`` into ``fass``)."""
    try:
        host.encode("ascii")
        return host
    except UnicodeEncodeError:
        pass
    try:
        import idna

        return idna.encode(host, uts46=True).decode("ascii")
    except (ImportError, UnicodeError, ValueError) as exc:
        try:
            return host.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidHost(f"{host!r} is not a valid host name: {exc}") from None


def _address(value: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass
class _Rules:
    names: list[str] = field(default_factory=list)  # lower-case, IDNA; match subdomains too
    networks: list[IPNetwork] = field(default_factory=list)

    @classmethod
    def parse(cls, entries: Iterable[str], setting: str) -> _Rules:
        rules = cls()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                rules.networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            name = entry.lower().removeprefix("*.").strip(".")
            if not name or any(c in name for c in "/:@ "):
                raise ValueError(f"{setting}: {raw!r} is neither a host name nor a CIDR range")
            rules.names.append(ascii_host(name))
        return rules

    def __bool__(self) -> bool:
        return bool(self.names or self.networks)

    def has_name(self, host: str) -> bool:
        return any(host == name or host.endswith("." + name) for name in self.names)

    def has_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def _is_local(address: IPAddress) -> bool:
    """True when ``address`` belongs to this machine (it can be bound to)."""
    if address.is_loopback or address.is_unspecified:
        return True
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((str(address), 0))
        return True
    except OSError:
        return False


class DestinationPolicy:
    """``allow`` (empty: anything not denied) and ``deny`` (wins over allow) lists of host
    names (a name covers its subdomains) and CIDR ranges, plus the server's own port on this
    machine's addresses (``server_port``: the port, or a function giving it once bound)."""

    def __init__(
        self,
        allow: Sequence[str] = (),
        deny: Sequence[str] = DEFAULT_DENY,
        *,
        server_port: int | Callable[[], int | None] | None = None,
    ):
        self.allow = _Rules.parse(allow, "download_allow")
        self.deny = _Rules.parse(deny, "download_deny")
        self._entries = (list(allow), list(deny))
        self._server_port = server_port

    def to_json(self) -> dict[str, Any]:
        """The policy as JSON (for a download worker process); the server port as it is now."""
        allow, deny = self._entries
        return {"allow": allow, "deny": deny, "server_port": self.server_port}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DestinationPolicy:
        """The policy :meth:`to_json` described."""
        return cls(data["allow"], data["deny"], server_port=data.get("server_port"))

    @property
    def server_port(self) -> int | None:
        port = self._server_port
        return port() if callable(port) else port

    # -- checks ------------------------------------------------------------------------
    def refusal(self, host: str, address: IPAddress | None, port: int) -> str | None:
        """Why ``host`` (resolved to ``address``) on ``port`` is refused, or None."""
        shown = host if address is None or str(address) == host else f"{host} ({address})"
        if self.deny.has_name(host) or (address is not None and self.deny.has_address(address)):
            return f"{shown} is denied by ModelFilesApp.download_deny"
        if self.allow and not (
            self.allow.has_name(host) or (address is not None and self.allow.has_address(address))
        ):
            return f"{shown} is not in ModelFilesApp.download_allow"
        if port == self.server_port and address is not None and _is_local(address):
            return f"{shown} port {port} is this Jupyter server itself"
        return None

    def check(self, url: str) -> tuple[str, int]:
        """Check ``url``'s scheme and the host it names, resolving it (blocking); return the
        host (IDNA) and port. An unresolvable name passes: the connection will say so."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise DestinationRefused(
                f"only http and https URLs are downloaded, not {scheme or 'scheme-less'} URLs "
                f"({url[:200]})"
            )
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise DestinationRefused(f"bad port in {url[:200]}") from None
        host = ascii_host((parts.hostname or "").lower())
        if not host:
            raise DestinationRefused(f"no host in {url[:200]}")
        try:
            self.resolve(host, port)
        except OSError:
            pass
        return host, port

    def resolve(self, host: str, port: int) -> list[tuple[int, IPAddress]]:
        """The (family, address) pairs of ``host`` that may be connected to; raise
        :class:`DestinationRefused` when there is none, ``OSError`` when it does not resolve."""
        host = ascii_host(host.lower())
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        permitted: list[tuple[int, IPAddress]] = []
        reasons: list[str] = []
        for family, _type, _proto, _name, sockaddr in infos:
            address = _address(str(sockaddr[0]))
            if address is None:
                continue
            reason = self.refusal(host, address, port)
            if reason is None:
                if (family, address) not in permitted:
                    permitted.append((family, address))
            elif reason not in reasons:
                reasons.append(reason)
        if not permitted:
            raise DestinationRefused(
                "refused to download from " + ("; ".join(reasons) or f"{host}: no address")
            )
        return permitted

    def connect(
        self,
        address: tuple[str, int],
        timeout: float | None = None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        """``socket.create_connection`` that only connects to permitted addresses."""
        host, port = address
        last: OSError | None = None
        for family, ip in self.resolve(host, port):
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                if timeout is not None:
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect((str(ip), port))
                return sock
            except OSError as exc:
                sock.close()
                last = exc
        assert last is not None
        raise last
