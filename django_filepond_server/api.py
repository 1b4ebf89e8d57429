"""The Python API: promote temporary uploads into the permanent store, read and remove them."""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage
from django.db import transaction

from django_filepond_server import signals, stores
from django_filepond_server.conf import conf
from django_filepond_server.exceptions import (
    StorageFailed,
    UploadIncomplete,
    UploadNotFound,
    UploadNotOwned,
    UploadRejected,
)
from django_filepond_server.models import (
    StoredUpload,
    TemporaryUpload,
    is_valid_upload_id,
    lock_row,
)
from django_filepond_server.names import safe_name
from django_filepond_server.ownership import owner_of
from django_filepond_server.rules import UploadRules, detect_type, resolve_rules
from django_filepond_server.storage import get_permanent_storage, open_stored
from django_filepond_server.temporary import area_for
from django_filepond_server.transfers import delete_bytes, is_expired, received

__all__ = [
    "check_upload",
    "delete_stored_upload",
    "get_stored_upload",
    "get_stored_upload_file_data",
    "get_temporary_upload",
    "received_bytes",
    "save_upload",
    "store_submitted_uploads",
    "store_upload",
    "submitted_upload_ids",
]

logger = logging.getLogger(__name__)

# Errors of os.link() after which copying is the way to go (other filesystem, no hard links).
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


def get_temporary_upload(upload_id: str) -> TemporaryUpload:
    """The temporary upload ``upload_id``; :class:`UploadNotFound` if there is none."""
    if not is_valid_upload_id(upload_id):
        raise UploadNotFound(f"{upload_id!r} is not a valid upload id.")
    try:
        upload: TemporaryUpload = TemporaryUpload.objects.get(pk=upload_id)
    except TemporaryUpload.DoesNotExist:
        raise UploadNotFound(f"No temporary upload has the id {upload_id!r}.") from None
    return upload


def received_bytes(upload: TemporaryUpload) -> int:
    """How many bytes of the temporary upload ``upload`` have arrived, from the first on.

    ``upload.received`` says the same for a finished upload, and during a transfer in a
    temporary area on a storage. During a transfer in the local area the file is ahead of
    the row by up to 30 seconds of chunks, and this reads the file (waiting for a chunk being
    written to it, if any), as a resume ``HEAD`` does.
    """
    return received(upload)


def get_stored_upload(upload_id: str) -> StoredUpload:
    """The stored upload ``upload_id``; :class:`UploadNotFound` if there is none."""
    if not is_valid_upload_id(upload_id):
        raise UploadNotFound(f"{upload_id!r} is not a valid upload id.")
    try:
        stored: StoredUpload = StoredUpload.objects.get(pk=upload_id)
    except StoredUpload.DoesNotExist:
        raise UploadNotFound(f"No stored upload has the id {upload_id!r}.") from None
    return stored


def get_stored_upload_file_data(stored_upload: StoredUpload) -> tuple[str, BinaryIO]:
    """``(name, file)`` of a stored upload: the client's file name and the stored bytes,
    open for reading. The file streams from the storage (S3 and SFTP included); close it when
    done. A failure of the storage raises :class:`StorageFailed`."""
    try:
        f = open_stored(str(stored_upload.file.name))
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise StorageFailed(
            f"Could not open {stored_upload.file.name!r} in the permanent store "
            f"{conf.STORAGE!r}: {type(exc).__name__}: {exc}"
        ) from exc
    return stored_upload.original_name, f


