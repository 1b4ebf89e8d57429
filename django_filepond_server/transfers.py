"""State changes of temporary uploads: create, receive chunks, check, revert.

The HTTP views parse requests and call these. No database lock is ever held while a request
body arrives or while an upload's checks (type sniffing, rules, validators) run:

- A chunk for the local area is written in place while its writer holds the file's ``flock``
  (only requests for the same upload wait for it). The file's size is how many bytes have
  arrived: a chunk in the middle of a transfer touches no row, and the row's ``received`` and
  ``updated`` are brought up to date by a conditional ``UPDATE`` at the first and last chunk
  and at most every :func:`activity_interval` in between.
- A chunk for a storage area becomes an object of its own first; the row is then locked only
  to record the part that extends the upload.
- The request that completes an upload claims its checks (``checking_since``), runs them with
  no lock held, and records the outcome. Until then the upload is neither restorable nor
  storable, and a retried request does not run the checks a second time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any, BinaryIO, Protocol

from django.db import transaction
from django.http import UnreadablePostError
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import APIException

from django_filepond_server import exceptions, signals
from django_filepond_server.conf import conf
from django_filepond_server.exceptions import UploadRejected
from django_filepond_server.models import (
    TemporaryUpload,
    UploadPart,
    is_valid_upload_id,
    locked_row,
    new_upload_id,
)
from django_filepond_server.names import guess_type, safe_name
from django_filepond_server.ownership import (
    Owner,
    insert_within_limits,
    may_access,
    unknown_upload_for,
)
from django_filepond_server.rules import content_matches_declared, detect_type, rules_for
from django_filepond_server.temporary import (
    LocalTemporaryArea,
    StorageTemporaryArea,
    TemporaryArea,
    area_for,
    get_temporary_area,
)
from django_filepond_server.validators import run_validators

logger = logging.getLogger(__name__)

#: Seconds a retried last chunk waits for the checks another request is running.
CHECK_WAIT = 10

#: Longest a local-area transfer's row lags behind its file (see :func:`activity_interval`).
ACTIVITY_INTERVAL = timedelta(seconds=30)

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


def _new_row(area: TemporaryArea, owner: Owner, **fields: Any) -> TemporaryUpload:
    return TemporaryUpload(
        area=area.alias,
        node=area.node if isinstance(area, LocalTemporaryArea) else "",
        owner_id=owner.user_id,
        owner_token=owner.token,
        **fields,
    )


def missing(upload: TemporaryUpload) -> Exception:
    """What to answer when the area holds no bytes for a known upload.

    Another request may have refused or reverted it meanwhile, removing its bytes: that is
    the answer then. In a local area on another machine (several app servers without a
    shared temporary storage) it is a server problem, said to the operator in the log;
    otherwise the bytes are gone.
    """
    try:
        upload.refresh_from_db(fields=["rejected", "rejected_status"])
    except TemporaryUpload.DoesNotExist:
        return exceptions.UnknownUpload()
    if upload.rejected:
        return UploadRejected(upload.rejected, upload.rejected_status or 415)
    area = area_for(upload)
    if isinstance(area, LocalTemporaryArea) and upload.node and upload.node != area.node:
        logger.warning(
            "Upload %s is held by %s, but this request reached %s. Several app servers need "
            "a shared temporary area: set FILEPOND_SERVER_TEMP_STORAGE.",
            upload.upload_id,
            upload.node,
            area.node,
        )
        return exceptions.UploadElsewhere()
    return exceptions.UnknownUpload(_("The file of that upload is missing."))


@contextlib.contextmanager
def storage_failures(area: TemporaryArea, upload_id: str) -> Iterator[None]:
    """Answer a failure of the temporary area (its storage service down, a network error, a
    full disk) with 503 and ``Retry-After``, which FilePond retries. What the app raises on
    purpose (answers, refusals, missing bytes) passes through."""
    try:
        yield
    except (APIException, UploadRejected, FileNotFoundError):
        raise
    except Exception as exc:
        logger.warning(
            "The temporary area %s failed for upload %s: %s: %s",
            repr(area.alias) if area.alias else "(local directory)",
            upload_id,
            type(exc).__name__,
            exc,
            exc_info=True,
        )
        raise exceptions.StorageUnavailable() from exc


# --- the checks of a completed upload ----------------------------------------------------------


def run_checks(
    upload: TemporaryUpload,
    opener: Callable[[], BinaryIO],
    head_opener: Callable[[], BinaryIO] | None = None,
) -> UploadRejected | None:
    """Sniff the type, apply the field's rules and the validators to the bytes ``opener``
    gives; the detected type becomes the upload's content type. Returns the refusal, if any;
    the caller records it. ``head_opener``, when given, opens just the file's first bytes
    for the sniff (a bounded ranged read of a remote object)."""
    try:
        with (head_opener or opener)() as f:
            upload.detected_type = detect_type(f)
        upload.content_type = upload.detected_type
        rules_for(upload.field_name).check(upload.file_name, upload.received, upload.detected_type)
        run_validators(upload, opener)
    except UploadRejected as rejection:
        return rejection
    return None


def _check_claimed(upload: TemporaryUpload) -> None:
    """Run the checks of a transfer this request claimed (``checking_since`` set by it), with
    no lock held, and record the outcome unless someone else took over meanwhile."""
    area = area_for(upload)
    claim = upload.checking_since
    try:
        with storage_failures(area, upload.upload_id):
            rejection = run_checks(upload, lambda: area.open(upload.upload_id))
    except BaseException as exc:
        # Unfinished checks are no outcome (the storage failed, the bytes are gone, a
        # validator crashed): give up the claim, so that a retry runs them again at once
        # instead of waiting VALIDATION_TIMEOUT for a checker presumed gone.
        TemporaryUpload.objects.filter(pk=upload.upload_id, checking_since=claim).update(
            checking_since=None
        )
        upload.checking_since = None
        if isinstance(exc, FileNotFoundError):
            raise missing(upload) from None
        raise
    outcome: dict[str, Any] = {
        "checking_since": None,
        "detected_type": upload.detected_type,
        "content_type": upload.content_type,
        "updated": timezone.now(),
    }
    if rejection is None:
        outcome["complete"] = True
    else:
        outcome["rejected"] = rejection.message
        outcome["rejected_status"] = rejection.status_code
    recorded = TemporaryUpload.objects.filter(pk=upload.upload_id, checking_since=claim).update(
        **outcome
    )
    if not recorded:
        if not TemporaryUpload.objects.filter(pk=upload.upload_id).exists():
            raise exceptions.UnknownUpload()  # reverted or removed while being checked
        raise exceptions.UploadBeingChecked()  # another request took over the checks
    for name, value in outcome.items():
        setattr(upload, name, value)
    if rejection is not None:
        delete_bytes(area, upload.upload_id)
        raise rejection
    signals.send_on_commit(signals.upload_completed, upload)


def _claim_stale_checks(upload: TemporaryUpload) -> bool:
    """Take over the checks of a complete transfer whose checker is presumed gone."""
    now = timezone.now()
    claimed = TemporaryUpload.objects.filter(
        pk=upload.upload_id, checking_since=upload.checking_since
    ).update(checking_since=now)
    if claimed:
        upload.checking_since = now
    return bool(claimed)


def _being_checked(upload: TemporaryUpload) -> bool:
    """Whether another request is running the upload's checks right now."""
    since: datetime | None = upload.checking_since
    return since is not None and since >= timezone.now() - conf.VALIDATION_TIMEOUT


