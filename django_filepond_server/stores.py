"""Putting an upload into a remote store without holding it in memory and without ever
replacing an existing file: S3 (django-storages' ``S3Storage``) and SFTP (``SFTPStorage``).

Into SFTP, the file is created with ``O_EXCL`` (SFTP's exclusive create), so a name another
store took after it looked free is detected and another name is picked.

Into S3:

From a temporary area on the same S3 endpoint the bytes never pass through the app: every
part is copied by S3 itself (``UploadPartCopy``), which S3 allows when every part but the last
has at least 5 MiB. Otherwise the bytes are streamed through a multipart upload, one bounded
buffer at a time. The object appears only when ``CompleteMultipartUpload`` (or ``PutObject``
for a small file) succeeds with ``If-None-Match: *``, so a name taken meanwhile is detected
and another one is picked.

A multipart upload that an interrupted store leaves behind costs storage until it is
aborted: a marker written in the temporary area for the duration of each one lets
``filepond_cleanup`` abort those whose store never finished (:func:`abort_stale`).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import posixpath
import secrets
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.utils import timezone

from django_filepond_server.conf import conf
from django_filepond_server.storage import list_files
from django_filepond_server.temporary import (
    SPOOL_IN_MEMORY,
    LocalTemporaryArea,
    Part,
    StorageTemporaryArea,
    TemporaryArea,
    get_temporary_area,
)

logger = logging.getLogger(__name__)

#: Every part of a multipart upload but the last must be at least this large (S3's rule).
PART_MIN = 5 * 1024 * 1024
#: Largest range ``UploadPartCopy`` copies in one part.
COPY_MAX = 5 * 1024 * 1024 * 1024
#: Size of the parts when the bytes are streamed through the app; each is spooled to a
#: temporary file (``FILE_UPLOAD_TEMP_DIR``), of which at most ``SPOOL_IN_MEMORY`` in memory.
STREAM_PART = 8 * 1024 * 1024
#: Bytes read from the temporary area at a time while a part is spooled.
COPY_PIECE = 1024 * 1024
#: Directory of the markers of multipart uploads in progress, in the temporary area.
MARKERS = "_stores"
#: Attempts at a free name when others take the chosen ones first.
NAME_ATTEMPTS = 10


class NameTaken(Exception):
    """Another writer created the object first (``If-None-Match`` failed)."""


def is_s3(storage: Any) -> bool:
    return getattr(storage, "bucket", None) is not None and hasattr(storage, "_normalize_name")


def _client(storage: Any) -> Any:
    return storage.connection.meta.client


def _key(storage: Any, name: str) -> str:
    from storages.utils import clean_name

    return str(storage._normalize_name(clean_name(name)))


def same_endpoint(a: Any, b: Any) -> bool:
    """Whether S3 can copy between the two storages by itself."""
    return bool(is_s3(a) and is_s3(b)) and (
        _client(a).meta.endpoint_url == _client(b).meta.endpoint_url
        and _client(a).meta.region_name == _client(b).meta.region_name
    )


def _error_code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def put(area: TemporaryArea, upload: Any, storage: Storage, name: str) -> tuple[str, int]:
    """Write ``upload`` to the S3 ``storage`` under ``name``, or under another free name if
    that one is taken. Returns the name and the number of bytes that passed through the app
    (0 for a server-side copy)."""
    for _attempt in range(NAME_ATTEMPTS):
        name = free_name(storage, name)
        try:
            return name, _write(area, upload, storage, name)
        except NameTaken:
            continue
    raise FileExistsError(f"no free name found for {name!r} after {NAME_ATTEMPTS} attempts")


def is_sftp(storage: Any) -> bool:
    return hasattr(storage, "_remote_path") and hasattr(storage, "sftp")


def put_sftp(area: TemporaryArea, upload: Any, storage: Any, name: str) -> str:
    """Write ``upload`` to the SFTP ``storage`` under ``name``, or another free name if that
    one is taken meanwhile (exclusive create); returns the name."""
    for _attempt in range(NAME_ATTEMPTS):
        name = free_name(storage, name)
        path = storage._remote_path(name)
        directory = posixpath.dirname(path)
        if not storage._path_exists(directory):
            try:
                storage._mkdir(directory)
            except OSError:
                if not storage._path_exists(directory):  # not made by a racing store either
                    raise
        try:
            remote = storage.sftp.open(path, "wx")  # write, create exclusively
        except OSError:
            if storage._path_exists(path):
                continue  # taken meanwhile
            raise
        try:
            written = 0
            with remote, area.open(upload.upload_id) as f:
                remote.set_pipelined(True)
                while block := f.read(STREAM_PART):
                    remote.write(block)
                    written += len(block)
            # Pipelined writes report no error on their own (a full disk, a quota): compare.
            size = storage.sftp.stat(path).st_size
            if size != written:
                raise OSError(f"the server kept {size} of the {written} bytes written")
            if storage.file_mode is not None:
                storage.sftp.chmod(path, storage.file_mode)
            if storage.uid or storage.gid:
                storage._chown(path, uid=storage.uid, gid=storage.gid)
        except BaseException:
            with contextlib.suppress(Exception):
                storage.sftp.remove(path)
            raise
        return name
    raise FileExistsError(f"no free name found for {name!r} after {NAME_ATTEMPTS} attempts")


def free_name(storage: Storage, name: str) -> str:
    """A name not taken in ``storage``, even where the backend would overwrite (S3's
    ``file_overwrite`` default): a stored upload never replaces another one's bytes."""
    name = storage.get_available_name(name)
    directory, base = posixpath.split(name)
    root, ext = posixpath.splitext(base)
    while storage.exists(name):
        name = posixpath.join(directory, storage.get_alternative_name(root, ext))
    return name


