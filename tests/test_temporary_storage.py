"""The temporary area on a storage every app server shares: S3 over HTTP (moto's server).

Each test gets its own prefix in the bucket and empties it afterwards, so the tests also run
against a real, persistent bucket (``FILEPOND_TEST_S3_*``).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import secrets
from datetime import timedelta

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from django_filepond_server import api, stores, transfers
from django_filepond_server.cleanup import cleanup
from django_filepond_server.exceptions import BadUploadRequest
from django_filepond_server.models import StoredUpload, TemporaryUpload, UploadPart
from django_filepond_server.ownership import Owner
from django_filepond_server.storage import list_files
from django_filepond_server.temporary import StorageTemporaryArea
from tests.helpers import body_of, tiny_png
from tests.test_endpoint import BrokenInput

pytestmark = [pytest.mark.django_db, pytest.mark.remote_storage]

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def s3_area(settings, s3_server):
    """FILEPOND_SERVER_TEMP_STORAGE on S3, under a prefix of this test's own."""
    options = s3_server.storage_options(location=f"fp-tmp-{secrets.token_hex(4)}")
    settings.STORAGES = {**settings.STORAGES, "shared-tmp": options}
    settings.FILEPOND_SERVER_TEMP_STORAGE = "shared-tmp"
    yield StorageTemporaryArea("shared-tmp")
    _empty(options)


def _empty(options: dict) -> None:
    """Remove everything under a test's prefix (with its own storage: a test may have broken
    the alias)."""
    from storages.backends.s3 import S3Storage

    storage = S3Storage(**options["OPTIONS"])
    for entry in list(list_files(storage)):
        storage.delete(entry.name)


@pytest.fixture
def s3_store(settings, s3_server):
    """The permanent store on the same S3 endpoint and bucket, under another prefix."""
    options = s3_server.storage_options(location=f"fp-store-{secrets.token_hex(4)}")
    settings.STORAGES = {**settings.STORAGES, "shared-store": options}
    settings.FILEPOND_SERVER_STORAGE = "shared-store"
    yield storages["shared-store"]
    _empty(options)


def object_names(area: StorageTemporaryArea) -> list[str]:
    return sorted(entry.name for entry in list_files(area.storage))


def parts_of(upload_id: str) -> list[tuple[int, int, int]]:
    return list(
        UploadPart.objects.filter(upload_id=upload_id)
        .order_by("offset")
        .values_list("offset", "length", "skip")
    )


def chunked(start_chunked, patch, content: bytes, chunk: int, name: str = "file.bin") -> str:
    upload_id = start_chunked(len(content))
    for offset in range(0, len(content), chunk):
        response = patch(upload_id, content[offset : offset + chunk], offset, len(content), name)
        assert response.status_code == 204, response.content
    return upload_id


# --- whole files and chunks ----------------------------------------------------------------------


def test_a_whole_file_is_one_object_that_restores_and_reverts(
    client, process, s3_area, django_capture_on_commit_callbacks
):
    content = tiny_png(padding=5000)
    upload_id = process(content, name="photo.png")
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert (upload.area, upload.node, upload.complete) == ("shared-tmp", "", True)
    assert upload.detected_type == "image/png"
    assert object_names(s3_area) == [f"{upload_id}/whole"]
    assert parts_of(upload_id) == [(0, len(content), 0)]

    response = client.get(f"/fp/?restore={upload_id}")
    assert response.status_code == 200
    assert body_of(response) == content

    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete("/fp/", upload_id).status_code == 204
    assert object_names(s3_area) == []
    assert not UploadPart.objects.exists()