# --- whole files: process and fetch -----------------------------------------------------------


def record_whole(
    area: TemporaryArea,
    upload_id: str,
    name: str,
    size: int,
    owner: Owner,
    field_name: str = "",
    metadata: dict[str, Any] | None = None,
    declared_type: str | None = None,
) -> TemporaryUpload:
    """Check a whole file the area already holds and record it within the owner's limits:
    one statement, no row at all for a refused file. Whatever is refused, its bytes are
    removed before the exception propagates."""
    upload = _new_row(
        area,
        owner,
        upload_id=upload_id,
        file_name=name,
        field_name=field_name,
        metadata=metadata or {},
        upload_length=size,
        received=size,
        complete=True,
        content_type=guess_type(name),
    )
    try:
        with storage_failures(area, upload_id):
            rejection = run_checks(upload, lambda: area.open_whole(upload_id, size))
        if rejection is None and not content_matches_declared(
            declared_type or "", upload.detected_type
        ):
            rejection = UploadRejected(
                _("The remote file's content (%(detected)s) is not the %(declared)s it claims.")
                % {"detected": upload.detected_type, "declared": declared_type}
            )
        if rejection is not None:
            raise rejection
        if isinstance(area, StorageTemporaryArea):
            with transaction.atomic():
                insert_within_limits(upload, owner, size)
                UploadPart.objects.create(
                    upload=upload, offset=0, length=size, name=area.whole_name(upload_id)
                )
        else:
            insert_within_limits(upload, owner, size)
    except BaseException:
        delete_bytes(area, upload_id)
        raise
    signals.send_on_commit(signals.upload_completed, upload)
    return upload


