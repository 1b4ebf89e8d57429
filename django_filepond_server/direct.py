"""Direct uploads: the browser sends the bytes straight to the temporary area, the app keeps
control.

**Begin** checks what can be checked before any byte moves (the visitor, the owner's limits,
the field's rules on the declared size, name and type), records the upload as begun within
the owner's limits, and answers with where to send the bytes. The server picks the key.
A file up to ``FILEPOND_SERVER_DIRECT_PART_SIZE`` is sent in one form POST; a larger one in
parts of that size, several at once. The target is the temporary storage's S3 bucket
(presigned requests) or, without S3, the app's own signed target (:mod:`.direct_target`).

**Complete** checks what arrived (:mod:`.direct_complete`).

**Abort** removes the upload and aborts its multipart upload; ``filepond_cleanup`` aborts
the multipart uploads whose begun upload is gone (:func:`abort_stale`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _

from django_filepond_server import direct_s3, direct_target, exceptions, signals, transfers
from django_filepond_server.conf import conf
from django_filepond_server.endpoint import check_upload_length
from django_filepond_server.models import (
    DirectTransfer,
    TemporaryUpload,
    is_valid_upload_id,
    new_upload_id,
)
from django_filepond_server.names import guess_type, safe_name
from django_filepond_server.ownership import (
    insert_within_limits,
    may_access,
    owner_for_new_upload,
    unknown_upload_for,
)
from django_filepond_server.rules import rules_for
from django_filepond_server.temporary import (
    LocalTemporaryArea,
    StorageTemporaryArea,
    TemporaryArea,
    area_for,
    get_temporary_area,
)
from django_filepond_server.views import ProcessView

logger = logging.getLogger(__name__)

S3 = "s3"
APP = "app"
TARGETS = ("auto", S3, APP)
#: Most part URLs signed per request: begin signs the first ones, the client asks for more.
PART_BATCH = 16
#: S3's most parts per multipart upload; larger files get larger parts.
MAX_PARTS = 10_000
#: Longest declared content type taken from the client.
MAX_TYPE_LENGTH = 255
#: The names of a direct upload's objects: sent by one POST, or the upload itself.
SENT, WHOLE = "sent", "whole"


def target_for(area: TemporaryArea) -> str:
    """Where direct uploads into ``area`` send their bytes, as the setting says."""
    setting = conf.DIRECT_TARGET
    if setting == APP:
        return APP
    if direct_s3.is_s3_area(area):
        return S3
    if setting == S3:
        raise ImproperlyConfigured(
            "FILEPOND_SERVER_DIRECT_TARGET is 's3', but FILEPOND_SERVER_TEMP_STORAGE "
            f"({conf.TEMP_STORAGE!r}) is not a django-storages S3Storage."
        )
    return APP


def _key(area: TemporaryArea, target: str, upload_id: str, name: str) -> str:
    if target == S3:
        assert isinstance(area, StorageTemporaryArea)
        return direct_s3.key_of(area, f"{upload_id}/{name}")
    return f"{upload_id}/{name}"


def part_size_for(size: int) -> int:
    """0 (one request) up to ``DIRECT_PART_SIZE``, else that, or more for a file that would
    need more than :data:`MAX_PARTS` parts."""
    if size <= conf.DIRECT_PART_SIZE:
        return 0
    return max(conf.DIRECT_PART_SIZE, -(-size // MAX_PARTS))


def part_count(size: int, part_size: int) -> int:
    return 1 if not part_size else max(1, -(-size // part_size))


def part_range(size: int, part_size: int, number: int) -> tuple[int, int]:
    """(offset, length) of part ``number`` (1 is the first; 0 is the file sent whole)."""
    if not part_size:
        return 0, size
    offset = (number - 1) * part_size
    return offset, min(part_size, size - offset)


# --- begin ------------------------------------------------------------------------------------


def begin(
    request: Any,
    *,
    name: str,
    size: int,
    declared_type: str,
    field_name: str,
    raw_metadata: str,
) -> dict[str, Any]:
    """Check and record a new direct upload; returns where and how to send its bytes."""
    owner = owner_for_new_upload(request)
    field_name = ProcessView.checked_field_name(field_name)
    post = QueryDict(mutable=True)
    post.setlist(field_name, [raw_metadata])
    metadata = ProcessView.metadata(post, field_name)
    check_upload_length(size)
    rules = rules_for(field_name)
    file_name = safe_name(name)
    rules.check_size(size)
    rules.check_name(file_name)
    declared = declared_type.split(";", 1)[0].strip().lower()
    if len(declared) > MAX_TYPE_LENGTH or not declared.isprintable():
        raise exceptions.BadUploadRequest(_("The file's declared type is not a content type."))
    if declared:
        rules.check_content(file_name, declared)

    area = get_temporary_area()
    target = target_for(area)
    upload_id = new_upload_id()
    part_size = part_size_for(size)
    upload = TemporaryUpload(
        upload_id=upload_id,
        area=area.alias,
        node=area.node if isinstance(area, LocalTemporaryArea) else "",
        owner_id=owner.user_id,
        owner_token=owner.token,
        file_name=file_name,
        field_name=field_name,
        metadata=metadata,
        upload_length=size,
        received=0,
        content_type=guess_type(file_name),
    )
    transfer = DirectTransfer(
        upload=upload,
        target=target,
        key=_key(area, target, upload_id, WHOLE if part_size or target == APP else SENT),
        part_size=part_size,
    )
    if isinstance(area, LocalTemporaryArea):
        area.create(upload_id).close()  # before the row: a row never lacks its file
    try:
        with transaction.atomic():
            insert_within_limits(upload, owner, size)
            transfer.save(force_insert=True)
    except BaseException:
        if isinstance(area, LocalTemporaryArea):
            area.delete(upload_id)
        raise
    try:
        if target == S3 and part_size:
            assert isinstance(area, StorageTemporaryArea)
            transfer.multipart_id = direct_s3.create_multipart(area, transfer.key)
            transfer.save(update_fields=["multipart_id"])
        count = part_count(size, part_size)
        answer: dict[str, Any] = {
            "key": transfer.key,
            "size": size,
            "partSize": part_size,
            "parts": count,
        }
        if part_size:
            answer["urls"] = _part_urls(area, transfer, range(1, min(PART_BATCH, count) + 1))
        else:
            answer["post"] = _post_target(area, transfer, size)
    except Exception as exc:  # S3 unreachable, no permission to sign...
        _discard(area, transfer)
        logger.warning("Could not begin the direct upload %s: %r", upload_id, exc)
        raise exceptions.StorageUnavailable() from exc
    signals.send_on_commit(signals.upload_started, upload)
    return answer


def _post_target(area: TemporaryArea, transfer: DirectTransfer, size: int) -> dict[str, Any]:
    if transfer.target == S3:
        assert isinstance(area, StorageTemporaryArea)
        return direct_s3.presigned_post(area, transfer.key, size, conf.DIRECT_URL_EXPIRY)
    return {"url": direct_target.url_for(transfer.pk, 0), "fields": {}}


def _part_urls(area: TemporaryArea, transfer: DirectTransfer, numbers: Any) -> dict[str, str]:
    if transfer.target == S3:
        assert isinstance(area, StorageTemporaryArea)
        expiry = conf.DIRECT_URL_EXPIRY
        return {
            str(n): direct_s3.presigned_part(area, transfer.key, transfer.multipart_id, n, expiry)
            for n in numbers
        }
    return {str(n): direct_target.url_for(transfer.pk, n) for n in numbers}


def _discard(area: TemporaryArea, transfer: DirectTransfer) -> None:
    """Undo a begin that failed after its row was inserted."""
    if transfer.multipart_id:
        assert isinstance(area, StorageTemporaryArea)
        abort_quietly(area, transfer.key, transfer.multipart_id)
    TemporaryUpload.objects.filter(pk=transfer.pk).delete()
    transfers.delete_bytes(area, transfer.pk)


def abort_quietly(area: StorageTemporaryArea, key: str, multipart_id: str) -> None:
    """Abort a multipart upload, logging (not raising) a failure: cleanup aborts it later."""
    try:
        direct_s3.abort_multipart(area, key, multipart_id)
    except Exception:
        logger.warning("Could not abort the multipart upload %s of %s", multipart_id, key)


# --- the requests that name a begun upload by its key ------------------------------------------


def upload_id_of(key: Any) -> str:
    """The upload a key names; 400 for a key outside the temporary area or not of the shape
    this app gives."""
    if not isinstance(key, str) or not key:
        raise exceptions.BadUploadRequest(_("Say which upload this is for with its key."))
    area = get_temporary_area()
    prefix = ""
    if target_for(area) == S3:
        assert isinstance(area, StorageTemporaryArea)
        prefix = direct_s3.prefix_of(area)
    if not key.startswith(prefix):
        raise exceptions.BadUploadRequest(_("That key is outside the temporary upload area."))
    upload_id, slash, name = key[len(prefix) :].partition("/")
    if not (is_valid_upload_id(upload_id) and slash and name in (SENT, WHOLE)):
        raise exceptions.BadUploadRequest(_("That key does not name a direct upload."))
    return upload_id


def owned_transfer(request: Any, key: Any) -> DirectTransfer:
    """The live direct upload ``key`` that this visitor began; anything else is answered as
    unknown (404), which tells nothing about other visitors' uploads."""
    upload_id = upload_id_of(key)
    try:
        transfer: DirectTransfer = DirectTransfer.objects.select_related("upload").get(pk=upload_id)
    except DirectTransfer.DoesNotExist:
        raise unknown_upload_for(request) from None
    upload = transfer.upload
    if transfer.key != key or not may_access(request, upload) or transfers.is_expired(upload):
        raise unknown_upload_for(request)
    return transfer


