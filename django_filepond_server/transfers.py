"""State changes of temporary uploads: create, receive chunks, revert.

The HTTP views parse requests and call these; everything here is safe against concurrent
requests for the same upload because the row is locked before its offset is read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from django_filepond_server import exceptions
from django_filepond_server.models import (
    TemporaryUpload,
    is_valid_upload_id,
    lock_row,
    new_upload_id,
)
from django_filepond_server.names import guess_type, safe_name
from django_filepond_server.temporary import get_temporary_area

_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")

#: Bytes read from a request body at a time: large enough that the WSGI server's per-read
#: overhead does not dominate, small enough to be irrelevant to memory.
READ_SIZE = 1024 * 1024


def create_from_staged(
    upload_id: str, file_name: str, size: int, field_name: str, metadata: dict[str, Any]
) -> TemporaryUpload:
    """Record a whole file that the upload handler already wrote to the temporary area."""
    name = safe_name(file_name)
    return TemporaryUpload.objects.create(
        upload_id=upload_id,
        file_name=name,
        field_name=field_name,
        metadata=metadata,
        upload_length=size,
        received=size,
        complete=True,
        content_type=guess_type(name),
    )


def create_from_stream(
    pieces: Iterable[bytes], file_name: str | None, content_type: str | None
) -> TemporaryUpload:
    """Write ``pieces`` to a new temporary upload and record it as complete.

    If reading ``pieces`` raises (a cap, a timeout), the partial file is removed and the
    exception propagates.
    """
    upload_id = new_upload_id()
    area = get_temporary_area()
    size = 0
    try:
        with area.create(upload_id) as out:
            for piece in pieces:
                out.write(piece)
                size += len(piece)
        name = safe_name(file_name)
        if not content_type or not _CONTENT_TYPE.match(content_type):
            content_type = guess_type(name)
        return TemporaryUpload.objects.create(
            upload_id=upload_id,
            file_name=name,
            upload_length=size,
            received=size,
            complete=True,
            content_type=content_type,
        )
    except BaseException:
        area.delete(upload_id)
        raise


def start_chunked(upload_length: int, field_name: str, metadata: dict[str, Any]) -> TemporaryUpload:
    """Open a chunked transfer of ``upload_length`` bytes; its bytes arrive by PATCH."""
    upload_id = new_upload_id()
    get_temporary_area().create(upload_id).close()
    try:
        return TemporaryUpload.objects.create(
            upload_id=upload_id,
            file_name="",
            field_name=field_name,
            metadata=metadata,
            chunked=True,
            upload_length=upload_length,
            received=0,
            complete=upload_length == 0,
        )
    except BaseException:
        get_temporary_area().delete(upload_id)
        raise


def _locked(upload_id: str) -> TemporaryUpload:
    """The upload row, locked until the end of the current transaction, so concurrent
    requests on one upload run one at a time."""
    if not is_valid_upload_id(upload_id):
        raise exceptions.InvalidUploadId()
    if not lock_row(TemporaryUpload, upload_id):
        raise exceptions.UnknownUpload()
    return TemporaryUpload.objects.select_for_update().get(pk=upload_id)


def body_pieces(read: Callable[[int], bytes], count: int, skip: int = 0) -> Iterator[bytes]:
    """Yield ``count`` bytes of a request body after discarding ``skip``, in bounded pieces.

    Raises :class:`~django_filepond_server.exceptions.BadUploadRequest` if the body ends early
    (the client went away), which makes the temporary area roll the chunk back.
    """
    remaining = skip + count
    while remaining:
        piece = read(min(READ_SIZE, remaining))
        if not piece:
            raise exceptions.BadUploadRequest(
                _("The chunk ended before its Content-Length; send it again.")
            )
        remaining -= len(piece)
        if skip:
            dropped = min(skip, len(piece))
            skip -= dropped
            piece = piece[dropped:]
        if piece:
            yield piece


def receive_chunk(
    upload_id: str,
    *,
    offset: int,
    upload_length: int,
    content_length: int,
    file_name: str | None,
    read: Callable[[int], bytes],
) -> TemporaryUpload:
    """Write one PATCH body at ``offset`` and advance the received count.

    A chunk (or the part of one) that was already received is acknowledged without writing;
    a gap, a changed ``Upload-Length`` or bytes past it are refused before anything is written.
    """
    with transaction.atomic():
        upload = _locked(upload_id)
        if not upload.chunked:
            raise exceptions.UploadConflict(_("That upload was not started as a chunked transfer."))
        if upload_length != upload.upload_length:
            raise exceptions.UploadConflict(
                _("Upload-Length changed from %(old)d to %(new)d during the transfer.")
                % {"old": upload.upload_length, "new": upload_length}
            )
        end = offset + content_length
        if end > upload_length:
            raise exceptions.BadUploadRequest(
                _("The chunk runs past the declared Upload-Length of %(length)d bytes.")
                % {"length": upload_length}
            )
        if offset > upload.received:
            raise exceptions.UploadConflict(
                _(
                    "The chunk starts at byte %(offset)d but only %(received)d bytes have "
                    "arrived; resume from byte %(received)d."
                )
                % {"offset": offset, "received": upload.received}
            )
        if file_name and not upload.file_name:
            upload.file_name = safe_name(file_name)
            upload.content_type = guess_type(upload.file_name)
        if end > upload.received:
            skip = upload.received - offset
            get_temporary_area().append(
                upload.upload_id,
                upload.received,
                body_pieces(read, content_length - skip, skip=skip),
            )
            upload.received = end
            upload.complete = end == upload.upload_length
        if not upload.file_name and upload.complete:
            upload.file_name = safe_name(None)
            upload.content_type = guess_type(upload.file_name)
        upload.save()
        return upload


def get_offset(upload_id: str) -> TemporaryUpload:
    """The upload whose contiguous received bytes a resume HEAD reports."""
    if not is_valid_upload_id(upload_id):
        raise exceptions.InvalidUploadId()
    try:
        return TemporaryUpload.objects.get(pk=upload_id)
    except TemporaryUpload.DoesNotExist:
        raise exceptions.UnknownUpload() from None


def revert(upload_id: str) -> None:
    """Delete a temporary upload, finished or in progress, with its bytes."""
    with transaction.atomic():
        upload = _locked(upload_id)
        upload.delete()
        transaction.on_commit(lambda: get_temporary_area().delete(upload_id))