def create_from_stream(
    pieces: Iterable[bytes], file_name: str | None, declared_type: str | None, owner: Owner
) -> TemporaryUpload:
    """Write ``pieces`` (a fetched file) to a new temporary upload and record it as complete.

    If reading ``pieces`` raises (a cap, a timeout), or the bytes are active content that the
    ``declared_type`` hides, the bytes are removed and the exception propagates.
    """
    upload_id = new_upload_id()
    area = get_temporary_area()
    name = safe_name(file_name)
    size = 0
    try:
        rules_for(None).check_name(name)
        with storage_failures(area, upload_id), area.create(upload_id) as out:
            for piece in pieces:
                out.write(piece)
                size += len(piece)
    except BaseException:
        delete_bytes(area, upload_id)
        raise
    return record_whole(area, upload_id, name, size, owner, declared_type=declared_type)


# --- chunked transfers ------------------------------------------------------------------------


def start_chunked(
    upload_length: int,
    field_name: str,
    metadata: dict[str, Any],
    owner: Owner,
    file_name: str | None = None,
    content_type: str = "",
) -> TemporaryUpload:
    """Open a chunked transfer of ``upload_length`` bytes; its bytes arrive by PATCH.

    A ``file_name`` known at the start (a tus client's metadata) is checked against the
    field's rules now; otherwise the first chunk names the transfer.
    """
    rules = rules_for(field_name)
    rules.check_size(upload_length)
    name = safe_name(file_name) if file_name else ""
    if name:
        rules.check_name(name)
    area = get_temporary_area()
    upload = _new_row(
        area,
        owner,
        upload_id=new_upload_id(),
        file_name=name,
        field_name=field_name,
        metadata=metadata,
        chunked=True,
        upload_length=upload_length,
        received=0,
        content_type=content_type or (guess_type(name) if name else ""),
    )
    if isinstance(area, LocalTemporaryArea):
        area.create(upload.upload_id).close()  # before the row: a row never lacks its file
    try:
        insert_within_limits(upload, owner, upload_length)
    except BaseException:
        if isinstance(area, LocalTemporaryArea):  # a storage area holds nothing yet
            area.delete(upload.upload_id)
        raise
    signals.send_on_commit(signals.upload_started, upload)
    return upload


def _visible(upload_id: str, request: Any) -> TemporaryUpload:
    """The requester's live upload ``upload_id``, read without a lock. Someone else's upload,
    or an expired one, is answered as unknown (404): no existence leak."""
    if not is_valid_upload_id(upload_id):
        raise exceptions.InvalidUploadId()
    try:
        upload: TemporaryUpload = TemporaryUpload.objects.get(pk=upload_id)
    except TemporaryUpload.DoesNotExist:
        raise unknown_upload_for(request) from None
    if not may_access(request, upload) or is_expired(upload):
        raise unknown_upload_for(request)
    return upload


def raise_if_rejected(upload: TemporaryUpload) -> None:
    if upload.rejected:
        raise UploadRejected(upload.rejected, upload.rejected_status or 415)


