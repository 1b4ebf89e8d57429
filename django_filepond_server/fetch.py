"""Fetching a remote file for FilePond's fetch endpoint, safe against SSRF.

The host is resolved once; every address it resolves to must pass :func:`address_allowed`, and
the connection goes to a checked address (so a second DNS answer cannot swap it). Redirects are
followed a few times, each hop checked the same way. Connect and read timeouts and a total
deadline bound the time, a byte cap bounds the size, and the body streams into the temporary
area in bounded pieces.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import APIException

from django_filepond_server import exceptions
from django_filepond_server.conf import conf

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_REDIRECTS = {301, 302, 303, 307, 308}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
READ_SIZE = 256 * 1024
_LENGTH = re.compile(r"[0-9]{1,19}")


class FetchRefused(APIException):
    status_code = 403
    default_detail = gettext_lazy("The server is not allowed to fetch files from that address.")
    default_code = "fetch_refused"


class FetchFailed(APIException):
    status_code = 502
    default_detail = gettext_lazy("The remote file could not be fetched.")
    default_code = "fetch_failed"


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


def _host_listed(host: str, address: IPAddress, entries: list[str]) -> bool:
    """Whether ``host`` or ``address`` matches an entry: a host name (``.example.com`` also
    matches its subdomains), an address or a network in CIDR notation."""
    host = host.lower().rstrip(".")
    for entry in entries:
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
            continue
        except ValueError:
            pass
        if entry.startswith("."):
            if host == entry[1:] or host.endswith(entry):
                return True
        elif host == entry.rstrip("."):
            return True
    return False


def address_allowed(host: str, address: IPAddress) -> bool:
    """The fetch guard for one resolved address: the deny-list always wins, the allow-list
    opens otherwise refused addresses, and by default only public addresses pass."""
    if _host_listed(host, address, conf.FETCH_DENIED_HOSTS):
        return False
    if _host_listed(host, address, conf.FETCH_ALLOWED_HOSTS):
        return True
    return is_public(address)


@dataclass
class Target:
    scheme: str
    host: str
    port: int
    path: str
    addresses: list[str]


def resolve(url: str) -> Target:
    """Parse ``url``, resolve its host once and check every address it resolves to."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise exceptions.BadUploadRequest(_("That is not a valid URL.")) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise exceptions.BadUploadRequest(_("Only http and https URLs can be fetched."))
    host = parts.hostname
    if not host or parts.username is not None or parts.password is not None:
        raise exceptions.BadUploadRequest(_("That is not a valid URL."))
    port = port or (443 if scheme == "https" else 80)
    name = host.lower().rstrip(".")
    if (name == "localhost" or name.endswith(".localhost")) and not _host_listed(
        name, ipaddress.IPv4Address("127.0.0.1"), conf.FETCH_ALLOWED_HOSTS
    ):
        raise FetchRefused()  # RFC 6761: always loopback, whatever a resolver says
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise FetchFailed(_("The remote host could not be found.")) from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address_allowed(host, address):
            raise FetchRefused()
        addresses.append(str(address))
    if not addresses:
        raise FetchFailed(_("The remote host could not be found."))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, host, port, path, addresses)