def _write(area: TemporaryArea, upload: Any, storage: Any, name: str) -> int:
    client = _client(storage)
    bucket, key = storage.bucket_name, _key(storage, name)
    parameters = dict(getattr(storage, "object_parameters", {}) or {})
    parameters.setdefault("ContentType", upload.content_type or "application/octet-stream")
    parts = _copyable_parts(area, upload, storage)
    if parts is None and upload.received <= STREAM_PART:
        with area.open(upload.upload_id) as f, _spool() as body:
            sent = _copy(f, body, STREAM_PART)
            body.seek(0)
            try:
                client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*", **parameters)
            except Exception as exc:
                if _error_code(exc) == "PreconditionFailed":
                    raise NameTaken() from exc
                raise
        return sent
    multipart = client.create_multipart_upload(Bucket=bucket, Key=key, **parameters)
    upload_id = multipart["UploadId"]
    marker = _write_marker(storage, bucket, key, upload_id)
    try:
        if parts is not None:
            assert isinstance(area, StorageTemporaryArea)
            done, through_app = _copy_parts(area, storage, parts, bucket, key, upload_id), 0
        else:
            done, through_app = _stream_parts(area, upload, client, bucket, key, upload_id)
        try:
            client.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},
                IfNoneMatch="*",
            )
        except Exception as exc:
            if _error_code(exc) == "PreconditionFailed":
                raise NameTaken() from exc
            raise
    except BaseException:
        with contextlib.suppress(Exception):
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    finally:
        _remove_marker(marker)
    return through_app


def _copyable_parts(area: TemporaryArea, upload: Any, storage: Any) -> list[Part] | None:
    """The upload's parts, when S3 can copy them into a multipart upload by itself."""
    if not isinstance(area, StorageTemporaryArea) or not same_endpoint(area.storage, storage):
        return None
    parts = area.parts(upload.upload_id)
    if not parts or any(part.length == 0 or part.length > COPY_MAX for part in parts):
        return None
    if any(part.length < PART_MIN for part in parts[:-1]):
        return None  # S3 refuses small parts; FilePond's default 5,000,000-byte chunks are
    return parts


def _copy_parts(
    area: StorageTemporaryArea,
    storage: Any,
    parts: list[Part],
    bucket: str,
    key: str,
    upload_id: str,
) -> list[dict[str, Any]]:
    client = _client(storage)
    source_bucket = area.storage.bucket_name  # type: ignore[attr-defined]
    done = []
    for number, part in enumerate(parts, start=1):
        answer = client.upload_part_copy(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            CopySource={"Bucket": source_bucket, "Key": _key(area.storage, part.name)},
            CopySourceRange=f"bytes={part.skip}-{part.skip + part.length - 1}",
        )
        done.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
    return done


def _stream_parts(
    area: TemporaryArea, upload: Any, client: Any, bucket: str, key: str, upload_id: str
) -> tuple[list[dict[str, Any]], int]:
    """Upload the bytes as parts of :data:`STREAM_PART` bytes (the last may be shorter), each
    spooled to a temporary file first: botocore reads a file body in small pieces, where a
    ``bytes`` body would be held, and copied, whole."""
    done: list[dict[str, Any]] = []
    sent = 0
    with area.open(upload.upload_id) as f:
        while sent < upload.received:
            with _spool() as body:
                length = _copy(f, body, STREAM_PART)
                if not length:
                    raise OSError(f"upload {upload.upload_id} ended at byte {sent}")
                body.seek(0)
                number = len(done) + 1
                answer = client.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                )
            done.append({"PartNumber": number, "ETag": answer["ETag"]})
            sent += length
    return done, sent


