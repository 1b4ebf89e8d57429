"""The headers of tus 1.0.0 (https://tus.io/protocols/resumable-upload): versions, extensions,
``Upload-Metadata``, ``Upload-Checksum``, ``Upload-Expires`` and the CORS headers a browser
needs to read them. The views are in :mod:`django_filepond_server.tus_views`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date
from django.utils.translation import gettext as _
from rest_framework.exceptions import APIException

from django_filepond_server import exceptions
from django_filepond_server.conf import conf
from django_filepond_server.models import TemporaryUpload

TUS_VERSION = "1.0.0"
EXTENSIONS = ("creation", "creation-with-upload", "termination", "expiration", "checksum")
CHUNK_TYPE = "application/offset+octet-stream"

#: Request headers a browser may send cross-origin (lower case, as preflights list them).
ALLOWED_HEADERS = (
    "authorization",
    "content-type",
    "tus-resumable",
    "upload-checksum",
    "upload-length",
    "upload-metadata",
    "upload-offset",
    "x-http-method-override",
    "x-requested-with",
)
#: Response headers a cross-origin page may read.
EXPOSED_HEADERS = (
    "Location",
    "Tus-Checksum-Algorithm",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Resumable",
    "Tus-Version",
    "Upload-Expires",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Offset",
)
METHODS = "POST, HEAD, PATCH, DELETE, OPTIONS"


class VersionUnsupported(APIException):
    status_code = 412
    default_detail = _("This server speaks tus 1.0.0; send Tus-Resumable: 1.0.0.")
    default_code = "tus_version"


class ChecksumMismatch(APIException):
    status_code = 460
    default_detail = _("The chunk's checksum does not match its bytes; send it again.")
    default_code = "checksum_mismatch"


# --- checksums --------------------------------------------------------------------------------


class _Crc32:
    """CRC-32 (IEEE) with hashlib's interface; the digest is big-endian, as tus servers send."""

    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


ALGORITHMS: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
    "md5": hashlib.md5,
    "crc32": _Crc32,
}


class Checksum:
    """An ``Upload-Checksum``: the digest of the bytes read, compared once the body has
    arrived (a :class:`~django_filepond_server.transfers.BodyCheck`)."""

    def __init__(self, algorithm: str, expected: bytes) -> None:
        self.algorithm = algorithm
        self.expected = expected
        self._hash = ALGORITHMS[algorithm]()

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def verify(self) -> None:
        if self._hash.digest() != self.expected:
            raise ChecksumMismatch()


def parse_checksum(header: str | None) -> Checksum | None:
    """The check an ``Upload-Checksum: <algorithm> <base64 digest>`` header asks for."""
    if header is None:
        return None
    algorithm, _space, value = header.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in ALGORITHMS:
        raise exceptions.BadUploadRequest(
            _("Upload-Checksum names an algorithm this server lacks; it has %(names)s.")
            % {"names": ", ".join(ALGORITHMS)}
        )
    try:
        expected = base64.b64decode(value.strip(), validate=True)
        if not expected:
            raise ValueError("no digest")
    except (binascii.Error, ValueError):
        raise exceptions.BadUploadRequest(
            _("Upload-Checksum must be an algorithm and a base64 digest.")
        ) from None
    return Checksum(algorithm, expected)


# --- metadata ---------------------------------------------------------------------------------

_KEY = re.compile(r"[!-+\--~]+")  # printable ASCII without space and comma


def parse_metadata(header: str) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs (the value may be
    left out), decoded to text. Values must be UTF-8 without NUL: they are kept in the upload's
    JSON metadata and columns."""
    if len(header.encode("utf-8", "surrogateescape")) > conf.MAX_METADATA_SIZE:
        raise exceptions.BadUploadRequest(
            _("Upload-Metadata is larger than %(max)d bytes.") % {"max": conf.MAX_METADATA_SIZE}
        )
    metadata: dict[str, str] = {}
    for pair in header.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _space, encoded = pair.partition(" ")
        if not _KEY.fullmatch(key) or key in metadata:
            raise exceptions.BadUploadRequest(
                _("Upload-Metadata has a missing, repeated or malformed key.")
            )
        try:
            value = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise exceptions.BadUploadRequest(
                _("The Upload-Metadata value of %(key)s is not base64 of UTF-8 text.")
                % {"key": key}
            ) from None
        if "\x00" in value:
            raise exceptions.BadUploadRequest(
                _("The Upload-Metadata value of %(key)s contains a NUL character.") % {"key": key}
            )
        metadata[key] = value
    return metadata


def encode_metadata(metadata: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode('utf-8')).decode('ascii')}"
        for key, value in metadata.items()
    )


_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][\w!#$&^.+-]*/[A-Za-z0-9][\w!#$&^.+-]*", re.ASCII)


def media_type(value: str) -> str:
    """``value`` if it is a bare media type that fits its column, else ``""``."""
    value = value.strip().lower()
    return value if len(value) <= 255 and _MEDIA_TYPE.fullmatch(value) else ""


# --- expiry and headers -----------------------------------------------------------------------


def expires(upload: TemporaryUpload) -> datetime:
    """When the upload expires (unless a chunk arrives before, for an unfinished one)."""
    if upload.complete:
        return upload.created + conf.TEMPORARY_LIFETIME
    return upload.updated + conf.TRANSFER_IDLE_TIMEOUT


def expires_header(upload: TemporaryUpload) -> str:
    return http_date(expires(upload).timestamp())


def discovery_headers(response: HttpResponseBase) -> None:
    """What ``OPTIONS`` tells a client about this server."""
    response["Tus-Version"] = TUS_VERSION
    response["Tus-Extension"] = ",".join(EXTENSIONS)
    response["Tus-Max-Size"] = str(conf.MAX_UPLOAD_SIZE)
    response["Tus-Checksum-Algorithm"] = ",".join(ALGORITHMS)


def is_preflight(request: HttpRequest) -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def cors_headers(request: HttpRequest, response: HttpResponseBase) -> None:
    """Let a page of an origin in ``FILEPOND_SERVER_TUS_CORS_ORIGINS`` send tus requests with
    its cookies, and read the tus headers of the answers."""
    origin = request.headers.get("Origin")
    if not origin:
        return
    patch_vary_headers(response, ["Origin"])
    if origin not in conf.TUS_CORS_ORIGINS:
        return
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Credentials"] = "true"
    if is_preflight(request):
        from django_filepond_server.forms.widgets import csrf_header_name

        response["Access-Control-Allow-Methods"] = METHODS
        response["Access-Control-Allow-Headers"] = ", ".join(
            (*ALLOWED_HEADERS, csrf_header_name().lower())
        )
        response["Access-Control-Max-Age"] = "86400"
    else:
        response["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)
