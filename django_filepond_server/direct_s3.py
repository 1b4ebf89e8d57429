"""The S3 side of direct uploads: the presigned requests the browser sends its bytes with, and
what the app itself asks the bucket when an upload completes, is aborted or is cleaned up.

Every call goes through the boto3 client of the temporary storage (django-storages'
``S3Storage``), so presigned URLs point at the endpoint, bucket and addressing style that
storage is configured with.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from django_filepond_server import stores
from django_filepond_server.rules import SNIFF_BYTES
from django_filepond_server.temporary import StorageTemporaryArea

#: The Content-Type every direct object is written with: the app never trusts the browser's
#: declared type (it sniffs the bytes) and never serves a temporary object from the bucket.
OCTET_STREAM = "application/octet-stream"


def _client(area: StorageTemporaryArea) -> Any:
    """The storage's boto3 client, presigning with Signature Version 4.

    For the regions that still accept Signature Version 2, botocore presigns with it unless
    the client is configured with a version (django-storages' ``signature_version``); S3
    has deprecated it, and its POST policies are not those of version 4. A client configured
    with another version keeps it.
    """
    client = stores._client(area.storage)
    client.meta.events.register_first(
        "choose-signer.s3", _keep_sigv4, unique_id="django_filepond_server.direct.sigv4"
    )
    return client


def _keep_sigv4(signature_version: str, **kwargs: Any) -> str | None:
    for suffix in ("-query", "-presign-post"):
        if signature_version in (f"v4{suffix}", f"s3v4{suffix}"):
            return f"s3v4{suffix}"
    return None


def _bucket(area: StorageTemporaryArea) -> str:
    return str(area.storage.bucket_name)  # type: ignore[attr-defined]


def is_s3_area(area: Any) -> bool:
    return isinstance(area, StorageTemporaryArea) and stores.is_s3(area.storage)


def key_of(area: StorageTemporaryArea, name: str) -> str:
    """The object key of the area's name ``name`` (under the storage's location)."""
    return stores._key(area.storage, name)


def prefix_of(area: StorageTemporaryArea) -> str:
    """The prefix of every key of the area: its location and a slash, or nothing."""
    return str(area.storage._normalize_name(""))  # type: ignore[attr-defined]


def presigned_post(area: StorageTemporaryArea, key: str, size: int, expiry: int) -> dict[str, Any]:
    """A browser form POST that can create ``key`` and nothing else: exactly ``size`` bytes,
    of type :data:`OCTET_STREAM`, until ``expiry`` seconds from now (S3 enforces the policy)."""
    answer: dict[str, Any] = _client(area).generate_presigned_post(
        Bucket=_bucket(area),
        Key=key,
        Fields={"Content-Type": OCTET_STREAM},
        Conditions=[{"Content-Type": OCTET_STREAM}, ["content-length-range", size, size]],
        ExpiresIn=expiry,
    )
    return {"url": answer["url"], "fields": answer["fields"]}


def create_multipart(area: StorageTemporaryArea, key: str) -> str:
    answer = _client(area).create_multipart_upload(
        Bucket=_bucket(area), Key=key, ContentType=OCTET_STREAM
    )
    return str(answer["UploadId"])


def presigned_part(
    area: StorageTemporaryArea, key: str, multipart_id: str, number: int, expiry: int
) -> str:
    """A URL that PUTs part ``number`` of the multipart upload, until ``expiry`` seconds from
    now. S3 does not limit a part's size: completing checks the parts against the plan."""
    return str(
        _client(area).generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": _bucket(area),
                "Key": key,
                "UploadId": multipart_id,
                "PartNumber": number,
            },
            ExpiresIn=expiry,
            HttpMethod="PUT",
        )
    )


@dataclass(frozen=True)
class ListedPart:
    number: int
    size: int
    etag: str


def listed_parts(
    area: StorageTemporaryArea, key: str, multipart_id: str
) -> list[ListedPart] | None:
    """The parts S3 holds for the multipart upload, or ``None`` when it no longer exists
    (completed or aborted)."""
    client = _client(area)
    found: list[ListedPart] = []
    try:
        paginator = client.get_paginator("list_parts")
        for page in paginator.paginate(Bucket=_bucket(area), Key=key, UploadId=multipart_id):
            found.extend(
                ListedPart(part["PartNumber"], part["Size"], part["ETag"])
                for part in page.get("Parts", [])
            )
    except Exception as exc:
        if stores._error_code(exc) in ("NoSuchUpload", "404"):
            return None
        raise
    return found


def complete_multipart(
    area: StorageTemporaryArea, key: str, multipart_id: str, parts: list[ListedPart]
) -> None:
    _client(area).complete_multipart_upload(
        Bucket=_bucket(area),
        Key=key,
        UploadId=multipart_id,
        MultipartUpload={"Parts": [{"PartNumber": p.number, "ETag": p.etag} for p in parts]},
    )


def abort_multipart(area: StorageTemporaryArea, key: str, multipart_id: str) -> None:
    """Abort the multipart upload; one that is already gone is no error."""
    try:
        _client(area).abort_multipart_upload(Bucket=_bucket(area), Key=key, UploadId=multipart_id)
    except Exception as exc:
        if stores._error_code(exc) not in ("NoSuchUpload", "404"):
            raise


@dataclass(frozen=True)
class Head:
    size: int
    etag: str


def head(area: StorageTemporaryArea, key: str) -> Head | None:
    """The object's size and ETag (``HeadObject``), or ``None`` when there is none."""
    try:
        answer = _client(area).head_object(Bucket=_bucket(area), Key=key)
    except Exception as exc:
        if stores._error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return Head(int(answer["ContentLength"]), str(answer["ETag"]))


def copy(area: StorageTemporaryArea, source: str, target: str, etag: str) -> None:
    """Copy ``source`` to ``target`` inside the bucket, only if ``source`` still has ``etag``
    (the bytes whose size was checked)."""
    bucket = _bucket(area)
    _client(area).copy_object(
        Bucket=bucket,
        Key=target,
        CopySource={"Bucket": bucket, "Key": source},
        CopySourceIfMatch=etag,
        ContentType=OCTET_STREAM,
        MetadataDirective="REPLACE",
    )


def delete(area: StorageTemporaryArea, key: str) -> None:
    _client(area).delete_object(Bucket=_bucket(area), Key=key)


def first_bytes(area: StorageTemporaryArea, key: str, size: int) -> BinaryIO:
    """The object's first bytes, as many as libmagic is given, from one ranged GET."""
    if size == 0:
        return io.BytesIO(b"")
    answer = _client(area).get_object(
        Bucket=_bucket(area), Key=key, Range=f"bytes=0-{min(size, SNIFF_BYTES) - 1}"
    )
    body = answer["Body"]
    try:
        return io.BytesIO(body.read(SNIFF_BYTES))
    finally:
        body.close()


@dataclass(frozen=True)
class OpenMultipart:
    key: str
    multipart_id: str
    initiated: datetime


def open_multiparts(area: StorageTemporaryArea) -> Iterator[OpenMultipart]:
    """Every multipart upload in progress under the area's prefix."""
    paginator = _client(area).get_paginator("list_multipart_uploads")
    for page in paginator.paginate(Bucket=_bucket(area), Prefix=prefix_of(area)):
        for entry in page.get("Uploads", []):
            yield OpenMultipart(entry["Key"], entry["UploadId"], entry["Initiated"])
