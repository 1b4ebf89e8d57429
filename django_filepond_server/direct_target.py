"""The app's own target for direct uploads, standing in for S3 where the temporary area is not
on S3 (local development, or ``FILEPOND_SERVER_DIRECT_TARGET = "app"``).

The client sends it what it would send S3: a ``multipart/form-data`` POST with the file last,
in the field ``file``, for a file sent whole; a PUT of the raw bytes for each part. The URL
carries a signed token naming the upload and the part, valid for
``FILEPOND_SERVER_DIRECT_URL_EXPIRY`` seconds; once a part has arrived its token is spent.
Like a presigned URL it needs no CSRF token (a forged request cannot know it). The browser
sends the app's session cookie to the app's own origin, so the owner is checked too.

In a local directory the parts of one upload are written into its one file, taking turns on
its ``flock``; in a storage each part is an object of its own, recorded under the row lock.
No database lock is held while a body arrives.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers, StopUpload
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import APIException

from django_filepond_server import direct, exceptions, transfers
from django_filepond_server.conf import conf
from django_filepond_server.endpoint import header_int
from django_filepond_server.models import (
    DirectTransfer,
    TemporaryUpload,
    UploadPart,
    is_valid_upload_id,
    locked_row,
)
from django_filepond_server.ownership import may_access, unknown_upload_for
from django_filepond_server.temporary import (
    SPOOL_IN_MEMORY,
    LocalTemporaryArea,
    StorageTemporaryArea,
    area_for,
)

logger = logging.getLogger(__name__)

SALT = "django_filepond_server.direct_target"
#: Room for the form's boundaries, part headers and fields around the file of a POST.
FORM_OVERHEAD = 64 * 1024


def url_for(upload_id: str, number: int) -> str:
    """The signed URL of part ``number`` of ``upload_id`` (0: the file sent whole)."""
    token = signing.dumps([upload_id, number], salt=SALT, compress=False)
    return reverse("django_filepond_server:direct-target", kwargs={"token": token})


def read_token(token: str) -> tuple[str, int]:
    try:
        value = signing.loads(token, salt=SALT, max_age=conf.DIRECT_URL_EXPIRY)
    except signing.SignatureExpired:
        raise exceptions.PermissionRefused(_("This upload link has expired.")) from None
    except signing.BadSignature:
        raise exceptions.PermissionRefused(_("This upload link is not valid.")) from None
    if not (
        isinstance(value, list)
        and len(value) == 2
        and is_valid_upload_id(value[0])
        and type(value[1]) is int
        and value[1] >= 0
    ):
        raise exceptions.PermissionRefused(_("This upload link is not valid."))
    return value[0], value[1]


def receive(request: HttpRequest, token: str, *, form: bool) -> None:
    """Write what a form POST (``form``) or a part PUT carries, and record it."""
    upload_id, number = read_token(token)
    try:
        transfer = DirectTransfer.objects.select_related("upload").get(pk=upload_id)
    except DirectTransfer.DoesNotExist:
        raise unknown_upload_for(request) from None
    upload = transfer.upload
    if not may_access(request, upload) or transfers.is_expired(upload):
        raise unknown_upload_for(request)
    size = upload.upload_length or 0
    count = direct.part_count(size, transfer.part_size)
    if form != (number == 0) or (number == 0) != (transfer.part_size == 0) or number > count:
        raise exceptions.BadUploadRequest(_("This upload link is for another kind of request."))
    offset, length = direct.part_range(size, transfer.part_size, number or 1)
    fill = _form_filler(request, length) if form else _body_filler(request, length)
    _check_open(upload, offset)  # before any byte is read
    area = area_for(upload)
    if isinstance(area, LocalTemporaryArea):
        _write_in_place(area, upload, offset, length, fill)
    else:
        assert isinstance(area, StorageTemporaryArea)
        _write_as_object(area, upload, offset, length, fill)


def _check_open(upload: TemporaryUpload, offset: int) -> None:
    transfers.raise_if_rejected(upload)
    if upload.complete or upload.checking_since is not None:
        raise exceptions.UploadConflict(
            _("That upload is already complete; its links cannot be used again.")
        )
    if UploadPart.objects.filter(upload_id=upload.pk, offset=offset).exists():
        raise exceptions.UploadConflict(
            _("That part has already arrived; its link cannot be used again.")
        )


def _write_in_place(
    area: LocalTemporaryArea,
    upload: TemporaryUpload,
    offset: int,
    length: int,
    fill: Callable[[Callable[[bytes], Any]], None],
) -> None:
    try:
        with area.locked(upload.pk) as f:
            upload.refresh_from_db()  # as it is now that this request has the upload's turn
            _check_open(upload, offset)
            f.seek(offset)
            fill(f.write)
            f.flush()
            UploadPart.objects.create(
                upload=upload,
                offset=offset,
                length=length,
                skip=offset,
                name=os.path.basename(area.local_path(upload.pk)),
            )
            TemporaryUpload.objects.filter(pk=upload.pk).update(updated=timezone.now())
    except FileNotFoundError:
        raise transfers.missing(upload) from None
    except TemporaryUpload.DoesNotExist:
        raise exceptions.UnknownUpload() from None


def _write_as_object(
    area: StorageTemporaryArea,
    upload: TemporaryUpload,
    offset: int,
    length: int,
    fill: Callable[[Callable[[bytes], Any]], None],
) -> None:
    # A name of its own, never reused: a late or repeated request can add an object, but
    # never change one that was recorded.
    name = area.chunk_name(upload.pk, offset)
    with tempfile.SpooledTemporaryFile(
        max_size=SPOOL_IN_MEMORY, dir=settings.FILE_UPLOAD_TEMP_DIR
    ) as spool:
        fill(spool.write)
        spool.seek(0)
        try:
            area.save(name, spool)
        except Exception as exc:
            area.discard(name)
            logger.warning("Could not save %s to the temporary storage: %r", name, exc)
            raise exceptions.StorageUnavailable() from exc
    recorded = False
    try:
        with transaction.atomic():
            try:
                locked = locked_row(TemporaryUpload, upload.pk)
            except TemporaryUpload.DoesNotExist:
                raise exceptions.UnknownUpload() from None
            _check_open(locked, offset)
            UploadPart.objects.create(upload=locked, offset=offset, length=length, name=name)
            locked.save(update_fields=["updated"])
            recorded = True
    finally:
        if not recorded:
            area.discard(name)


def _part_size_refusal(found: int, length: int) -> APIException:
    if found > length:
        return exceptions.UploadTooLarge(
            _("This part has more than the %(length)d bytes it should have.") % {"length": length}
        )
    return exceptions.BadUploadRequest(
        _("This part should have %(length)d bytes, not %(found)d.")
        % {"length": length, "found": found}
    )


def _body_filler(request: HttpRequest, length: int) -> Callable[[Callable[[bytes], Any]], None]:
    declared = header_int(request, "Content-Length", required=False)
    if declared is None and "HTTP_TRANSFER_ENCODING" in request.META:
        # Without Content-Length, WSGI hands over no body at all.
        raise exceptions.LengthRequired(_("A part needs a Content-Length header."))
    if (declared or 0) != length:
        raise _part_size_refusal(declared or 0, length)

    def fill(write: Callable[[bytes], Any]) -> None:
        for piece in transfers.body_pieces(request.read, length):
            _guarded(write, piece)

    return fill


def _guarded(write: Callable[[bytes], Any], piece: bytes) -> None:
    try:
        write(piece)
    except OSError as exc:  # a full disk, a broken spool: not the client's doing
        logger.warning("Could not write a direct upload's bytes: %r", exc)
        raise exceptions.StorageUnavailable() from exc


def _form_filler(request: HttpRequest, length: int) -> Callable[[Callable[[bytes], Any]], None]:
    if not request.META.get("CONTENT_TYPE", "").startswith("multipart/form-data"):
        raise exceptions.WrongContentType(
            _("Send the file as multipart/form-data, in the field named file.")
        )
    declared = header_int(request, "Content-Length", required=False) or 0
    if declared > length + FORM_OVERHEAD:
        raise _part_size_refusal(length + 1, length)

    def fill(write: Callable[[bytes], Any]) -> None:
        handler = _FormFile(length, write)
        request.upload_handlers = [handler]
        request.FILES  # noqa: B018  (parses the body, handing the file to the handler)
        if handler.refusal is not None:
            raise handler.refusal
        if not handler.done:
            raise exceptions.BadUploadRequest(_("Send one file, in the form field named file."))
        if handler.count != length:
            raise _part_size_refusal(handler.count, length)

    return fill


class _FormFile(FileUploadHandler):
    """Hands the form's ``file`` field to ``write`` as the parser reads it, refusing a second
    file and any byte past ``length`` (the rest of the body, at most the form's overhead, is
    read and dropped so that the answer reaches the client)."""

    def __init__(self, length: int, write: Callable[[bytes], Any]) -> None:
        super().__init__()
        self.length = length
        self.write = write
        self.count = 0
        self.done = False
        self.refusal: APIException | None = None

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        if self.field_name != "file" or self.done or self.count:
            self.refusal = exceptions.BadUploadRequest(
                _("Send one file, in the form field named file.")
            )
            raise StopUpload(connection_reset=False)
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.count += len(raw_data)
        if self.count > self.length:
            self.refusal = _part_size_refusal(self.count, self.length)
            raise StopUpload(connection_reset=False)
        try:
            _guarded(self.write, raw_data)
        except APIException as exc:
            self.refusal = exc
            raise StopUpload(connection_reset=False) from None

    def file_complete(self, file_size: int) -> None:
        self.done = True
