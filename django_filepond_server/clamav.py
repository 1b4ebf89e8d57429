"""A validator that scans uploads with ClamAV's clamd over its socket (``INSTREAM``).

Enable it with::

    FILEPOND_SERVER_VALIDATORS = ["django_filepond_server.clamav.scan"]
    FILEPOND_SERVER_CLAMD_ADDRESS = "unix:///run/clamav/clamd.ctl"  # or "tcp://127.0.0.1:3310"

The file streams to clamd in pieces; clamd answers ``stream: OK`` or
``stream: <signature> FOUND``. If clamd cannot be reached the upload is refused (fail closed):
an unscanned file is never accepted.
"""

from __future__ import annotations

import socket
import struct
from typing import BinaryIO
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils.translation import gettext as _

from django_filepond_server.conf import conf
from django_filepond_server.models import TemporaryUpload

PIECE = 64 * 1024


def _connect(address: str, timeout: float) -> socket.socket:
    parts = urlsplit(address)
    if parts.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: str | tuple[str, int] = parts.path
    elif parts.scheme == "tcp" and parts.hostname and parts.port:
        sock = socket.socket(
            socket.AF_INET6 if ":" in parts.hostname else socket.AF_INET, socket.SOCK_STREAM
        )
        target = (parts.hostname, parts.port)
    else:
        raise ImproperlyConfigured(
            f"FILEPOND_SERVER_CLAMD_ADDRESS should look like unix:///path or tcp://host:port; "
            f"found {address!r}."
        )
    sock.settimeout(timeout)
    try:
        sock.connect(target)
    except BaseException:
        sock.close()
        raise
    return sock


def instream(f: BinaryIO, address: str, timeout: float) -> str:
    """Send ``f`` to clamd with ``zINSTREAM`` and return its answer without the prefix."""
    with _connect(address, timeout) as sock:
        sock.sendall(b"zINSTREAM\0")
        while piece := f.read(PIECE):
            sock.sendall(struct.pack(">I", len(piece)) + piece)
        sock.sendall(struct.pack(">I", 0))
        reply = b""
        while not reply.endswith(b"\0"):
            data = sock.recv(4096)
            if not data:
                break
            reply += data
    answer = reply.rstrip(b"\0").decode("utf-8", "replace").strip()
    return answer.split(":", 1)[1].strip() if answer.startswith("stream:") else answer


def scan(upload: TemporaryUpload, f: BinaryIO) -> None:
    """Refuse ``upload`` if clamd finds a virus in it, or cannot be asked."""
    try:
        answer = instream(f, conf.CLAMD_ADDRESS, conf.CLAMD_TIMEOUT)
    except OSError:
        raise ValidationError(
            _("The file could not be checked for viruses; try again later.")
        ) from None
    if answer == "OK":
        return
    if answer.endswith("FOUND"):
        signature = answer[: -len("FOUND")].strip()
        raise ValidationError(
            _("The file contains a virus (%(name)s) and was refused.") % {"name": signature}
        )
    raise ValidationError(_("The file could not be checked for viruses; try again later."))
