"""State changes of temporary uploads: create, receive chunks, finish, revert.

The HTTP views parse requests and call these; everything here is safe against concurrent
requests for the same upload because the row is locked before its offset is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from django_filepond_server import exceptions, signals
from django_filepond_server.conf import conf
from django_filepond_server.exceptions import UploadRejected
from django_filepond_server.models import (
    TemporaryUpload,
    is_valid_upload_id,
    locked_row,
    new_upload_id,
)
from django_filepond_server.names import guess_type, safe_name
from django_filepond_server.ownership import Owner, may_access
from django_filepond_server.rules import content_matches_declared, detect_type, rules_for
from django_filepond_server.temporary import get_temporary_area
from django_filepond_server.validators import run_validators

#: Bytes read from a request body at a time: large enough that the WSGI server's per-read
#: overhead does not dominate, small enough to be irrelevant to memory.
READ_SIZE = 1024 * 1024


def is_expired(upload: TemporaryUpload) -> bool:
    """Finished uploads live ``TEMPORARY_LIFETIME``; unfinished transfers are abandoned after
    ``TRANSFER_IDLE_TIMEOUT`` without a chunk."""
    now = timezone.now()
    if upload.complete:
        return upload.created < now - conf.TEMPORARY_LIFETIME
    return upload.updated < now - conf.TRANSFER_IDLE_TIMEOUT


def _owned_fields(owner: Owner) -> dict[str, Any]:
    return {"owner_id": owner.user_id, "owner_token": owner.token}


def finish(upload: TemporaryUpload) -> UploadRejected | None:
    """Check a complete upload: sniff its type, apply its field's rules and the validators.

    On success the detected type becomes the upload's content type and ``upload_completed``
    is sent after commit. On refusal the bytes are deleted, the refusal is recorded on the
    upload (so a retried request gets the same answer) and returned; the caller saves.
    """
    area = get_temporary_area()
    try:
        with area.open(upload.upload_id) as f:
            upload.detected_type = detect_type(f)
        upload.content_type = upload.detected_type
        rules_for(upload.field_name).check(upload.file_name, upload.received, upload.detected_type)
        run_validators(upload)
    except UploadRejected as rejection:
        area.delete(upload.upload_id)
        upload.rejected = rejection.message
        upload.rejected_status = rejection.status_code
        return rejection
    signals.send_on_commit(signals.upload_completed, upload)
    return None


def _record_whole(
    upload_id: str,
    name: str,
    size: int,
    owner: Owner,
    field_name: str = "",
    metadata: dict[str, Any] | None = None,
) -> TemporaryUpload:
    """Run a whole file's checks (:func:`finish`) and record it: one INSERT, no row at all
    for a refused file (:func:`finish` has removed its bytes; there is nothing to retry)."""
    upload = TemporaryUpload(
        upload_id=upload_id,
        file_name=name,
        field_name=field_name,
        metadata=metadata or {},
        upload_length=size,
        received=size,
        complete=True,
        content_type=guess_type(name),
        **_owned_fields(owner),
    )
    rejection = finish(upload)
    if rejection is not None:
        raise rejection
    upload.save(force_insert=True)
    return upload


def create_from_staged(
    upload_id: str,
    file_name: str,
    size: int,
    field_name: str,
    metadata: dict[str, Any],
    owner: Owner,
) -> TemporaryUpload:
    """Record a whole file that the upload handler already wrote to the temporary area."""
    return _record_whole(upload_id, safe_name(file_name), size, owner, field_name, metadata)


def create_from_stream(
    pieces: Iterable[bytes], file_name: str | None, declared_type: str | None, owner: Owner
) -> TemporaryUpload:
    """Write ``pieces`` (a fetched file) to a new temporary upload and record it as complete.

    If reading ``pieces`` raises (a cap, a timeout), or the bytes are active content that the
    ``declared_type`` hides, the file is removed and the exception propagates.
    """
    upload_id = new_upload_id()
    area = get_temporary_area()
    name = safe_name(file_name)
    size = 0
    try:
        rules_for(None).check_name(name)
        with area.create(upload_id) as out:
            for piece in pieces:
                out.write(piece)
                size += len(piece)
        with transaction.atomic():
            upload = _record_whole(upload_id, name, size, owner)
            if not content_matches_declared(declared_type or "", upload.detected_type):
                raise UploadRejected(
                    _("The remote file's content (%(detected)s) is not the %(declared)s it claims.")
                    % {"detected": upload.detected_type, "declared": declared_type}
                )
        return upload
    except BaseException:
        area.delete(upload_id)
        raise


def start_chunked(
    upload_length: int, field_name: str, metadata: dict[str, Any], owner: Owner
) -> TemporaryUpload:
    """Open a chunked transfer of ``upload_length`` bytes; its bytes arrive by PATCH."""
    rules_for(field_name).check_size(upload_length)
    upload_id = new_upload_id()
    get_temporary_area().create(upload_id).close()
    try:
        upload: TemporaryUpload = TemporaryUpload.objects.create(
            upload_id=upload_id,
            file_name="",
            field_name=field_name,
            metadata=metadata,
            chunked=True,
            upload_length=upload_length,
            received=0,
            **_owned_fields(owner),
        )
    except BaseException:
        get_temporary_area().delete(upload_id)
        raise
    signals.send_on_commit(signals.upload_started, upload)
    return upload


def _locked(upload_id: str, request: Any) -> TemporaryUpload:
    """The requester's upload row, locked until the end of the current transaction, so
    concurrent requests on one upload run one at a time. Someone else's upload, or an
    expired one, is answered as unknown (404): no existence leak."""
    if not is_valid_upload_id(upload_id):
        raise exceptions.InvalidUploadId()
    try:
        upload = locked_row(TemporaryUpload, upload_id)
    except TemporaryUpload.DoesNotExist:
        raise exceptions.UnknownUpload() from None
    if not may_access(request, upload) or is_expired(upload):
        raise exceptions.UnknownUpload()
    return upload


# What receiving a chunk can change: one short UPDATE per chunk.
_CHUNK_FIELDS = [
    "received",
    "complete",
    "file_name",
    "content_type",
    "detected_type",
    "rejected",
    "rejected_status",
    "updated",
]


def raise_if_rejected(upload: TemporaryUpload) -> None:
    if upload.rejected:
        raise UploadRejected(upload.rejected, upload.rejected_status or 415)


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
    request: Any,
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
    The chunk that completes the upload also runs its checks (:func:`finish`).
    """
    with transaction.atomic():
        upload = _locked(upload_id, request)
        raise_if_rejected(upload)
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
        rejection = None
        if file_name and not upload.file_name:
            upload.file_name = safe_name(file_name)
            upload.content_type = guess_type(upload.file_name)
            try:
                rules_for(upload.field_name).check_name(upload.file_name)
            except UploadRejected as exc:
                get_temporary_area().delete(upload.upload_id)
                upload.rejected, upload.rejected_status = exc.message, exc.status_code
                rejection = exc
        if rejection is None and end > upload.received:
            skip = upload.received - offset
            get_temporary_area().append(
                upload.upload_id,
                upload.received,
                body_pieces(read, content_length - skip, skip=skip),
            )
            upload.received = end
        if rejection is None and not upload.complete and upload.received == upload.upload_length:
            upload.complete = True
            upload.file_name = upload.file_name or safe_name(None)
            rejection = finish(upload)
        upload.save(update_fields=_CHUNK_FIELDS)
    if rejection is not None:
        raise rejection
    return upload