def test_each_chunk_is_an_object_and_restore_reads_across_them(
    client, start_chunked, patch, s3_area
):
    content = os.urandom(10_000)
    upload_id = chunked(start_chunked, patch, content, 3000)
    assert parts_of(upload_id) == [(0, 3000, 0), (3000, 3000, 0), (6000, 3000, 0), (9000, 1000, 0)]
    assert len(object_names(s3_area)) == 4
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.complete and upload.received == 10_000 and upload.checking_since is None

    head = client.head(f"/fp/?patch={upload_id}")
    assert (head.status_code, head["Upload-Offset"], head.content) == (200, "10000", b"")
    assert sha(body_of(client.get(f"/fp/?restore={upload_id}"))) == sha(content)
    ranged = client.get(f"/fp/?restore={upload_id}", headers={"Range": "bytes=2990-6010"})
    assert ranged.status_code == 206
    assert body_of(ranged) == content[2990:6011]


def test_an_empty_file_sent_in_chunks_completes_restores_and_stores(
    client, start_chunked, patch, s3_area, s3_store
):
    """FilePond's chunkForce sends even an empty file in chunks: one empty PATCH. Its
    upload has no object at all, which must read as zero bytes, not as missing ones."""
    upload_id = start_chunked(0)
    response = patch(upload_id, b"", 0, 0, "empty.txt")
    assert (response.status_code, response["Upload-Offset"]) == (204, "0")
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.complete and upload.checking_since is None
    assert upload.detected_type == "application/x-empty"
    response = client.get(f"/fp/?restore={upload_id}")
    assert (response.status_code, body_of(response)) == (200, b"")
    stored = api.store_upload(upload_id, "empty/")
    with s3_store.open(stored.file.name) as f:
        assert f.read() == b""


def test_objects_get_the_storages_parameters_and_large_ones_go_through_its_save(
    client, process, start_chunked, patch, s3_area, settings, monkeypatch
):
    from django_filepond_server import temporary

    options = settings.STORAGES["shared-tmp"]
    options["OPTIONS"]["object_parameters"] = {"CacheControl": "private, max-age=60"}
    settings.STORAGES = {**settings.STORAGES, "shared-tmp": options}
    upload_id = chunked(start_chunked, patch, b"chunk" * 200, 400)
    monkeypatch.setattr(temporary, "PUT_LIMIT", 1000)  # a whole file above it: save()
    whole = process(b"whole" * 300, name="big.txt")
    client_ = stores._client(s3_area.storage)
    bucket = s3_area.storage.bucket_name
    for name in object_names(s3_area):
        head = client_.head_object(Bucket=bucket, Key=stores._key(s3_area.storage, name))
        assert head["CacheControl"] == "private, max-age=60", name
    assert body_of(client.get(f"/fp/?restore={upload_id}")) == b"chunk" * 200
    assert body_of(client.get(f"/fp/?restore={whole}")) == b"whole" * 300


def test_retried_and_overlapping_chunks_are_recorded_once(client, start_chunked, patch, s3_area):
    content = os.urandom(1000)
    upload_id = start_chunked(1000)
    assert patch(upload_id, content[:600], 0, 1000).status_code == 204
    # A retry of the same chunk is acknowledged without storing it again.
    retry = patch(upload_id, content[:600], 0, 1000)
    assert (retry.status_code, retry["Upload-Offset"]) == (204, "600")
    assert len(object_names(s3_area)) == 1
    # A chunk that overlaps what arrived is used from where the upload stands.
    assert patch(upload_id, content[400:], 400, 1000).status_code == 204
    assert parts_of(upload_id) == [(0, 600, 0), (600, 400, 200)]
    assert body_of(client.get(f"/fp/?restore={upload_id}")) == content


def test_a_gap_is_refused_before_anything_is_stored(start_chunked, patch, s3_area):
    upload_id = start_chunked(100)
    response = patch(upload_id, b"x" * 10, 50, 100)
    assert response.status_code == 409
    assert object_names(s3_area) == []
    assert TemporaryUpload.objects.get(pk=upload_id).received == 0