def _spool() -> tempfile.SpooledTemporaryFile[bytes]:
    return tempfile.SpooledTemporaryFile(
        max_size=SPOOL_IN_MEMORY, dir=settings.FILE_UPLOAD_TEMP_DIR
    )


def _copy(source: Any, sink: Any, limit: int) -> int:
    """Copy up to ``limit`` bytes of ``source`` to ``sink`` in bounded pieces; how many."""
    copied = 0
    while copied < limit:
        piece = source.read(min(COPY_PIECE, limit - copied))
        if not piece:
            break
        sink.write(piece)
        copied += len(piece)
    return copied


# --- markers of multipart uploads in progress -------------------------------------------------


def _alias_of(storage: Any) -> str | None:
    for alias in getattr(settings, "STORAGES", {}) or {}:
        with contextlib.suppress(Exception):
            if storages[alias] is storage:
                return str(alias)
    return None


def _write_marker(storage: Any, bucket: str, key: str, upload_id: str) -> tuple[Any, str] | None:
    """Record a multipart upload in progress; a failure to record it is logged, not raised
    (a bucket lifecycle rule is the safety net)."""
    record = {
        "alias": _alias_of(storage),
        "endpoint": _client(storage).meta.endpoint_url,
        "bucket": bucket,
        "key": key,
        "upload_id": upload_id,
    }
    area = get_temporary_area()
    name = f"{MARKERS}/{secrets.token_hex(8)}.json"
    data = json.dumps(record).encode()
    try:
        if isinstance(area, StorageTemporaryArea):
            area.save(name, io.BytesIO(data))
            return area, name
        assert isinstance(area, LocalTemporaryArea)
        path = os.path.join(area.directory, MARKERS, os.path.basename(name))
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, "xb") as f:
            f.write(data)
        return area, path
    except Exception:
        logger.warning("Could not record the multipart upload %s of %s", upload_id, key)
        return None


def _remove_marker(marker: tuple[Any, str] | None) -> None:
    if marker is None:
        return
    area, name = marker
    try:
        if isinstance(area, StorageTemporaryArea):
            area.storage.delete(name)
        else:
            os.remove(name)
    except Exception:
        logger.warning("Could not remove the marker %s", name)


def _markers(older_than: timedelta) -> Iterator[tuple[dict[str, Any], Any]]:
    """The markers older than ``older_than``, with how to remove each."""
    area = get_temporary_area()
    cutoff = timezone.now() - older_than
    if isinstance(area, StorageTemporaryArea):
        for entry in list_files(area.storage, MARKERS + "/"):
            if entry.modified is None or entry.modified >= cutoff:
                continue
            with area.storage.open(entry.name, "rb") as f:
                yield json.loads(f.read()), (area, entry.name)
        return
    assert isinstance(area, LocalTemporaryArea)
    directory = os.path.join(area.directory, MARKERS)
    if not os.path.isdir(directory):
        return
    for found in os.scandir(directory):
        if found.stat().st_mtime >= cutoff.timestamp():
            continue
        with open(found.path, "rb") as f:
            yield json.loads(f.read()), (area, found.path)


def _client_for(record: dict[str, Any]) -> Any:
    """A client with credentials for the marker's bucket: its storage's, else the permanent
    store's or the temporary storage's when they are on that endpoint."""
    candidates = [record.get("alias"), conf.STORAGE, conf.TEMP_STORAGE]
    for alias in candidates:
        if not alias:
            continue
        with contextlib.suppress(Exception):
            storage = storages[alias]
            if is_s3(storage) and _client(storage).meta.endpoint_url == record["endpoint"]:
                return _client(storage)
    return None


def abort_stale(*, older_than: timedelta, dry_run: bool = False) -> int:
    """Abort the multipart uploads of stores that never finished (their marker is older than
    ``older_than``); returns how many."""
    aborted = 0
    for record, marker in _markers(older_than):
        client = _client_for(record)
        if client is None:
            logger.warning(
                "No storage with credentials for %s on %s; a bucket lifecycle rule must abort "
                "the multipart upload %s of %s",
                record["bucket"],
                record["endpoint"],
                record["upload_id"],
                record["key"],
            )
            continue
        aborted += 1
        if dry_run:
            continue
        try:
            client.abort_multipart_upload(
                Bucket=record["bucket"], Key=record["key"], UploadId=record["upload_id"]
            )
        except Exception as exc:
            if _error_code(exc) not in ("NoSuchUpload", "404"):
                logger.warning("Could not abort the multipart upload %s", record["upload_id"])
                aborted -= 1
                continue
        _remove_marker(marker)
    return aborted