def body_pieces(read: Callable[[int], bytes], count: int, skip: int = 0) -> Iterator[bytes]:
    """Yield ``count`` bytes of a request body after discarding ``skip``, in bounded pieces.

    Raises :class:`~django_filepond_server.exceptions.BadUploadRequest` if the body ends early
    (the client went away), which makes the temporary area drop the chunk.
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


class BodyCheck(Protocol):
    """A check of a whole chunk body (a tus ``Upload-Checksum``): it sees every byte read,
    and :meth:`verify` raises once the body has arrived if the bytes are not what the client
    sent. The failure propagates before the chunk is recorded, so the chunk leaves no trace."""

    def update(self, data: bytes) -> None: ...

    def verify(self) -> None: ...


def _chunk_body(
    read: Callable[[int], bytes], count: int, skip: int, check: BodyCheck | None
) -> Iterator[bytes]:
    """:func:`body_pieces`, with every byte of the body (skipped ones too) given to ``check``,
    which is verified after the last one."""
    if check is None:
        yield from body_pieces(read, count, skip)
        return

    def checked_read(size: int) -> bytes:
        data = read(size)
        check.update(data)
        return data

    yield from body_pieces(checked_read, count, skip)
    check.verify()


def _check_chunk(
    upload: TemporaryUpload,
    offset: int,
    upload_length: int,
    count: int,
    exact: bool = False,
    check_start: bool = True,
) -> None:
    """Refuse a chunk that cannot fit, before any byte of it is read. ``exact`` refuses a
    chunk that does not start where the received bytes end (tus), instead of acknowledging
    the bytes already received. ``check_start=False`` leaves the chunk's start unchecked
    (a local area's row may lag behind its file until the file is locked)."""
    raise_if_rejected(upload)
    if not upload.chunked:
        raise exceptions.UploadConflict(_("That upload was not started as a chunked transfer."))
    if upload_length != upload.upload_length:
        raise exceptions.UploadConflict(
            _("Upload-Length changed from %(old)d to %(new)d during the transfer.")
            % {"old": upload.upload_length, "new": upload_length}
        )
    if offset + count > upload_length:
        raise exceptions.BadUploadRequest(
            _("The chunk runs past the declared Upload-Length of %(length)d bytes.")
            % {"length": upload_length}
        )
    if not check_start:
        return
    if offset > upload.received:
        raise exceptions.UploadConflict(
            _(
                "The chunk starts at byte %(offset)d but only %(received)d bytes have "
                "arrived; resume from byte %(received)d."
            )
            % {"offset": offset, "received": upload.received}
        )
    if exact and offset < upload.received:
        raise exceptions.UploadConflict(
            _(
                "The chunk starts at byte %(offset)d but %(received)d bytes have already "
                "arrived; resume from byte %(received)d."
            )
            % {"offset": offset, "received": upload.received}
        )


def _name_chunked(upload: TemporaryUpload, file_name: str | None) -> UploadRejected | None:
    """Give the transfer the name the first chunk carries; refuse it if the field's rules
    refuse the name (the caller records the refusal and removes the bytes)."""
    if not file_name or upload.file_name:
        return None
    upload.file_name = safe_name(file_name)
    upload.content_type = guess_type(upload.file_name)
    try:
        rules_for(upload.field_name).check_name(upload.file_name)
    except UploadRejected as rejection:
        upload.rejected, upload.rejected_status = rejection.message, rejection.status_code
        return rejection
    return None


# What receiving a chunk can change.
_CHUNK_FIELDS = [
    "received",
    "file_name",
    "content_type",
    "rejected",
    "rejected_status",
    "checking_since",
    "updated",
]


def receive_chunk(
    upload_id: str,
    request: Any,
    *,
    offset: int,
    upload_length: int | None,
    content_length: int,
    file_name: str | None,
    read: Callable[[int], bytes],
    exact: bool = False,
    check: BodyCheck | None = None,
) -> TemporaryUpload:
    """Write one PATCH body at ``offset`` and advance the received count.

    A chunk (or the part of one) that was already received is acknowledged without writing,
    unless ``exact`` asks for a 409 (tus); a gap, a changed ``Upload-Length`` (``None``: the
    declared one) or bytes past it are refused before anything is read. ``check`` verifies
    the body before it is recorded. The chunk that completes the upload also runs its checks,
    with no lock held.
    """
    upload = _visible(upload_id, request)
    if upload_length is None:
        upload_length = upload.upload_length or 0
    area = area_for(upload)
    local = isinstance(area, LocalTemporaryArea)
    _check_chunk(upload, offset, upload_length, content_length, exact, check_start=not local)
    if not upload.complete and upload.checking_since is None:
        if isinstance(area, LocalTemporaryArea):
            claimed = _receive_in_place(
                area, upload, offset, content_length, file_name, read, exact=exact, check=check
            )
        else:
            assert isinstance(area, StorageTemporaryArea)
            claimed = _receive_as_part(
                area, upload, offset, content_length, file_name, read, exact=exact, check=check
            )
        if claimed:
            _check_claimed(upload)
            return upload
    # A retried or empty last chunk: it gets the outcome of the upload's checks.
    if not upload.complete and upload.checking_since is not None:
        _await_checks(upload)
    raise_if_rejected(upload)
    return upload


def _await_checks(upload: TemporaryUpload) -> None:
    """Wait (a bounded time, no lock held) for the checks another request is running, and
    take them over if that request is presumed gone. Leaves ``upload`` as they ended."""
    deadline = time.monotonic() + CHECK_WAIT
    while True:
        if not _being_checked(upload):
            if _claim_stale_checks(upload):
                _check_claimed(upload)
                return
        elif time.monotonic() >= deadline:
            raise exceptions.UploadBeingChecked()
        else:
            time.sleep(0.1)
        try:
            upload.refresh_from_db()
        except TemporaryUpload.DoesNotExist:
            raise exceptions.UnknownUpload() from None
        if upload.complete or upload.checking_since is None:
            return


def _completes(upload: TemporaryUpload) -> bool:
    """Claim the checks if the bytes just recorded complete the upload."""
    if upload.complete or upload.checking_since is not None:
        return False
    if upload.received != upload.upload_length:
        return False
    upload.file_name = upload.file_name or safe_name(None)
    upload.checking_since = timezone.now()
    return True


def activity_interval() -> timedelta:
    """How long a local-area transfer's row may lag behind its file: a chunk that arrives
    later than this after the row's ``updated`` records its progress there, so a transfer
    in progress is never taken for abandoned (``TRANSFER_IDLE_TIMEOUT``)."""
    return min(ACTIVITY_INTERVAL, conf.TRANSFER_IDLE_TIMEOUT / 10)


def _receive_in_place(
    area: LocalTemporaryArea,
    upload: TemporaryUpload,
    offset: int,
    count: int,
    file_name: str | None,
    read: Callable[[int], bytes],
    exact: bool = False,
    check: BodyCheck | None = None,
) -> bool:
    """Append a chunk to the upload's file under its ``flock``; returns whether this request
    claimed the upload's checks.

    The file holds every byte that has arrived, in order, so its size is the received count.
    A chunk in the middle of a named transfer (one that does not complete it, while the
    row's activity is recent) is written without touching the row: ``upload`` was read just
    before, and what could have changed since shows in the file itself. A revert, a cleanup
    or a refusal unlinks it, and a chunk that completed the upload has filled it. Every other
    chunk reads the row again under the lock and records itself with a conditional
    ``UPDATE``.
    """
    end = offset + count
    upload_length = upload.upload_length or 0
    quick = (
        end < upload_length
        and bool(upload.file_name)
        and timezone.now() - upload.updated < activity_interval()
    )
    try:
        with area.locked(upload.upload_id) as f:
            before = os.fstat(f.fileno()).st_size
            if not quick or before >= upload_length:
                # Another chunk of this upload may have been recorded while this one waited
                # (and completed it), or the upload reverted or refused.
                try:
                    upload.refresh_from_db()
                except TemporaryUpload.DoesNotExist:
                    raise exceptions.UnknownUpload() from None
                if upload.complete or upload.checking_since is not None:
                    return False  # a retry of the last chunk: the caller reports the outcome
                quick = False
            recorded_before, named = upload.received, upload.file_name
            upload.received = before
            _check_chunk(upload, offset, upload_length, count, exact)
            rejection = _name_chunked(upload, file_name)
            if rejection is None and end > before:
                area.write_at(f, before, _chunk_body(read, end - before, before - offset, check))
                upload.received = end
            if quick:
                if os.fstat(f.fileno()).st_nlink == 0:
                    raise missing(upload)  # reverted or refused meanwhile: the file is gone
                return False
            claimed = rejection is None and _completes(upload)
            if upload.received == recorded_before and upload.file_name == named and not claimed:
                return False  # nothing new: acknowledged without a write
            upload.updated = timezone.now()
            # The guard keeps this from touching an upload that was removed, or whose checks
            # another request claimed, meanwhile.
            recorded = TemporaryUpload.objects.filter(
                pk=upload.upload_id, received=recorded_before, checking_since=None, complete=False
            ).update(**{name: getattr(upload, name) for name in _CHUNK_FIELDS})
            if not recorded:
                raise exceptions.UnknownUpload()
    except FileNotFoundError:
        raise missing(upload) from None
    if rejection is not None:
        delete_bytes(area, upload.upload_id)
        raise rejection
    return claimed


def _receive_as_part(
    area: StorageTemporaryArea,
    upload: TemporaryUpload,
    offset: int,
    count: int,
    file_name: str | None,
    read: Callable[[int], bytes],
    exact: bool = False,
    check: BodyCheck | None = None,
) -> bool:
    """Save a chunk as an object, then record the part of it that extends the upload under
    the row lock; returns whether this request claimed the upload's checks."""
    part = None
    if offset + count > upload.received:  # else already recorded: not even read
        try:
            part = area.save_chunk(upload.upload_id, offset, _chunk_body(read, count, 0, check))
        except (APIException, UnreadablePostError):  # bad input, or the client went away
            raise
        except Exception as exc:
            logger.warning(
                "Could not save a chunk of %s to the temporary storage %r: %s: %s",
                upload.upload_id,
                area.alias,
                type(exc).__name__,
                exc,
            )
            raise exceptions.StorageUnavailable() from exc
    used = False
    try:
        with transaction.atomic():
            try:
                locked = locked_row(TemporaryUpload, upload.upload_id)
            except TemporaryUpload.DoesNotExist:
                raise exceptions.UnknownUpload() from None
            if locked.complete or locked.checking_since is not None:
                _copy_state(locked, upload)  # a retry of the last chunk
                return False
            _check_chunk(locked, offset, locked.upload_length or 0, count, exact)
            rejection = _name_chunked(locked, file_name)
            before, end = locked.received, offset + count
            if rejection is None and part is not None and end > before:
                UploadPart.objects.create(
                    upload=locked,
                    offset=before,
                    length=end - before,
                    skip=before - offset,
                    name=part.name,
                )
                locked.received = end
                used = True
            claimed = rejection is None and _completes(locked)
            locked.save(update_fields=_CHUNK_FIELDS)
    finally:
        if part is not None and not used:
            area.discard(part.name)
    _copy_state(locked, upload)
    if rejection is not None:
        transaction.on_commit(lambda: delete_bytes(area, upload.upload_id))
        raise rejection
    return claimed


def _copy_state(source: TemporaryUpload, target: TemporaryUpload) -> None:
    for name in (*_CHUNK_FIELDS, "complete", "detected_type"):
        setattr(target, name, getattr(source, name))


def get_offset(upload_id: str, request: Any) -> TemporaryUpload:
    """The upload whose contiguous received bytes (``received``) a resume HEAD reports.

    In a local area that is the size of the transfer's file (see :func:`received`); the
    requests of one upload take turns on it anyway.
    """
    upload = _accepted(upload_id, request)
    upload.received = received(upload)
    return upload


def received(upload: TemporaryUpload) -> int:
    """How many bytes of ``upload`` have arrived, one after the other, from the first.

    That is the row's ``received``, but for a transfer in progress in the local area, whose
    row lags behind its file by up to :func:`activity_interval`: then the file's size, read
    once the chunk being written to it, if any, has ended.
    """
    if not upload.complete and upload.checking_since is None:
        area = area_for(upload)
        if isinstance(area, LocalTemporaryArea):
            size = area.settled_size(upload.upload_id)
            if size is not None and size > upload.received:
                return size
    return int(upload.received)


def _accepted(upload_id: str, request: Any) -> TemporaryUpload:
    upload = _visible(upload_id, request)
    raise_if_rejected(upload)
    return upload


def get_restorable(upload_id: str, request: Any) -> TemporaryUpload:
    """The requester's finished, accepted temporary upload ``upload_id``."""
    upload = _accepted(upload_id, request)
    if not upload.complete:
        if upload.checking_since is not None:
            raise exceptions.UploadBeingChecked()
        raise exceptions.UploadConflict(_("That upload has not finished yet."))
    return upload


def open_restorable(upload: TemporaryUpload) -> BinaryIO:
    area = area_for(upload)
    try:
        with storage_failures(area, upload.upload_id):
            return area.open(upload.upload_id)
    except FileNotFoundError:
        raise missing(upload) from None


def revert(upload_id: str, request: Any) -> None:
    """Delete a temporary upload, finished or in progress (or refused), with its bytes."""
    if not is_valid_upload_id(upload_id):
        raise exceptions.InvalidUploadId()
    with transaction.atomic():
        try:
            upload = locked_row(TemporaryUpload, upload_id)
        except TemporaryUpload.DoesNotExist:
            raise unknown_upload_for(request) from None
        if not may_access(request, upload) or is_expired(upload):
            raise unknown_upload_for(request)
        area = area_for(upload)
        upload.delete()
        upload.upload_id = upload_id  # delete() cleared the pk; receivers want the id
        transaction.on_commit(lambda: delete_bytes(area, upload_id))
        signals.send_on_commit(signals.upload_reverted, upload)


def delete_bytes(area: TemporaryArea, upload_id: str) -> None:
    """Remove an upload's bytes (its row is gone, or records a refusal). A failure is logged,
    not raised: the answer stands, and ``filepond_cleanup`` removes what is left later."""
    try:
        area.delete(upload_id)
    except Exception:
        logger.warning("Could not remove the bytes of upload %s", upload_id, exc_info=True)