def test_a_chunk_cut_short_becomes_no_object(start_chunked, client, s3_area):
    upload_id = start_chunked(100)
    request = type("R", (), {"user": None, "session": client.session, "COOKIES": {}})()
    body = iter([b"x" * 30, b""])
    with pytest.raises(BadUploadRequest, match="ended before its Content-Length"):
        transfers.receive_chunk(
            upload_id,
            request,
            offset=0,
            upload_length=100,
            content_length=50,
            file_name="a.bin",
            read=lambda size: next(body),
        )
    assert object_names(s3_area) == []
    assert TemporaryUpload.objects.get(pk=upload_id).received == 0


def test_a_chunk_whose_connection_breaks_is_a_400_not_a_storage_failure(
    start_chunked, client, s3_area, caplog
):
    """The client went away while its chunk was being saved: the storage is fine, so the
    answer says the body ended early (as in the local area), and no warning blames the
    storage."""
    upload_id = start_chunked(100)
    body = b"x" * 50
    response = client.generic(
        "PATCH",
        f"/fp/?patch={upload_id}",
        body,
        content_type="application/offset+octet-stream",
        headers={"Upload-Offset": "0", "Upload-Length": "100", "Upload-Name": "a.bin"},
        **{"wsgi.input": BrokenInput(body)},
    )
    assert response.status_code == 400
    assert response.content.decode() == "The request body ended early; send it again."
    assert "temporary storage" not in caplog.text
    assert object_names(s3_area) == []
    assert TemporaryUpload.objects.get(pk=upload_id).received == 0


def test_a_chunk_the_storage_cannot_take_is_a_503_and_changes_nothing(
    start_chunked, patch, s3_area, settings, s3_server
):
    from botocore.config import Config

    from tests.remote_storage import free_port

    upload_id = start_chunked(20)
    assert patch(upload_id, b"a" * 10, 0, 20).status_code == 204
    working = settings.STORAGES["shared-tmp"]
    broken = s3_server.storage_options(
        location=working["OPTIONS"]["location"],
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        client_config=Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1}),
    )
    settings.STORAGES = {**settings.STORAGES, "shared-tmp": broken}
    response = patch(upload_id, b"b" * 10, 10, 20)
    assert response.status_code == 503
    assert response["Retry-After"]
    assert TemporaryUpload.objects.get(pk=upload_id).received == 10
    assert parts_of(upload_id) == [(0, 10, 0)]

    settings.STORAGES = {**settings.STORAGES, "shared-tmp": working}  # the storage is back
    assert patch(upload_id, b"b" * 10, 10, 20).status_code == 204
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.complete
    with s3_area.open(upload_id) as f:
        assert f.read() == b"a" * 10 + b"b" * 10


def test_a_refused_name_removes_the_chunks(start_chunked, patch, s3_area, settings):
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"default": {"extensions": [".pdf"]}}
    upload_id = start_chunked(20)
    response = patch(upload_id, b"a" * 10, 0, 20, name="evil.exe")
    assert response.status_code == 415
    assert object_names(s3_area) == []
    assert TemporaryUpload.objects.get(pk=upload_id).rejected


def test_validators_read_the_upload_from_the_storage(start_chunked, patch, s3_area, settings):
    seen = []

    def validator(upload, f):
        seen.append(f.read())

    settings.FILEPOND_SERVER_VALIDATORS = [validator]
    content = os.urandom(5000)
    chunked(start_chunked, patch, content, 2048)
    assert seen == [content]


def test_fetch_into_the_storage_area(client, s3_area, settings):
    from tests.remote_server import PNG, RemoteServer

    settings.FILEPOND_SERVER_FETCH_ENABLED = True
    settings.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    remote = RemoteServer()
    try:
        response = client.get("/fp/", {"fetch": f"{remote.base}/files/photo.png"})
    finally:
        remote.stop()
    assert response.status_code == 200
    assert body_of(response) == PNG
    upload_id = response["X-Content-Transfer-Id"]
    assert object_names(s3_area) == [f"{upload_id}/whole"]


# --- store_upload -------------------------------------------------------------------------------


