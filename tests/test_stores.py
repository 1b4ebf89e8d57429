"""Storing into S3 and SFTP from the local temporary area: bounded streaming, no
overwrites, file modes, and the cleanup of multipart uploads an interrupted store left."""

from __future__ import annotations

import json
import logging
import os
import secrets
from datetime import timedelta

import pytest
from django.core.files.storage import storages

from django_filepond_server import api, stores
from django_filepond_server.cleanup import cleanup
from django_filepond_server.exceptions import StorageFailed
from django_filepond_server.models import StoredUpload, TemporaryUpload
from django_filepond_server.storage import list_files

pytestmark = [pytest.mark.django_db, pytest.mark.remote_storage]


@pytest.fixture
def s3_store(settings, s3_server):
    options = s3_server.storage_options(location=f"stores-{secrets.token_hex(4)}")
    settings.STORAGES = {**settings.STORAGES, "remote": options}
    settings.FILEPOND_SERVER_STORAGE = "remote"
    yield storages["remote"]
    for entry in list(list_files(storages["remote"])):
        storages["remote"].delete(entry.name)


def multipart_uploads(storage) -> list[dict]:
    client = stores._client(storage)
    prefix = stores._key(storage, "")
    answer = client.list_multipart_uploads(Bucket=storage.bucket_name, Prefix=prefix)
    return answer.get("Uploads", [])


def test_a_large_local_file_goes_to_s3_in_bounded_parts(process, s3_store, caplog):
    content = os.urandom(stores.STREAM_PART * 2 + 1000)  # three parts, the last one short
    caplog.set_level(logging.DEBUG, logger="django_filepond_server.api")
    stored = api.store_upload(process(content, name="big.bin"), "big/")
    assert f"; {len(content)} bytes passed through the app" in caplog.text
    with s3_store.open(stored.file.name, "rb") as f:
        assert f.read() == content
    assert multipart_uploads(s3_store) == []


def test_a_failed_multipart_upload_is_aborted(process, s3_store, monkeypatch):
    content = os.urandom(stores.STREAM_PART + 10)
    upload_id = process(content, name="big.bin")
    client = stores._client(s3_store)

    def fail(**kwargs):
        raise ConnectionError("the connection to S3 broke")

    monkeypatch.setattr(client, "complete_multipart_upload", fail)
    with pytest.raises(StorageFailed, match="the connection to S3 broke"):
        api.store_upload(upload_id, "big/")
    assert multipart_uploads(s3_store) == []
    assert list(list_files(s3_store)) == []
    assert TemporaryUpload.objects.filter(pk=upload_id).exists()


def test_no_free_name_after_many_attempts_is_an_error(process, s3_store, monkeypatch):
    taken = api.store_upload(process(b"first", name="same.txt"), "n/").file.name
    monkeypatch.setattr(stores, "free_name", lambda storage, name: taken)  # always stale
    upload_id = process(b"second", name="same.txt")
    with pytest.raises(FileExistsError, match="no free name found"):
        api.store_upload(upload_id, "n/")
    with s3_store.open(taken, "rb") as f:
        assert f.read() == b"first"
    assert StoredUpload.objects.count() == 1


def test_interrupted_stores_from_a_local_area_are_aborted_by_cleanup(s3_store, settings, caplog):
    """The temporary area is local and the store is S3: the markers live in the temporary
    directory."""
    client = stores._client(s3_store)
    key = stores._key(s3_store, "interrupted.bin")
    multipart = client.create_multipart_upload(Bucket=s3_store.bucket_name, Key=key)
    assert stores._write_marker(s3_store, s3_store.bucket_name, key, multipart["UploadId"])
    # A marker for an endpoint no configured storage reaches: only a lifecycle rule helps.
    stray = {"alias": None, "endpoint": "http://elsewhere", "bucket": "b", "key": "k"}
    marker_dir = os.path.join(settings.FILEPOND_SERVER_TEMP_DIR, stores.MARKERS)
    with open(os.path.join(marker_dir, "stray.json"), "w") as f:
        f.write(json.dumps({**stray, "upload_id": "u"}))

    settings.FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT = timedelta(microseconds=1)
    assert cleanup(dry_run=True).aborted_stores == 1
    assert len(multipart_uploads(s3_store)) == 1  # a dry run aborts nothing
    assert cleanup().aborted_stores == 1
    assert multipart_uploads(s3_store) == []
    assert os.listdir(marker_dir) == ["stray.json"]
    assert "a bucket lifecycle rule must abort the multipart upload u of k" in caplog.text


def test_an_upload_already_aborted_counts_and_its_marker_goes(s3_store, settings):
    key = stores._key(s3_store, "gone.bin")
    assert stores._write_marker(s3_store, s3_store.bucket_name, key, "no-such-upload")
    settings.FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT = timedelta(microseconds=1)
    assert cleanup().aborted_stores == 1
    assert os.listdir(os.path.join(settings.FILEPOND_SERVER_TEMP_DIR, stores.MARKERS)) == []


def test_stored_sftp_files_get_the_storages_file_mode(process, settings, sftp_server):
    options = sftp_server.storage_options()
    options["OPTIONS"]["root_path"] = f"{sftp_server.root}/modes-{secrets.token_hex(4)}"
    options["OPTIONS"]["file_mode"] = 0o640
    settings.STORAGES = {**settings.STORAGES, "remote": options}
    settings.FILEPOND_SERVER_STORAGE = "remote"
    stored = api.store_upload(process(b"mode", name="m.txt"), "deep/er/")
    path = os.path.join(options["OPTIONS"]["root_path"], stored.file.name)
    assert os.stat(path).st_mode & 0o777 == 0o640
    with open(path, "rb") as f:
        assert f.read() == b"mode"
