"""Direct uploads: the browser sends the bytes straight to the temporary area, the app keeps
control.

**Begin** checks what can be checked before any byte moves (the visitor, the owner's limits,
the field's rules on the declared size, name and type), records the upload as begun within
the owner's limits, and answers with where to send the bytes. The server picks the key.
A file up to ``FILEPOND_SERVER_DIRECT_PART_SIZE`` is sent in one form POST; a larger one in
parts of that size, several at once. The target is the temporary storage's S3 bucket
(presigned requests) or, without S3, the app's own signed target (:mod:`.direct_target`).

**Complete** looks at what arrived (``ListParts`` and ``HeadObject`` on S3: the size must be
the declared one, which S3 does not enforce on multipart uploads), sniffs the first bytes,
runs the rules and validators, and records the upload as complete: from then on it is a
temporary upload like any other. A file sent in one POST is first copied, inside the bucket,
to the upload's own name, so that a second POST with the same presigned form cannot change
the bytes after they were checked; a multipart upload is completed by the app itself.

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
from rest_framework.exceptions import APIException

from django_filepond_server import direct_s3, direct_target, exceptions, signals, transfers
from django_filepond_server.conf import conf
from django_filepond_server.endpoint import check_upload_length
from django_filepond_server.exceptions import UploadRejected
from django_filepond_server.models import (
    DirectTransfer,
    TemporaryUpload,
    UploadPart,
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
    from django_filepond_server.views import ProcessView  # views import this module

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
        _abort_quietly(area, transfer.key, transfer.multipart_id)
    TemporaryUpload.objects.filter(pk=transfer.pk).delete()
    transfers.delete_bytes(area, transfer.pk)


def _abort_quietly(area: StorageTemporaryArea, key: str, multipart_id: str) -> None:
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
        transaction.on_commit(lambda: _abort_quietly(s3_area, transfer.key, transfer.multipart_id))


# --- complete ---------------------------------------------------------------------------------


def complete(request: Any, key: Any) -> TemporaryUpload:
    """Check what arrived for a begun upload and record it as a complete temporary upload.

    Parts that have not arrived are a 409 the client can fix; bytes of the wrong size, or
    content the rules or validators refuse, are refused for good and removed.
    """
    transfer = owned_transfer(request, key)
    upload = transfer.upload
    if upload.complete:
        return upload  # a retried complete
    transfers.raise_if_rejected(upload)
    area = area_for(upload)
    size = upload.upload_length or 0
    if transfer.target == APP and isinstance(area, LocalTemporaryArea):
        with area.locked(upload.pk):  # no part is being written while it is claimed
            _claim(upload)
            _arrived(area, transfer, upload, size)
    else:
        _claim(upload)
        _arrived(area, transfer, upload, size)
    upload.received = size
    head_opener = None
    if transfer.target == S3:
        assert isinstance(area, StorageTemporaryArea)
        whole = direct_s3.key_of(area, area.whole_name(upload.pk))
        head_opener = lambda: direct_s3.first_bytes(area, whole, size)  # noqa: E731
    try:
        rejection = transfers.run_checks(upload, lambda: _open(area, transfer), head_opener)
    except Exception as exc:
        _release(upload)
        logger.warning("Could not check the direct upload %s: %r", upload.pk, exc)
        raise exceptions.StorageUnavailable() from exc
    if rejection is not None:
        _reject(area, transfer, upload, rejection)
    _record(area, transfer, upload, size)
    return upload


def _open(area: TemporaryArea, transfer: DirectTransfer) -> Any:
    if transfer.target == S3:
        return area.open_whole(transfer.pk, transfer.upload.upload_length or 0)
    return area.open(transfer.pk)


def _claim(upload: TemporaryUpload) -> None:
    """Take the upload's checks for this request, or say that another request runs them."""
    upload.refresh_from_db()
    if upload.complete:  # pragma: no cover - another complete finished since this one looked
        raise exceptions.UploadConflict(_("That upload is already complete."))
    transfers.raise_if_rejected(upload)
    since = upload.checking_since
    if since is not None and since >= timezone.now() - conf.VALIDATION_TIMEOUT:
        raise exceptions.UploadBeingChecked()
    now = timezone.now()
    claimed = TemporaryUpload.objects.filter(
        pk=upload.pk, complete=False, rejected="", checking_since=since
    ).update(checking_since=now)
    if not claimed:  # pragma: no cover - another complete claimed them since this one looked
        raise exceptions.UploadBeingChecked()
    upload.checking_since = now


def _release(upload: TemporaryUpload) -> None:
    TemporaryUpload.objects.filter(pk=upload.pk, checking_since=upload.checking_since).update(
        checking_since=None
    )
    upload.checking_since = None


def _arrived(
    area: TemporaryArea, transfer: DirectTransfer, upload: TemporaryUpload, size: int
) -> None:
    """Make sure the declared bytes arrived, under the claim; releases it for what the client
    can still fix, refuses the upload for what it cannot."""
    try:
        if transfer.target == S3:
            assert isinstance(area, StorageTemporaryArea)
            _finish_s3(area, transfer, size)
        else:
            direct_target.check_parts(transfer, size)
    except UploadRejected as rejection:
        _reject(area, transfer, upload, rejection)
    except APIException:
        _release(upload)
        raise
    except Exception as exc:
        _release(upload)
        logger.warning("Could not complete the direct upload %s: %r", upload.pk, exc)
        raise exceptions.StorageUnavailable() from exc