def test_store_inside_s3_copies_without_the_app(
    start_chunked, patch, s3_area, s3_store, caplog, django_capture_on_commit_callbacks
):
    content = os.urandom(11 * MiB + 123)
    upload_id = chunked(start_chunked, patch, content, 5 * MiB + 1024, name="big.bin")
    caplog.set_level(logging.DEBUG, logger="django_filepond_server.api")
    with django_capture_on_commit_callbacks(execute=True):
        stored = api.store_upload(upload_id, "copied/")
    assert "; 0 bytes passed through the app" in caplog.text
    with s3_store.open(stored.file.name, "rb") as f:
        assert sha(f.read()) == sha(content)
    assert object_names(s3_area) == []
    assert not TemporaryUpload.objects.exists()


def test_store_of_small_chunks_streams_them_through_a_bounded_multipart_upload(
    start_chunked, patch, s3_area, s3_store, caplog
):
    # FilePond's chunks of 5,000,000 bytes are below S3's 5 MiB part minimum.
    content = os.urandom(12_000_000)
    upload_id = chunked(start_chunked, patch, content, 5_000_000)
    caplog.set_level(logging.DEBUG, logger="django_filepond_server.api")
    stored = api.store_upload(upload_id, "streamed/")
    assert f"; {len(content)} bytes passed through the app" in caplog.text
    with s3_store.open(stored.file.name, "rb") as f:
        assert sha(f.read()) == sha(content)


def test_store_streams_an_exact_multiple_of_the_part_size_in_whole_parts(
    start_chunked, patch, s3_area, s3_store, caplog
):
    content = os.urandom(2 * stores.STREAM_PART)
    upload_id = chunked(start_chunked, patch, content, 4 * MiB)  # below S3's part minimum
    caplog.set_level(logging.DEBUG, logger="django_filepond_server.api")
    stored = api.store_upload(upload_id, "streamed/")
    assert f"; {len(content)} bytes passed through the app" in caplog.text
    key = stores._key(s3_store, stored.file.name)
    head = stores._client(s3_store).head_object(Bucket=s3_store.bucket_name, Key=key)
    assert head["ETag"].strip('"').endswith("-2")  # two parts, no empty third one
    with s3_store.open(stored.file.name, "rb") as f:
        assert sha(f.read()) == sha(content)


def test_store_from_the_storage_area_into_local_files(
    process, start_chunked, patch, s3_area, upload_dirs, django_capture_on_commit_callbacks
):
    content = os.urandom(70_000)
    upload_id = chunked(start_chunked, patch, content, 30_000)
    with django_capture_on_commit_callbacks(execute=True):
        stored = api.store_upload(upload_id, "local/")
    assert sha((upload_dirs["media"] / stored.file.name).read_bytes()) == sha(content)
    assert object_names(s3_area) == []


def test_a_name_taken_while_storing_is_never_overwritten(process, s3_area, s3_store, monkeypatch):
    first = api.store_upload(process(b"first", name="same.txt"), "race/")
    real = stores.free_name
    stale = iter([first.file.name])  # a racing store took the name after it looked free

    def free_name(storage, name):
        return next(stale, None) or real(storage, name)

    monkeypatch.setattr(stores, "free_name", free_name)
    second = api.store_upload(process(b"second", name="same.txt"), "race/")
    assert second.file.name != first.file.name
    with s3_store.open(first.file.name, "rb") as f:
        assert f.read() == b"first"
    with s3_store.open(second.file.name, "rb") as f:
        assert f.read() == b"second"


