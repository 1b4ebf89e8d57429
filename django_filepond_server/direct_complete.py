"""Completing a direct upload: what the app checks once the client says the bytes are there.

It looks at what arrived (``ListParts`` and ``HeadObject`` on S3: the size must be the
declared one, which S3 does not enforce on multipart uploads), sniffs the first bytes, runs
the rules and validators, and records the upload as complete: from then on it is a temporary
upload like any other. A file sent in one POST is first copied, inside the bucket, to the
upload's own name, so that a second POST with the same presigned form cannot change the
bytes after they were checked; a multipart upload is completed by the app itself. Like a
chunked transfer's last chunk, the request that completes claims the upload's checks
(``checking_since``) and runs them with no lock held.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import APIException

from django_filepond_server import direct_s3, exceptions, signals, transfers
from django_filepond_server.conf import conf
from django_filepond_server.direct import (
    APP,
    S3,
    abort_quietly,
    owned_transfer,
    part_count,
    part_range,
)
from django_filepond_server.exceptions import UploadRejected
from django_filepond_server.models import DirectTransfer, TemporaryUpload, UploadPart
from django_filepond_server.temporary import (
    LocalTemporaryArea,
    StorageTemporaryArea,
    TemporaryArea,
    area_for,
)

logger = logging.getLogger(__name__)


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
        try:
            with area.locked(upload.pk):  # no part is being written while it is claimed
                _claim(upload)
                _arrived(area, transfer, upload, size)
        except FileNotFoundError:  # removed by hand, or held by another app server
            raise transfers.missing(upload) from None
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
            check_parts(transfer, size)
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
        abort_quietly(
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


def check_parts(transfer: DirectTransfer, size: int) -> None:
    """Whether every planned part was recorded (the target checked each one's size); a 409
    names those that were not."""
    count = part_count(size, transfer.part_size)
    recorded = set(
        UploadPart.objects.filter(upload_id=transfer.pk).values_list("offset", flat=True)
    )
    missing = [
        number
        for number in range(1, count + 1)
        if part_range(size, transfer.part_size, number)[0] not in recorded
    ]
    if missing:
        raise not_arrived(missing if transfer.part_size else None)