def get_offset(upload_id: str, request: Any) -> TemporaryUpload:
    """The upload whose contiguous received bytes a resume HEAD reports."""
    if not is_valid_upload_id(upload_id):
        raise exceptions.InvalidUploadId()
    try:
        upload: TemporaryUpload = TemporaryUpload.objects.get(pk=upload_id)
    except TemporaryUpload.DoesNotExist:
        raise exceptions.UnknownUpload() from None
    if not may_access(request, upload) or is_expired(upload):
        raise exceptions.UnknownUpload()
    raise_if_rejected(upload)
    return upload


def get_restorable(upload_id: str, request: Any) -> TemporaryUpload:
    """The requester's finished, accepted temporary upload ``upload_id``."""
    upload = get_offset(upload_id, request)
    if not upload.complete:
        raise exceptions.UploadConflict(_("That upload has not finished yet."))
    return upload


def revert(upload_id: str, request: Any) -> None:
    """Delete a temporary upload, finished or in progress (or refused), with its bytes."""
    with transaction.atomic():
        upload = _locked(upload_id, request)
        upload.delete()
        upload.upload_id = upload_id  # delete() cleared the pk; receivers want the id
        transaction.on_commit(lambda: get_temporary_area().delete(upload_id))
        signals.send_on_commit(signals.upload_reverted, upload)