def wrong_size(found: int, declared: int) -> UploadRejected:
    if found > declared:
        return UploadRejected(
            _("The file has %(found)d bytes, more than the %(declared)d declared when it began.")
            % {"found": found, "declared": declared},
            status_code=413,
        )
    return UploadRejected(
        _("The file has %(found)d bytes, not the %(declared)d declared when it began.")
        % {"found": found, "declared": declared},
        status_code=400,
    )


def not_arrived(numbers: list[int] | None = None) -> exceptions.UploadConflict:
    if not numbers:
        return exceptions.UploadConflict(
            _("The file has not arrived in storage yet; send it, then complete the upload.")
        )
    shown = ", ".join(str(n) for n in numbers[:10]) + (", ..." if len(numbers) > 10 else "")
    return exceptions.UploadConflict(
        _("Parts %(parts)s of the file have not arrived yet; send them, then complete the upload.")
        % {"parts": shown}
    )


def _finish_s3(area: StorageTemporaryArea, transfer: DirectTransfer, size: int) -> None:
    whole = direct_s3.key_of(area, area.whole_name(transfer.pk))
    if not transfer.part_size:
        sent = direct_s3.head(area, transfer.key)
        if sent is not None:
            if sent.size != size:
                raise wrong_size(sent.size, size)
            # The checked bytes get a name no presigned request can write to.
            direct_s3.copy(area, transfer.key, whole, sent.etag)
            direct_s3.delete(area, transfer.key)
    else:
        parts = direct_s3.listed_parts(area, whole, transfer.multipart_id)
        if parts is not None:  # else completed by a request whose checks were taken over
            _check_plan(parts, size, transfer.part_size)
            direct_s3.complete_multipart(area, whole, transfer.multipart_id, parts)
    found = direct_s3.head(area, whole)
    if found is None:
        raise not_arrived()
    if found.size != size:  # pragma: no cover - S3 joined parts of other sizes than it listed
        raise wrong_size(found.size, size)


def _check_plan(parts: list[direct_s3.ListedPart], size: int, part_size: int) -> None:
    """The parts must be those begin planned, each of its planned size: S3 itself would
    complete any parts of 5 MiB and more into an object of any size."""
    count = part_count(size, part_size)
    total = sum(part.size for part in parts)
    wrong = [
        part
        for part in parts
        if not 1 <= part.number <= count or part.size != part_range(size, part_size, part.number)[1]
    ]
    if wrong or total > size:
        raise wrong_size(total, size)
    missing = sorted(set(range(1, count + 1)) - {part.number for part in parts})
    if missing:
        raise not_arrived(missing)


def _reject(
    area: TemporaryArea, transfer: DirectTransfer, upload: TemporaryUpload, rejection: Any
) -> None:
    """Record the refusal (later requests get the same answer), remove the bytes, raise."""
    TemporaryUpload.objects.filter(pk=upload.pk, checking_since=upload.checking_since).update(
        rejected=rejection.message,
        rejected_status=rejection.status_code,
        checking_since=None,
        updated=timezone.now(),
    )
    if transfer.multipart_id and isinstance(area, StorageTemporaryArea):
        _abort_quietly(
            area, direct_s3.key_of(area, area.whole_name(upload.pk)), transfer.multipart_id
        )
    transfers.delete_bytes(area, upload.pk)
    UploadPart.objects.filter(upload_id=upload.pk).delete()
    raise rejection


def _record(
    area: TemporaryArea, transfer: DirectTransfer, upload: TemporaryUpload, size: int
) -> None:
    outcome = {
        "complete": True,
        "checking_since": None,
        "received": size,
        "detected_type": upload.detected_type,
        "content_type": upload.content_type,
        "updated": timezone.now(),
    }
    with transaction.atomic():
        recorded = TemporaryUpload.objects.filter(
            pk=upload.pk, checking_since=upload.checking_since
        ).update(**outcome)
        if not recorded:
            if not TemporaryUpload.objects.filter(pk=upload.pk).exists():
                raise exceptions.UnknownUpload()  # aborted while being checked
            raise exceptions.UploadBeingChecked()  # another request took the checks over
        if transfer.target == S3:
            assert isinstance(area, StorageTemporaryArea)
            UploadPart.objects.create(
                upload=upload, offset=0, length=size, name=area.whole_name(upload.pk)
            )
        elif isinstance(area, LocalTemporaryArea):
            # The parts were written into the upload's one file: it needs no part rows.
            UploadPart.objects.filter(upload_id=upload.pk).delete()
    for name, value in outcome.items():
        setattr(upload, name, value)
    signals.send_on_commit(signals.upload_completed, upload)


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
                _abort_quietly(area, found.key, found.multipart_id)
    return aborted
