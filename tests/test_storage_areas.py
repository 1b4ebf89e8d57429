"""The temporary area on storages other than S3: any Django storage that can save, open, list
and delete files. SFTP (a real OpenSSH sshd) and Django's own FileSystemStorage, on a
directory of its own, stand for them: no S3 fast path applies."""

from __future__ import annotations

import io
import os
import time

import pytest
from django.core.files.storage import storages

from django_filepond_server import api
from django_filepond_server.cleanup import cleanup
from django_filepond_server.models import TemporaryUpload, UploadPart
from tests.helpers import body_of

pytestmark = [pytest.mark.django_db, pytest.mark.remote_storage]


@pytest.fixture(params=["sftp", "filesystem"])
def area(request, settings, tmp_path):
    """FILEPOND_SERVER_TEMP_STORAGE on that storage; the local directory that holds its
    files (the SFTP server runs on this machine)."""
    if request.param == "sftp":
        server = request.getfixturevalue("sftp_server")
        root = tmp_path / "sftp-area"
        root.mkdir()
        options = server.storage_options(root_path=str(root))
    else:
        root = tmp_path / "area"
        options = {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        }
    settings.STORAGES = {**settings.STORAGES, "area": options}
    settings.FILEPOND_SERVER_TEMP_STORAGE = "area"
    return root


def files_under(root) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(directory, name), root)
        for directory, _dirs, names in os.walk(root)
        for name in names
    )


def test_chunks_restore_store_and_revert(
    area, client, process, start_chunked, patch, django_capture_on_commit_callbacks
):
    content = os.urandom(10_000)
    upload_id = start_chunked(10_000)
    for offset in range(0, 10_000, 3000):
        response = patch(upload_id, content[offset : offset + 3000], offset, 10_000)
        assert response.status_code == 204, response.content
    assert UploadPart.objects.filter(upload_id=upload_id).count() == 4
    assert len(files_under(area / upload_id)) == 4
    assert body_of(client.get(f"/fp/?restore={upload_id}")) == content
    ranged = client.get(f"/fp/?restore={upload_id}", headers={"Range": "bytes=2990-6010"})
    assert (ranged.status_code, body_of(ranged)) == (206, content[2990:6011])

    with django_capture_on_commit_callbacks(execute=True):
        stored = api.store_upload(upload_id, "stored/")
    with stored.file.open("rb") as f:
        assert f.read() == content
    assert files_under(area / upload_id) == []

    whole = process(b"a whole file")
    assert files_under(area) == [f"{whole}/whole"]
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete("/fp/", whole).status_code == 204
    assert files_under(area) == []


def test_cleanup_removes_old_files_without_a_row_and_keeps_the_rest(
    area, process, settings, start_chunked, patch
):
    kept = process(b"kept")
    transfer = start_chunked(20)
    assert patch(transfer, b"a" * 10, 0, 20).status_code == 204
    storage = storages["area"]
    for name in (f"{'O' * 22}/whole", f"{transfer}/000000000000010-deadbeef", "notes/mine.txt"):
        storage.save(name, io.BytesIO(b"left behind"))
    old = time.time() - 7200
    for name in files_under(area):
        os.utime(area / name, (old, old))

    report = cleanup()
    assert report.orphan_files == 2  # the crashed upload's file and the unrecorded chunk
    left = files_under(area)
    assert "notes/mine.txt" in left  # not the app's
    assert f"{kept}/whole" in left
    assert len([name for name in left if name.startswith(transfer)]) == 1
    assert TemporaryUpload.objects.count() == 2


def test_uploads_in_flight_finish_in_the_area_they_started_in(
    area, client, start_chunked, patch, settings, upload_dirs
):
    settings.FILEPOND_SERVER_TEMP_STORAGE = None  # a local area first
    local = start_chunked(20)
    assert patch(local, b"l" * 10, 0, 20).status_code == 204
    settings.FILEPOND_SERVER_TEMP_STORAGE = "area"  # the change reaches this server
    shared = start_chunked(20)
    assert patch(shared, b"s" * 10, 0, 20).status_code == 204
    settings.FILEPOND_SERVER_TEMP_STORAGE = None  # and back, say after a rollback
    assert patch(local, b"L" * 10, 10, 20).status_code == 204
    assert patch(shared, b"S" * 10, 10, 20).status_code == 204

    assert body_of(client.get(f"/fp/?restore={local}")) == b"l" * 10 + b"L" * 10
    assert body_of(client.get(f"/fp/?restore={shared}")) == b"s" * 10 + b"S" * 10
    assert (upload_dirs["tmp"] / f"{local}.upload").exists()
    assert len(files_under(area / shared)) == 2
    assert TemporaryUpload.objects.get(pk=local).area == ""
    assert TemporaryUpload.objects.get(pk=shared).area == "area"