def test_a_failed_store_keeps_the_temporary_upload(process, s3_area, s3_store, monkeypatch):
    upload_id = process(b"precious")

    def fail(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(StoredUpload.objects, "create", fail)
    with pytest.raises(RuntimeError):
        api.store_upload(upload_id, "f/")
    assert list(list_files(s3_store)) == []
    with s3_area.open(upload_id) as f:
        assert f.read() == b"precious"


# --- cleanup ------------------------------------------------------------------------------------


def test_cleanup_removes_expired_uploads_and_old_orphans_only(
    process, start_chunked, patch, s3_area, settings, django_capture_on_commit_callbacks
):
    kept = process(b"kept")
    expired = process(b"expired")
    TemporaryUpload.objects.filter(pk=expired).update(created="2000-01-01T00:00:00Z")
    transfer = start_chunked(20)
    assert patch(transfer, b"a" * 10, 0, 20).status_code == 204
    orphan = f"{'O' * 22}/whole"  # bytes whose request died before recording them
    s3_area.storage.save(orphan, io.BytesIO(b"orphan"))
    stray = f"{transfer}/000000000000010-deadbeef"  # a chunk that was never recorded
    s3_area.storage.save(stray, io.BytesIO(b"stray"))
    foreign = "notes/readme.txt"  # not this app's
    s3_area.storage.save(foreign, io.BytesIO(b"someone else's"))

    with django_capture_on_commit_callbacks(execute=True):
        young = cleanup()  # everything is younger than the idle timeout, but the expired upload
    assert (young.expired, young.orphan_files) == (1, 0)
    assert not any(name.startswith(expired) for name in object_names(s3_area))

    settings.FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT = timedelta(microseconds=1)
    TemporaryUpload.objects.filter(pk=transfer).update(updated="2100-01-01T00:00:00Z")
    old = cleanup()
    assert old.orphan_files == 2
    names = object_names(s3_area)
    assert orphan not in names and stray not in names
    assert foreign in names
    assert f"{kept}/whole" in names
    assert len([name for name in names if name.startswith(transfer)]) == 1  # its recorded chunk


def test_cleanup_aborts_multipart_uploads_of_stores_that_never_finished(
    s3_area, s3_store, settings
):
    client = stores._client(s3_store)
    bucket = s3_store.bucket_name
    key = stores._key(s3_store, "interrupted/big.bin")
    multipart = client.create_multipart_upload(Bucket=bucket, Key=key)
    marker = stores._write_marker(s3_store, bucket, key, multipart["UploadId"])
    assert marker is not None

    assert cleanup().aborted_stores == 0  # the store may still be running
    settings.FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT = timedelta(microseconds=1)
    out = io.StringIO()
    call_command("filepond_cleanup", stdout=out)
    assert out.getvalue().strip().endswith(", 1 interrupted store(s).")
    uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    assert uploads == []
    assert [n for n in object_names(s3_area) if n.startswith(stores.MARKERS)] == []


# --- limits, owners and the local area on several servers ---------------------------------------


def test_limits_hold_in_the_storage_area(client, process, s3_area, settings):
    settings.FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER = 1
    process(b"one")
    response = client.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("two.txt", b"two")]})
    assert response.status_code == 429
    assert TemporaryUpload.objects.count() == 1
    assert len(object_names(s3_area)) == 1  # the refused file's object went with it


def test_a_chunked_start_stores_no_object(s3_area):
    upload = transfers.start_chunked(10, "filepond", {}, Owner(token="t" * 43))
    assert upload.area == "shared-tmp"
    assert object_names(s3_area) == []


def test_a_part_removed_while_it_is_restored_cuts_the_answer_short(
    client, start_chunked, patch, s3_area, caplog
):
    """A revert on another server removes the objects while a restore streams them: the
    answer can only end early, logged in one line, never with a traceback."""
    from django.test import Client

    content = os.urandom(600_000)
    upload_id = chunked(start_chunked, patch, content, 300_000)
    lazy = Client()  # leaves the streamed body unread, unlike the suite's client
    lazy.cookies = client.cookies
    response = lazy.get(f"/fp/?restore={upload_id}")
    assert response["Content-Length"] == str(len(content))
    first = next(response.streaming_content)
    s3_area.storage.delete(sorted(object_names(s3_area))[1])  # the second chunk's object
    body = first + b"".join(response.streaming_content)
    assert 0 < len(body) < len(content)
    assert body == content[: len(body)]
    assert "A file answer was cut short" in caplog.text
