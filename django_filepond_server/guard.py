"""The fetch guard: which URLs and addresses the fetch endpoint may reach.

An address passes when the deny-list does not match it, and the allow-list does or the address
is public. A list entry is a host name, an address, a network, or an ``http``/``https`` URL that
narrows a host to one scheme and port and, with a path, to the paths below it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from django_filepond_server.conf import conf

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Letters (any script), digits, hyphens and underscores in dot-separated labels; a leading dot
# for a name and everything below it; a trailing dot allowed.
_HOST_NAME = re.compile(r"\.?[\w-]+(?:\.[\w-]+)*\.?")
# Escapes that still stand for a dot, a slash or a backslash after one round of decoding.
_DOUBLE_ENCODED = re.compile(r"%(?:2e|2f|5c)", re.IGNORECASE)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, 6to4, Teredo, NAT64)."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a globally routable unicast address (and so is whatever IPv4
    address it embeds). Loopback, private, link-local, carrier-grade NAT, multicast,
    reserved and unspecified addresses are not."""
    if (
        not address.is_global
        or address.is_multicast
        or address.is_reserved
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
    ):
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
    return True


@dataclass(frozen=True)
class Destination:
    """Where one request of a fetch goes: the URL's parts, the host without case or trailing
    dot, and the path as it is sent (percent-encoded)."""

    scheme: str
    host: str
    port: int
    path: str


@dataclass(frozen=True)
class HostRule:
    """One entry of the allow-list or the deny-list."""

    #: A host name (``.example.com`` for the name and every name below it), or None.
    name: str | None = None
    #: An address (as a one-address network) or a network, or None.
    network: IPNetwork | None = None
    #: With a URL entry: its scheme and port, and the path prefix it names, if any.
    scheme: str | None = None
    port: int | None = None
    path: str | None = None

    def matches(self, destination: Destination, address: IPAddress, *, deny: bool) -> bool:
        """Whether the rule covers a request to ``destination`` reaching ``address``.

        A path the rule cannot judge (one with dot segments or backslashes, which servers
        resolve in their own ways) counts as covered by a deny-list rule and as not covered
        by an allow-list rule, so the guard fails closed either way.
        """
        if self.scheme is not None and (
            destination.scheme != self.scheme or destination.port != self.port
        ):
            return False
        if self.network is not None:
            if address not in self.network:
                return False
        elif not _name_matches(self.name or "", destination.host):
            return False
        if self.path is None:
            return True
        below = _below(destination.path, self.path)
        return deny if below is None else below


def _name_matches(rule: str, host: str) -> bool:
    if rule.startswith("."):
        return host == rule[1:] or host.endswith(rule)
    return host == rule


def _decoded_path(path: str) -> str | None:
    """``path`` percent-decoded, or None when a server could read it as leaving a prefix."""
    decoded = unquote(path, errors="strict") if "%" in path else path
    if "\\" in decoded or _DOUBLE_ENCODED.search(decoded):
        return None
    for segment in decoded.split("/"):
        if segment.split(";", 1)[0] in (".", ".."):
            return None
    return decoded


def _below(path: str, prefix: str) -> bool | None:
    """Whether ``path`` is ``prefix`` or below it (``/public`` covers ``/public/a`` but not
    ``/publicity``); None when ``path`` cannot be judged."""
    try:
        decoded = _decoded_path(path.split("?", 1)[0] or "/")
    except UnicodeDecodeError:
        return None
    if decoded is None:
        return None
    if prefix.endswith("/"):
        return decoded.startswith(prefix)
    return decoded == prefix or decoded.startswith(prefix + "/")


def parse_host_entry(entry: object) -> HostRule:
    """The rule an allow-list or deny-list entry stands for; ValueError saying why an entry
    is not one."""
    if not isinstance(entry, str) or not entry.strip():
        raise ValueError("an entry is a non-empty string")
    text = entry.strip()
    if "://" in text:
        return _parse_url(text)
    try:
        return HostRule(network=ipaddress.ip_network(text, strict=False))
    except ValueError:
        pass
    return HostRule(name=_host_name(text))


def _host_name(text: str) -> str:
    if not _HOST_NAME.fullmatch(text):
        raise ValueError("not a host name, an address, a network or an http(s) URL")
    name = text.lower().rstrip(".")
    if name in ("", "."):
        raise ValueError("not a host name")
    return name


def _parse_url(text: str) -> HostRule:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("not a valid URL (check the port and the brackets)") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("only http and https URLs can be fetched")
    if parts.username is not None or parts.password is not None:
        raise ValueError("a URL entry names no user or password")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError("a URL entry has no query or fragment")
    host = parts.hostname
    if not host:
        raise ValueError("a URL entry names a host")
    path = parts.path
    prefix = None
    if path not in ("", "/"):
        try:
            prefix = _decoded_path(path)
        except UnicodeDecodeError:
            prefix = None
        if prefix is None:
            raise ValueError("the path of a URL entry has no dot segments or backslashes")
    rule = {"scheme": scheme, "port": port or DEFAULT_PORTS[scheme], "path": prefix}
    try:
        return HostRule(network=ipaddress.ip_network(host), **rule)  # type: ignore[arg-type]
    except ValueError:
        return HostRule(name=_host_name(host), **rule)  # type: ignore[arg-type]


def rules(setting: str, entries: list[str]) -> list[HostRule]:
    """The rules of a host list setting; ImproperlyConfigured for an entry that is not one
    (check ``E010`` reports it at start-up)."""
    parsed = []
    for entry in entries:
        try:
            parsed.append(parse_host_entry(entry))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"Invalid entry {entry!r} in {setting}: {exc}. See check E010."
            ) from None
    return parsed


def listed(destination: Destination, address: IPAddress, *, deny: bool) -> bool:
    """Whether the deny-list (``deny=True``) or the allow-list covers the request."""
    setting, entries = (
        ("FILEPOND_SERVER_FETCH_DENIED_HOSTS", conf.FETCH_DENIED_HOSTS)
        if deny
        else ("FILEPOND_SERVER_FETCH_ALLOWED_HOSTS", conf.FETCH_ALLOWED_HOSTS)
    )
    return any(rule.matches(destination, address, deny=deny) for rule in rules(setting, entries))


def address_allowed(destination: Destination, address: IPAddress) -> bool:
    """The guard for one resolved address: the deny-list always wins, the allow-list opens
    otherwise refused addresses, and by default only public addresses pass."""
    if listed(destination, address, deny=True):
        return False
    if listed(destination, address, deny=False):
        return True
    return is_public(address)
