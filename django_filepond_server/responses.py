"""Streaming file responses with the headers FilePond reads, and single-range support."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import BinaryIO

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

from django_filepond_server import exceptions, offload
from django_filepond_server.names import content_disposition, is_active_content

logger = logging.getLogger(__name__)

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
#: Bytes read from a file per piece of a streamed answer: few round trips to remote storages,
#: little memory.
STREAM_BLOCK = 256 * 1024


class _FileResponse(FileResponse):
    block_size = STREAM_BLOCK


def plain_text(message: str, status: int = 200) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` of a single ``bytes=`` range, ``None`` to serve the whole file.

    Multi-range and malformed headers are ignored (serving the whole file is allowed by
    RFC 9110); a well-formed range that lies entirely outside the file is refused with 416.
    """
    match = _RANGE_RE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first_text, last_text = match.groups()
    if first_text:
        first = _position(first_text)
        last = _position(last_text) if last_text else size - 1
        if last_text and last < first:
            return None
        if first >= size:
            raise exceptions.RangeNotSatisfiable()
        return first, min(last, size - 1)
    suffix = _position(last_text)
    if suffix == 0 or size == 0:
        raise exceptions.RangeNotSatisfiable()
    return max(size - suffix, 0), size - 1


def _position(digits: str) -> int:
    """A byte position of a ``Range`` header; one of more than 19 digits is past any file
    (and past what ``int()`` converts: Python refuses strings of over 4,300 digits)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 19 else 10**19


def _read_span(f: BinaryIO, first: int, length: int) -> Iterator[bytes]:
    """``length`` bytes of ``f`` from ``first`` on, in blocks. A storage that fails once the
    answer has started (an object deleted by a revert meanwhile, a connection lost) can only
    cut the answer short: that is logged in one line, and the client sees the body end before
    its ``Content-Length``."""
    try:
        f.seek(first)
        remaining = length
        while remaining:
            block = f.read(min(STREAM_BLOCK, remaining))
            if not block:
                break
            remaining -= len(block)
            yield block
    except Exception as exc:
        logger.warning(
            "A file answer was cut short after %d of %d bytes: %s: %s",
            length - remaining,
            length,
            type(exc).__name__,
            exc,
        )
    finally:
        f.close()


def _is_os_file(f: BinaryIO) -> bool:
    """Whether ``f`` is a file of the operating system (which the WSGI server may send with
    ``sendfile``), rather than a stream from a storage service."""
    try:
        f.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return False
    return True


def file_response(
    request: HttpRequest,
    f: BinaryIO | None,
    *,
    size: int,
    name: str,
    content_type: str,
    allow_ranges: bool = False,
    path: str | None = None,
) -> HttpResponse | StreamingHttpResponse:
    """Stream ``f`` in constant memory with ``Content-Type``, ``Content-Length`` and a
    ``Content-Disposition`` FilePond parses. Active content goes out as an attachment of
    type ``application/octet-stream`` so it can never run on this origin.

    ``path`` is where ``f`` is on this machine, if it is a local file: with
    ``FILEPOND_SERVER_FILE_OFFLOAD`` on, the front server sends it instead (see
    :func:`offloaded`)."""
    attachment = is_active_content(content_type)
    if attachment:
        content_type = "application/octet-stream"

    if f is None:  # HEAD: the headers a GET would carry, no body
        response: HttpResponse | StreamingHttpResponse = HttpResponse(content_type=content_type)
        response["Content-Length"] = str(size)
        return _with_file_headers(response, name, attachment, allow_ranges)

    byte_range = None
    if allow_ranges and "HTTP_RANGE" in request.META:
        try:
            byte_range = _parse_range(request.META["HTTP_RANGE"], size)
        except exceptions.RangeNotSatisfiable:
            f.close()
            response = plain_text(str(exceptions.RangeNotSatisfiable.default_detail), 416)
            response["Content-Range"] = f"bytes */{size}"
            return response

    if path is not None and "HTTP_RANGE" in request.META:
        # A Range the app ignores (several ranges, malformed), or with a number nginx finds
        # too large (it refuses what the app reads as "to the end"), is answered here.
        digits = re.findall(r"\d+", request.META["HTTP_RANGE"])
        if byte_range is None or any(len(d.lstrip("0")) > 18 for d in digits):
            path = None
    if path is not None and "HTTP_IF_RANGE" not in request.META:
        header = offload.target(path)
        if header is not None:
            f.close()
            return offloaded(header, content_type, name, attachment, byte_range is not None)

    if byte_range is None and _is_os_file(f):
        response = _FileResponse(f, content_type=content_type)
        response["Content-Length"] = str(size)
    elif byte_range is None:
        response = StreamingHttpResponse(_read_span(f, 0, size), content_type=content_type)
        response._resource_closers.append(f.close)  # type: ignore[attr-defined]  # unread body
        response["Content-Length"] = str(size)
    else:
        first, last = byte_range
        response = StreamingHttpResponse(
            _read_span(f, first, last - first + 1), status=206, content_type=content_type
        )
        response._resource_closers.append(f.close)  # type: ignore[attr-defined]  # unread body
        response["Content-Length"] = str(last - first + 1)
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    return _with_file_headers(response, name, attachment, allow_ranges)


def offloaded(
    header: tuple[str, str], content_type: str, name: str, attachment: bool, partial: bool
) -> HttpResponse:
    """An empty answer that has the front server send the file, with every header FilePond
    reads. The front server answers a ``Range`` (``partial``: one range inside the file,
    already checked here) and sets ``Content-Length`` itself. nginx keeps ``Content-Type``,
    ``Content-Disposition``, ``Cache-Control`` and ``Accept-Ranges`` of this answer, drops
    ``X-Content-Type-Options`` (its internal location adds it back, see the deployment
    documentation) and adds ``Accept-Ranges`` to a whole file itself: the app sends it only
    with a partial answer, so the client gets one either way, as without offload."""
    response = HttpResponse(content_type=content_type)
    response["Content-Length"] = "0"
    response[header[0]] = header[1]
    _with_file_headers(response, name, attachment, ranges=partial)
    return response


def _with_file_headers(
    response: HttpResponse | StreamingHttpResponse, name: str, attachment: bool, ranges: bool
) -> HttpResponse | StreamingHttpResponse:
    if ranges:
        response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = content_disposition(name, attachment=attachment)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