def _still_open(upload: TemporaryUpload) -> None:
    transfers.raise_if_rejected(upload)
    if upload.complete or upload.checking_since is not None:
        raise exceptions.UploadConflict(_("That upload is already complete."))


def part_urls(request: Any, key: Any, numbers: Any) -> dict[str, str]:
    """Fresh URLs for parts ``numbers`` of a begun upload; the request also keeps the upload
    from being taken for abandoned while its parts are on their way."""
    transfer = owned_transfer(request, key)
    upload = transfer.upload
    _still_open(upload)
    if not transfer.part_size:
        raise exceptions.BadUploadRequest(_("That upload is sent in one request; it has no parts."))
    count = part_count(upload.upload_length or 0, transfer.part_size)
    if (
        not isinstance(numbers, list)
        or not 0 < len(numbers) <= PART_BATCH
        or not all(type(n) is int and 1 <= n <= count for n in numbers)
    ):
        raise exceptions.BadUploadRequest(
            _("Ask for 1 to %(batch)d part numbers between 1 and %(count)d.")
            % {"batch": PART_BATCH, "count": count}
        )
    TemporaryUpload.objects.filter(pk=upload.pk).update(updated=timezone.now())
    return _part_urls(area_for(upload), transfer, sorted(set(numbers)))


def abort(request: Any, key: Any) -> None:
    """Remove a direct upload, begun or complete, with its bytes and its multipart upload."""
    transfer = owned_transfer(request, key)
    area = area_for(transfer.upload)
    transfers.revert(transfer.pk, request)
    if transfer.multipart_id and isinstance(area, StorageTemporaryArea):
        s3_area = area
        transaction.on_commit(lambda: abort_quietly(s3_area, transfer.key, transfer.multipart_id))


# --- cleanup ----------------------------------------------------------------------------------


def abort_stale(aliases: set[str], *, older_than: timedelta, dry_run: bool = False) -> int:
    """Abort the multipart uploads of direct uploads under the S3 temporary areas
    ``aliases`` that began more than ``older_than`` ago and whose upload is gone (reverted,
    abandoned, or never recorded by a begin that failed); returns how many. Multipart
    uploads of other names are none of this app's business."""
    cutoff = timezone.now() - older_than
    aborted = 0
    for alias in sorted(aliases):
        area = StorageTemporaryArea(alias)
        if not direct_s3.is_s3_area(area):
            continue
        prefix = direct_s3.prefix_of(area)
        for found in direct_s3.open_multiparts(area):
            upload_id, slash, name = found.key[len(prefix) :].partition("/")
            if not (is_valid_upload_id(upload_id) and slash and name == WHOLE):
                continue
            if found.initiated >= cutoff:
                continue
            # A begin records its row before it creates the multipart upload.
            if TemporaryUpload.objects.filter(pk=upload_id).exists():
                continue
            aborted += 1
            if not dry_run:
                abort_quietly(area, found.key, found.multipart_id)
    return aborted
