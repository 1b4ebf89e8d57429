"""Fetching a remote file for FilePond's fetch endpoint, safe against SSRF.

The host is resolved once, within the fetch's deadline; every address it resolves to must
pass the guard (:mod:`django_filepond_server.guard`), and the connection goes to a checked
address (so a second DNS answer cannot swap it). Redirects are followed a few times, each hop
checked the same way. Connect and read timeouts and a total deadline bound the time, a byte
cap bounds the size, and the body streams into the temporary area in bounded pieces.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import APIException

from django_filepond_server import exceptions, guard
from django_filepond_server.conf import conf

_REDIRECTS = {301, 302, 303, 307, 308}
#: Remote answers that say the URL leads to no file this server may have: the user's mistake.
MISSING_STATUSES = {401, 403, 404, 410, 451}
READ_SIZE = 256 * 1024
#: Host name lookups that may be under way at once. A lookup cannot be interrupted: one that
#: outlives its fetch's deadline goes on in the background, holding a slot until the resolver
#: answers, so a resolver that never answers cannot pile up threads.
MAX_LOOKUPS = 16
_lookup_slots = threading.BoundedSemaphore(MAX_LOOKUPS)
_CONTENT_LENGTH = re.compile(r"[0-9]{1,19}")  # few enough digits for int()
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# What RFC 3986 allows unencoded in a path (pchar and "/") or a query, besides letters,
# digits and "-._~"; "%" keeps the escapes that are already there.
_PATH_SAFE = "/%:@!$&'()*+,;="
_QUERY_SAFE = _PATH_SAFE + "?"
_NO_SUCH_HOST = {
    getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)
}


class FetchRefused(APIException):
    """The guard refused the URL or an address it resolves to."""

    status_code = 403
    default_detail = gettext_lazy("The server is not allowed to fetch files from that address.")
    default_code = "fetch_refused"


class FetchFailed(APIException):
    """The remote side failed: an error answer, a broken connection or TLS, a cut body."""

    status_code = 502
    default_detail = gettext_lazy("The remote file could not be fetched.")
    default_code = "fetch_failed"


class FetchNotFound(FetchFailed):
    """The URL leads to no file: its host does not exist, or its server answers that the
    file is missing or not open to this server (401, 403, 404, 410, 451). The URL is the
    user's mistake, so the answer is a 4xx."""

    status_code = 422
    default_detail = gettext_lazy("The remote file could not be found.")
    default_code = "fetch_not_found"


class FetchTimedOut(FetchFailed):
    """The lookup, the connection, the answer or the body did not come in time."""

    status_code = 504
    default_detail = gettext_lazy("The remote server did not answer in time.")
    default_code = "fetch_timed_out"


@dataclass
class Target:
    scheme: str
    host: str
    port: int
    path: str
    addresses: list[str]


def request_target(path: str, query: str) -> str:
    """The path and query as sent: what is not allowed raw in a URL (non-ASCII characters,
    spaces, controls, a ``%`` that starts no escape) percent-encoded as UTF-8."""
    target = quote(_LONE_PERCENT.sub("%25", path or "/"), safe=_PATH_SAFE)
    if query:
        target += "?" + quote(_LONE_PERCENT.sub("%25", query), safe=_QUERY_SAFE)
    return target


def resolve(url: str, deadline: float | None = None) -> Target:
    """Parse ``url``, resolve its host once (by ``deadline``, a ``time.monotonic()`` value)
    and check every address it resolves to."""
    if deadline is None:
        deadline = time.monotonic() + conf.FETCH_DEADLINE
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
    port = port or guard.DEFAULT_PORTS[scheme]
    path = request_target(parts.path, parts.query)
    destination = guard.Destination(scheme, host.lower().rstrip("."), port, path.split("?", 1)[0])
    name = destination.host
    if (name == "localhost" or name.endswith(".localhost")) and not guard.listed(
        destination, ipaddress.IPv4Address("127.0.0.1"), deny=False
    ):
        raise FetchRefused()  # RFC 6761: always loopback, whatever a resolver says
    infos = _lookup(host, port, deadline)
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not guard.address_allowed(destination, address):
            raise FetchRefused()
        addresses.append(str(address))
    if not addresses:
        raise FetchNotFound(_("The remote host could not be found."))
    return Target(scheme, host, port, path, addresses)


def _lookup(host: str, port: int, deadline: float) -> list[Any]:
    """``socket.getaddrinfo`` for ``host``, given up at ``deadline``."""
    not_in_time = FetchTimedOut(_("The remote host could not be looked up in time."))
    slots = _lookup_slots
    if not slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
        raise not_in_time
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def look_up() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            outcome["error"] = exc
        finally:
            slots.release()
            done.set()

    threading.Thread(target=look_up, name="filepond-fetch-lookup", daemon=True).start()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        raise not_in_time
    error = outcome.get("error")
    if isinstance(error, UnicodeError):  # the name cannot be encoded (IDNA): not a host name
        raise exceptions.BadUploadRequest(_("That is not a valid URL."))
    if isinstance(error, socket.gaierror) and error.errno in _NO_SUCH_HOST:
        raise FetchNotFound(_("The remote host could not be found."))
    if error is not None:  # the resolver failed (EAI_AGAIN, EAI_FAIL...): not the URL's fault
        raise FetchFailed(_("The remote host could not be looked up."))
    return outcome["infos"]  # type: ignore[no-any-return]


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
        """The declared ``Content-Length``; None without one, or with one that is not ASCII
        digits (``str.isdigit`` would take ``²``)."""
        value = (self.response.getheader("Content-Length") or "").strip()
        return int(value) if _CONTENT_LENGTH.fullmatch(value) else None

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
                raise FetchTimedOut(_("The remote server took too long to send the file."))
            if self.connection.sock is not None:
                self.connection.sock.settimeout(min(conf.FETCH_READ_TIMEOUT, remaining))
            try:
                piece = self.response.read1(READ_SIZE)
            except TimeoutError:
                raise FetchTimedOut(
                    _("The remote server took too long to send the file.")
                ) from None
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
        target = resolve(url, deadline)
        connection_class: Any = (
            _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
        )
        remaining = deadline - time.monotonic()
        connection = connection_class(
            target, max(0.001, min(conf.FETCH_CONNECT_TIMEOUT, remaining))
        )
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
            raise FetchTimedOut(_("The remote server did not answer in time.")) from None
        except ssl.SSLCertVerificationError:
            connection.close()
            raise FetchFailed(_("The remote server's certificate could not be verified.")) from None
        except (OSError, http.client.HTTPException):
            connection.close()
            raise FetchFailed(_("The connection to the remote server failed.")) from None
        if response.status in _REDIRECTS and response.getheader("Location"):
            location = response.getheader("Location", "")
            response.close()
            connection.close()
            url = urljoin(url, _header_text(location))
            continue
        if not 200 <= response.status < 300:
            response.close()
            connection.close()
            error = FetchNotFound if response.status in MISSING_STATUSES else FetchFailed
            raise error(
                _("The remote server answered with an error (HTTP %(status)d).")
                % {"status": response.status}
            )
        return RemoteFile(response, connection, url, deadline)
    raise FetchFailed(_("The remote server redirected too many times."))


def _header_text(value: str) -> str:
    """A header value as sent: http.client reads the bytes as Latin-1, servers send UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value
