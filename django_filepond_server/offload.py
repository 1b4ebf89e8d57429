"""Handing a local file answer to the front server: nginx's ``X-Accel-Redirect``, or the
``X-Sendfile`` of Apache's mod_xsendfile and lighttpd.

The app still checks the request, finds the upload and answers with the headers FilePond
reads; the front server then sends the bytes from disk, so no app worker is held while a slow
client downloads. The header's value is computed from the stored row (the temporary area's
file of an upload id, the permanent store's name of a stored upload), never from the request.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from django.core.files.storage import FileSystemStorage

from django_filepond_server.conf import conf

#: ``FILEPOND_SERVER_FILE_OFFLOAD`` values and the answer header each one sets.
HEADERS = {"x-accel-redirect": "X-Accel-Redirect", "x-sendfile": "X-Sendfile"}


def storage_path(storage: Any, name: str) -> str | None:
    """Where the file ``name`` of ``storage`` is on this machine, when the storage keeps its
    files in a local directory (a ``FileSystemStorage``); ``None`` otherwise."""
    if not isinstance(storage, FileSystemStorage):
        return None
    return storage.path(name)


def target(path: str) -> tuple[str, str] | None:
    """``(header, value)`` that hands the file at ``path`` to the front server, or ``None``
    when offload is off or no entry of ``FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS`` covers it.

    The value is the entry's prefix followed by the path below the entry's directory,
    percent-encoded: nginx decodes an ``X-Accel-Redirect`` URI, and mod_xsendfile and
    lighttpd decode ``X-Sendfile``, so spaces, ``%``, quotes and non-ASCII names go through
    intact in a header that stays ASCII.
    """
    header = HEADERS.get(conf.FILE_OFFLOAD or "")
    if header is None:
        return None
    path = os.path.abspath(path)
    found = covering(path, conf.FILE_OFFLOAD_LOCATIONS)
    if found is None:
        return None
    directory, prefix = found
    relative = os.path.relpath(path, directory).replace(os.sep, "/")
    return header, quote(prefix.rstrip("/") + "/" + relative, safe="/")


def covering(path: str, locations: dict[str, str]) -> tuple[str, str] | None:
    """The entry of ``locations`` whose directory holds ``path`` (the deepest one if several
    do), as ``(absolute directory, prefix)``."""
    best: tuple[str, str] | None = None
    for directory, prefix in locations.items():
        root = os.path.abspath(directory)
        inside = path.startswith(root.rstrip(os.sep) + os.sep) and path != root
        if inside and (best is None or len(root) > len(best[0])):
            best = root, prefix
    return best