def delete_stored_upload(upload_id: str, delete_file: bool = False) -> bool:
    """Delete the record of a stored upload, and its file when ``delete_file`` is true.

    The file is deleted inside the transaction that deletes the row: if the storage refuses,
    :class:`StorageFailed` is raised and the row stays, so no row points at a missing file and
    no file is silently kept. Returns ``True``.
    """
    get_stored_upload(upload_id)
    with transaction.atomic():
        if not lock_row(StoredUpload, upload_id):
            raise UploadNotFound(f"No stored upload has the id {upload_id!r}.")
        stored = StoredUpload.objects.select_for_update().get(pk=upload_id)
        name = stored.file.name
        stored.delete()
        if delete_file:
            try:
                get_permanent_storage().delete(name)
            except Exception as exc:
                raise StorageFailed(
                    f"Could not delete {name!r} from the permanent store {conf.STORAGE!r}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
    return True


def _destination_name(destination_file_path: str, original_name: str) -> str:
    """The storage name for ``destination_file_path``: relative, no traversal, safe basename."""
    if not isinstance(destination_file_path, str) or not destination_file_path.strip():
        raise ValueError("destination_file_path must be a non-empty path such as 'uploads/'.")
    if "\x00" in destination_file_path or "\\" in destination_file_path:
        raise SuspiciousFileOperation(
            f"The destination {destination_file_path!r} contains a NUL byte or a backslash."
        )
    keep_name = destination_file_path.endswith("/")
    parts = [part for part in destination_file_path.split("/") if part not in ("", ".")]
    if any(char < " " or char == "\x7f" for char in destination_file_path):
        raise SuspiciousFileOperation(
            f"The destination {destination_file_path!r} contains control characters."
        )
    if ".." in parts:
        raise SuspiciousFileOperation(
            f"The destination {destination_file_path!r} would escape the storage."
        )
    if keep_name:
        parts.append(original_name)
    if not parts:
        raise ValueError("destination_file_path must name a file or end with '/'.")
    parts[-1] = safe_name(parts[-1])
    return "/".join(parts)


def _move_into(storage: FileSystemStorage, source: str, name: str) -> str:
    """Hard-link ``source`` under a free ``name`` in ``storage``: a move that never overwrites.

    ``os.link`` fails if the target exists, so two stores racing for one name both succeed
    with different names. The source is unlinked once the database change commits.
    """
    while True:
        name = storage.get_available_name(name)
        target = storage.path(name)
        directory = os.path.dirname(target)
        if storage.directory_permissions_mode is not None:
            old_umask = os.umask(0o777 & ~storage.directory_permissions_mode)
            try:
                os.makedirs(directory, storage.directory_permissions_mode, exist_ok=True)
            finally:
                os.umask(old_umask)
        else:
            os.makedirs(directory, exist_ok=True)
        try:
            os.link(source, target)
        except FileExistsError:
            continue
        if storage.file_permissions_mode is not None:
            os.chmod(target, storage.file_permissions_mode)
        return name.replace("\\", "/")


def _put(upload: TemporaryUpload, storage: Storage, name: str) -> str:
    """Put the temporary bytes into ``storage`` as ``name`` or a free variant of it; returns
    the name really saved. A move on one filesystem, S3's own copies (or a bounded streamed
    upload) into S3, one streamed pass into any other storage."""
    area = area_for(upload)
    source = area.local_path(upload.upload_id)
    if source is not None and isinstance(storage, FileSystemStorage):
        try:
            return _move_into(storage, source, name)
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise
    if stores.is_s3(storage):
        saved, through_app = stores.put(area, upload, storage, name)
        logger.debug("Stored %s as %s; %d bytes passed through the app", upload, saved, through_app)
        return saved
    if stores.is_sftp(storage):
        return stores.put_sftp(area, upload, storage, name)
    name = stores.free_name(storage, name)
    try:
        with area.open(upload.upload_id) as f:
            return storage.save(name, File(f, name=name))
    except BaseException as exc:
        # A backend may leave a partial file behind; the name was free, so it is ours.
        undo_write(storage, name, exc)
        raise


def undo_write(storage: Storage, name: str, error: BaseException) -> None:
    """Delete a file an all-or-nothing store wrote before ``error``. If that fails too, the
    file is left behind: say so in the log and in a note on ``error`` (which propagates)."""
    try:
        storage.delete(name)
    except Exception as exc:
        message = (
            f"The file {name!r} written before the failure could not be removed "
            f"({type(exc).__name__}: {exc}); it is left behind in the storage."
        )
        logger.error(message)
        if hasattr(error, "add_note"):
            error.add_note(message)
        else:  # Python 3.10
            error.__notes__ = [*getattr(error, "__notes__", []), message]  # type: ignore[attr-defined]


def _check_owner(upload: TemporaryUpload, request: Any, user: Any) -> None:
    # A request is checked like the endpoints check it (FILEPOND_SERVER_CHECK_OWNER); a user
    # named explicitly is always checked.
    if request is not None and conf.CHECK_OWNER and not owner_of(request).owns(upload):
        raise UploadNotOwned(
            f"Upload {upload.upload_id!r} does not belong to the user or session of this request."
        )
    if user is not None and (upload.owner_id is None or upload.owner_id != user.pk):
        raise UploadNotOwned(f"Upload {upload.upload_id!r} does not belong to {user!s}.")


def _check(upload: TemporaryUpload, request: Any, user: Any, rules: Any) -> None:
    """What every promotion checks, in this order: expiry, owner, refusal, completion, rules."""
    if is_expired(upload):
        raise UploadNotFound(f"Temporary upload {upload.upload_id!r} has expired.")
    _check_owner(upload, request, user)
    if upload.rejected:
        raise UploadRejected(upload.rejected, upload.rejected_status or 415)
    if not upload.complete:
        raise UploadIncomplete(
            f"Upload {upload.upload_id!r} has {upload.received} of {upload.upload_length} "
            "bytes; it cannot be stored before it is complete."
        )
    if rules is not None:
        resolve_rules(rules).check(
            upload.file_name, upload.received, upload.detected_type or _sniff(upload)
        )


def check_upload(
    upload_id: str,
    *,
    request: Any = None,
    user: Any = None,
    rules: str | Mapping[str, Any] | UploadRules | None = None,
) -> TemporaryUpload:
    """The finished temporary upload ``upload_id``, checked exactly as :func:`store_upload`
    would check it, without storing anything.

    Raises :class:`UploadNotFound` (unknown, invalid or expired id),
    :class:`UploadNotOwned`, :class:`UploadRejected` (refused when it arrived, or breaking
    ``rules``) or :class:`UploadIncomplete`. A form validates submitted ids with it; storing
    checks again, under the row lock, so an upload reverted in between is never stored.
    """
    upload = get_temporary_upload(upload_id)
    _check(upload, request, user, rules)
    return upload


def _promote(
    upload_id: str,
    storage: Storage,
    name_for: Callable[[TemporaryUpload], str],
    *,
    where: str,
    request: Any,
    user: Any,
    rules: Any,
    record: Callable[[TemporaryUpload, str], Any],
) -> Any:
    """Lock, check and put the bytes of ``upload_id`` into ``storage`` under a free name
    derived from ``name_for(upload)``, then ``record(upload, saved_name)`` in the same
    transaction. The temporary upload is deleted when that transaction commits; if anything
    fails, the file just saved is deleted again and the temporary upload stays intact."""
    get_temporary_upload(upload_id)
    saved: str | None = None
    try:
        with transaction.atomic():
            # Lock first: on SQLite a read before the first write can deadlock two stores.
            if not lock_row(TemporaryUpload, upload_id):  # stored by a concurrent call
                raise UploadNotFound(f"No temporary upload has the id {upload_id!r}.")
            upload: TemporaryUpload = TemporaryUpload.objects.select_for_update().get(pk=upload_id)
            _check(upload, request, user, rules)
            name = name_for(upload)
            try:
                saved = _put(upload, storage, name)
            except (SuspiciousFileOperation, FileExistsError):
                raise
            except Exception as exc:
                raise StorageFailed(
                    f"Could not save {name!r} to {where}: {type(exc).__name__}: {exc}"
                ) from exc
            result = record(upload, saved)
            area = area_for(upload)
            upload.delete()
            upload.upload_id = upload_id
            transaction.on_commit(lambda: delete_bytes(area, upload_id))
    except BaseException as exc:
        if saved is not None:
            undo_write(storage, saved, exc)
        raise
    return result


def store_upload(
    upload_id: str,
    destination_file_path: str,
    *,
    request: Any = None,
    user: Any = None,
    rules: str | Mapping[str, Any] | UploadRules | None = None,
) -> StoredUpload:
    """Promote the finished temporary upload ``upload_id`` into the permanent store.

    ``destination_file_path`` is relative to the store configured by
    ``FILEPOND_SERVER_STORAGE``. Ending it with ``/`` keeps the upload's (sanitised) file name:
    ``"invoices/"`` stores ``invoices/<name>``; otherwise its last part is the new name. A
    leading ``/`` is dropped; a path that would escape the store raises
    :class:`~django.core.exceptions.SuspiciousFileOperation`.

    Pass the ``request`` whose form submitted the id (or the ``user`` it must belong to) and
    an upload made by anyone else raises :class:`UploadNotOwned`. Pass ``rules`` (a field
    name of ``FILEPOND_SERVER_UPLOAD_RULES``, a mapping of rules, or
    :class:`~django_filepond_server.rules.UploadRules`) to check the upload again here, so
    the server never relies on the field the client said it used; a breach raises
    :class:`UploadRejected`.

    On a local :class:`~django.core.files.storage.FileSystemStorage` the file is moved, not
    copied. The record keeps the name the storage really saved (storages pick another name
    when one is taken). It is all or nothing: if anything fails, the temporary upload is left
    intact, no :class:`~django_filepond_server.models.StoredUpload` row exists and no stored
    file is left behind. ``upload_stored`` is sent once the change is committed.

    Raises :class:`~django_filepond_server.exceptions.UploadNotFound` for an unknown or expired
    id and :class:`~django_filepond_server.exceptions.UploadIncomplete` for a transfer still
    under way.
    """

    def record(upload: TemporaryUpload, saved: str) -> StoredUpload:
        stored: StoredUpload = StoredUpload.objects.create(
            upload_id=upload.upload_id,
            file=saved,
            original_name=upload.file_name,
            size=upload.received,
            content_type=upload.content_type,
            detected_type=upload.detected_type,
            owner_id=upload.owner_id,
            uploaded=upload.created,
        )
        signals.send_on_commit(signals.upload_stored, stored, temporary_upload=upload)
        return stored

    result: StoredUpload = _promote(
        upload_id,
        get_permanent_storage(),
        lambda upload: _destination_name(destination_file_path, upload.file_name),
        where=f"the permanent store {conf.STORAGE!r}",
        request=request,
        user=user,
        rules=rules,
        record=record,
    )
    return result


def save_upload(
    upload_id: str,
    storage: Storage,
    name: str | Callable[[TemporaryUpload], str],
    *,
    request: Any = None,
    user: Any = None,
    rules: str | Mapping[str, Any] | UploadRules | None = None,
) -> str:
    """Put the finished temporary upload ``upload_id`` into any ``storage`` and return the
    name the storage really saved; no :class:`~django_filepond_server.models.StoredUpload`
    is recorded. This is how a model's ``FileField`` gets an upload: pass the field's
    storage and a name built with its ``upload_to``.

    ``name`` is a storage name, or a callable that receives the
    :class:`~django_filepond_server.models.TemporaryUpload` (to use its ``file_name``) and
    returns one. A name that is taken is never overwritten: another one is picked, as
    :func:`store_upload` does. The checks (``request``, ``user``, ``rules``), the
    exceptions and the all-or-nothing behaviour are those of :func:`store_upload`; the
    temporary upload is removed, and ``upload_saved`` sent, when the surrounding transaction
    commits.
    """

    def name_for(upload: TemporaryUpload) -> str:
        return name(upload) if callable(name) else name

    def record(upload: TemporaryUpload, saved: str) -> str:
        signals.send_on_commit(signals.upload_saved, upload, storage=storage, name=saved)
        return saved

    result: str = _promote(
        upload_id,
        storage,
        name_for,
        where=f"the storage {type(storage).__name__}",
        request=request,
        user=user,
        rules=rules,
        record=record,
    )
    return result


def _sniff(upload: TemporaryUpload) -> str:
    with area_for(upload).open(upload.upload_id) as f:
        return detect_type(f)


def submitted_upload_ids(request: Any, field_name: str = "filepond") -> list[str]:
    """The upload ids FilePond's hidden inputs submitted under ``field_name``, in order,
    without the empty values of items that were never uploaded, and without repeats."""
    return list(dict.fromkeys(value for value in request.POST.getlist(field_name) if value))


def store_submitted_uploads(
    request: Any,
    field_name: str,
    destination_file_path: str,
    *,
    rules: str | Mapping[str, Any] | UploadRules | None = None,
) -> list[StoredUpload]:
    """Store every upload a form submitted under ``field_name``, each checked to belong to
    the submitting user or session (and against ``rules`` when given).

    All or nothing: if any id is unknown, expired, unfinished, refused, someone else's, breaks
    ``rules``, or cannot be stored, the exception propagates and nothing is stored (files
    already written for the form are removed again; every temporary upload stays).
    """
    ids = submitted_upload_ids(request, field_name)
    storage = get_permanent_storage()
    stored: list[StoredUpload] = []
    try:
        # One transaction: the temporary uploads are only deleted once every store succeeded.
        with transaction.atomic():
            for upload_id in ids:
                stored.append(
                    store_upload(upload_id, destination_file_path, request=request, rules=rules)
                )
    except BaseException as exc:
        for done in stored:
            undo_write(storage, str(done.file.name), exc)
        raise
    return stored