def _connect(addresses: list[str], port: int, timeout: float) -> socket.socket:
    """A socket connected to the first reachable checked address.

    ``socket.create_connection`` would call ``getaddrinfo`` again; connecting to the address
    itself guarantees that what was checked is what is reached.
    """
    error: OSError | None = None
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((address, port))
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    assert error is not None
    raise error


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address that was checked, while naming the host in the request."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.target = target
        self.connect_timeout = timeout

    def connect(self) -> None:
        self.sock = _connect(self.target.addresses, self.port, self.connect_timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
        self.target = target
        self.connect_timeout = timeout

    def connect(self) -> None:
        sock = _connect(self.target.addresses, self.port, self.connect_timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.target.host)  # type: ignore[attr-defined]


@dataclass
class RemoteFile:
    """An open upstream response whose body has not been read yet."""

    response: http.client.HTTPResponse
    connection: http.client.HTTPConnection
    url: str
    deadline: float

    @property
    def length(self) -> int | None:
        # ASCII digits only ("²" passes isdigit()), few enough for int().
        value = (self.response.getheader("Content-Length") or "").strip()
        return int(value) if _LENGTH.fullmatch(value) else None

    @property
    def content_type(self) -> str:
        value = self.response.getheader("Content-Type") or ""
        return value.split(";", 1)[0].strip().lower()

    @property
    def file_name(self) -> str | None:
        """The name from ``Content-Disposition`` (``filename*`` first), else the URL's path."""
        header = self.response.getheader("Content-Disposition")
        if header:
            message = Message()
            message["Content-Disposition"] = header
            params = message.get_params(header="content-disposition") or []
            values = [value for key, value in params if key == "filename" and value]
            # RFC 6266: filename* (decoded by email into a tuple) wins over filename.
            values.sort(key=lambda value: not isinstance(value, tuple))
            if values:
                return collapse_rfc2231_value(values[0])
        last = urlsplit(self.url).path.rsplit("/", 1)[-1]
        return unquote(last) or None

    def chunks(self, cap: int) -> Iterator[bytes]:
        """The body in bounded pieces; raises once it passes ``cap`` bytes or the deadline."""
        received = 0
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise FetchFailed(_("The remote server took too long to send the file."))
            if self.connection.sock is not None:
                self.connection.sock.settimeout(min(conf.FETCH_READ_TIMEOUT, remaining))
            try:
                piece = self.response.read1(READ_SIZE)
            except TimeoutError:
                raise FetchFailed(_("The remote server took too long to send the file.")) from None
            except (OSError, http.client.HTTPException):
                raise FetchFailed(_("The connection to the remote server failed.")) from None
            if not piece:
                if self.length is not None and received < self.length:
                    raise FetchFailed(
                        _("The remote server closed the connection before sending the whole file.")
                    )
                return
            received += len(piece)
            if received > cap:
                raise too_large(cap)
            yield piece

    def close(self) -> None:
        self.response.close()
        self.connection.close()


def too_large(cap: int) -> exceptions.UploadTooLarge:
    return exceptions.UploadTooLarge(
        _("The remote file is larger than the limit of %(max)d bytes.") % {"max": cap}
    )


def open_remote(url: str) -> RemoteFile:
    """Connect to ``url`` (following checked redirects) and return the 2xx response."""
    deadline = time.monotonic() + conf.FETCH_DEADLINE
    for _hop in range(conf.FETCH_MAX_REDIRECTS + 1):
        target = resolve(url)
        connection_class: Any = (
            _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
        )
        connection = connection_class(target, min(conf.FETCH_CONNECT_TIMEOUT, conf.FETCH_DEADLINE))
        try:
            connection.connect()
            connection.sock.settimeout(
                max(0.001, min(conf.FETCH_READ_TIMEOUT, deadline - time.monotonic()))
            )
            connection.request(
                "GET",
                target.path,
                headers={"User-Agent": "django-filepond-server", "Accept": "*/*"},
            )
            response = connection.getresponse()
        except TimeoutError:
            connection.close()
            raise FetchFailed(_("The remote server did not answer in time.")) from None
        except (OSError, http.client.HTTPException):
            connection.close()
            raise FetchFailed(_("The connection to the remote server failed.")) from None
        if response.status in _REDIRECTS and response.getheader("Location"):
            location = response.getheader("Location", "")
            response.close()
            connection.close()
            url = urljoin(url, location)
            continue
        if not 200 <= response.status < 300:
            response.close()
            connection.close()
            raise FetchFailed(
                _("The remote server answered with an error (HTTP %(status)d).")
                % {"status": response.status}
            )
        return RemoteFile(response, connection, url, deadline)
    raise FetchFailed(_("The remote server redirected too many times."))
