"""The temporary area's edges: any Django storage as the shared area, reading parts as one
file, and requests that meet an upload in an unusual state."""

from __future__ import annotations

import io
import logging
from datetime import timedelta

import pytest
from django.core.files.storage import InMemoryStorage, storages
from django.utils import timezone

from django_filepond_server import transfers
from django_filepond_server.cleanup import cleanup
from django_filepond_server.models import TemporaryUpload, UploadPart
from django_filepond_server.storage import list_files
from django_filepond_server.temporary import (
    LocalTemporaryArea,
    Part,
    PartsReader,
    StorageTemporaryArea,
    get_temporary_area,
)
from tests.helpers import body_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def memory_area(settings):
    """The shared temporary area on Django's InMemoryStorage: a storage that is neither S3
    nor a file system, so only the generic paths run."""
    settings.STORAGES = {
        **settings.STORAGES,
        "tmp-memory": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    settings.FILEPOND_SERVER_TEMP_STORAGE = "tmp-memory"
    return StorageTemporaryArea("tmp-memory")


def names(area: StorageTemporaryArea) -> list[str]:
    return sorted(entry.name for entry in list_files(area.storage))


# --- any storage as the shared area --------------------------------------------------------------


def test_any_storage_holds_the_temporary_area(
    client, process, start_chunked, patch, memory_area, django_capture_on_commit_callbacks
):
    whole = process(b"whole file", name="w.txt")
    transfer = start_chunked(8)
    assert patch(transfer, b"abcd", 0, 8).status_code == 204
    assert patch(transfer, b"efgh", 4, 8).status_code == 204
    assert memory_area.exists(transfer) and memory_area.size(transfer) == 8
    assert body_of(client.get(f"/fp/?restore={transfer}")) == b"abcdefgh"
    assert body_of(client.get(f"/fp/?restore={whole}")) == b"whole file"
    assert len(names(memory_area)) == 3
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete("/fp/", transfer).status_code == 204
    assert names(memory_area) == [f"{whole}/whole"]
    assert not memory_area.exists(transfer)


def test_cleanup_walks_any_storage(process, memory_area, settings):
    kept = process(b"kept")
    memory_area.storage.save(f"{'O' * 22}/whole", io.BytesIO(b"orphan"))
    settings.FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT = timedelta(microseconds=1)
    report = cleanup()
    assert report.orphan_files == 1
    assert names(memory_area) == [f"{kept}/whole"]


def test_a_storage_that_renames_an_object_is_refused(memory_area, monkeypatch):
    storage = memory_area.storage
    monkeypatch.setattr(
        type(storage), "get_available_name", lambda self, name, max_length=None: name + "_2"
    )
    with pytest.raises(FileExistsError, match="already holds"):
        memory_area.save("X" * 22 + "/whole", io.BytesIO(b"x"))
    assert names(memory_area) == []  # what it saved under the other name is gone too


def test_a_whole_file_that_fails_half_way_reaches_no_storage(memory_area):
    with pytest.raises(RuntimeError), memory_area.create("Y" * 22) as out:
        out.write(b"half")
        raise RuntimeError("the client went away")
    assert names(memory_area) == []


# --- parts read as one file ----------------------------------------------------------------------


def reader(data: bytes, cut: int) -> PartsReader:
    storage = InMemoryStorage()
    storage.save("a", io.BytesIO(b"--" + data[:cut]))  # two bytes skipped, as after a retry
    storage.save("b", io.BytesIO(data[cut:]))
    parts = [Part("a", 0, cut, skip=2), Part("b", cut, len(data) - cut)]
    return PartsReader(storage, parts)


def test_parts_read_as_one_file_with_every_kind_of_seek():
    data = bytes(range(100))
    f = reader(data, 40)
    assert f.read(10) == data[:10]
    assert f.seek(5, io.SEEK_CUR) == 15 and f.tell() == 15
    assert f.read(30) == data[15:45]  # across the two parts
    assert f.seek(-3, io.SEEK_END) == 97
    assert f.read() == data[97:]
    assert f.read() == b""
    buffer = bytearray(8)
    f.seek(36)
    assert f.readinto(buffer) == 8 and bytes(buffer) == data[36:44]
    with pytest.raises(ValueError, match="negative"):
        f.seek(-1)
    f.close()


def test_a_part_shorter_than_recorded_is_an_error_not_a_short_file():
    storage = InMemoryStorage()
    storage.save("a", io.BytesIO(b"abc"))
    f = PartsReader(storage, [Part("a", 0, 10)])
    with pytest.raises(OSError, match="ended early"):
        f.read()


def test_a_position_no_part_holds_is_an_error():
    storage = InMemoryStorage()
    storage.save("b", io.BytesIO(b"abc"))
    f = PartsReader(storage, [Part("b", 5, 3)])  # nothing holds bytes 0-4
    with pytest.raises(FileNotFoundError, match="no part holds byte 0"):
        f.read(1)


def test_an_upload_without_parts_has_no_file(memory_area):
    with pytest.raises(FileNotFoundError):
        memory_area.open("Z" * 22)
    assert not memory_area.exists("Z" * 22)


# --- requests that meet an upload in an unusual state ----------------------------------------


def test_a_revert_of_a_malformed_id_is_400(client):
    from django_filepond_server.exceptions import InvalidUploadId

    with pytest.raises(InvalidUploadId):
        transfers.revert("../x", None)


def test_a_retried_last_chunk_after_the_checks_gets_their_outcome(start_chunked, patch):
    upload_id = start_chunked(4)
    assert patch(upload_id, b"data", 0, 4).status_code == 204
    retry = patch(upload_id, b"data", 0, 4)
    assert (retry.status_code, retry["Upload-Offset"]) == (204, "4")


def test_checks_still_running_after_the_wait_answer_503(start_chunked, patch, monkeypatch):
    monkeypatch.setattr(transfers, "CHECK_WAIT", 0.2)
    upload_id = start_chunked(4)
    assert patch(upload_id, b"da", 0, 4).status_code == 204
    with open(get_temporary_area().local_path(upload_id), "ab") as f:
        f.write(b"ta")
    # Another request has just claimed the checks and is running them.
    TemporaryUpload.objects.filter(pk=upload_id).update(received=4, checking_since=timezone.now())
    response = patch(upload_id, b"ta", 2, 4)
    assert response.status_code == 503
    assert response.content == b"The file is still being checked. Try again in a moment."
    assert response["Retry-After"] == "2"


def test_bytes_gone_before_the_checks_are_a_404_and_free_the_checks(
    start_chunked, patch, monkeypatch
):
    upload_id = start_chunked(4)
    real = transfers.run_checks

    def vanish_first(upload, opener):
        get_temporary_area().delete(upload.upload_id)  # removed by hand, say
        return real(upload, opener)

    monkeypatch.setattr(transfers, "run_checks", vanish_first)
    response = patch(upload_id, b"data", 0, 4)
    assert (response.status_code, response.content) == (
        404,
        b"The file of that upload is missing.",
    )
    assert TemporaryUpload.objects.get(pk=upload_id).checking_since is None


def test_an_upload_reverted_during_its_checks_is_a_404(start_chunked, patch, monkeypatch):
    upload_id = start_chunked(4)
    real = transfers.run_checks

    def revert_meanwhile(upload, opener):
        outcome = real(upload, opener)
        TemporaryUpload.objects.filter(pk=upload.upload_id).delete()
        return outcome

    monkeypatch.setattr(transfers, "run_checks", revert_meanwhile)
    assert patch(upload_id, b"data", 0, 4).status_code == 404


def test_an_upload_reverted_while_its_chunk_arrived_is_a_404(start_chunked, patch, monkeypatch):
    upload_id = start_chunked(8)
    real = LocalTemporaryArea.write_at

    def revert_meanwhile(f, position, pieces):
        written = real(f, position, pieces)
        TemporaryUpload.objects.filter(pk=upload_id).delete()
        return written

    monkeypatch.setattr(LocalTemporaryArea, "write_at", staticmethod(revert_meanwhile))
    assert patch(upload_id, b"abcd", 0, 8).status_code == 404


def test_a_chunk_for_an_upload_removed_before_it_was_recorded_is_a_404(
    start_chunked, patch, memory_area, monkeypatch
):
    upload_id = start_chunked(8)
    real = StorageTemporaryArea.save_chunk

    def remove_meanwhile(self, upload_id, offset, pieces):
        part = real(self, upload_id, offset, pieces)
        TemporaryUpload.objects.filter(pk=upload_id).delete()
        return part

    monkeypatch.setattr(StorageTemporaryArea, "save_chunk", remove_meanwhile)
    assert patch(upload_id, b"abcd", 0, 8).status_code == 404
    assert names(memory_area) == []  # the chunk's object went too
    assert not UploadPart.objects.exists()


def test_a_failed_delete_of_an_uploads_bytes_is_logged(caplog, monkeypatch):
    area = StorageTemporaryArea("memory")

    def fail(upload_id):
        raise OSError("storage down")

    monkeypatch.setattr(area, "delete", fail)
    with caplog.at_level(logging.WARNING):
        transfers.delete_bytes(area, "Q" * 22)
    assert "Could not remove the bytes of upload QQQQ" in caplog.text


def test_storage_area_aliases_resolve_from_the_upload_row(memory_area, process):
    upload_id = process(b"x")
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.area == "tmp-memory"
    assert storages["tmp-memory"] is memory_area.storage


def test_cleanup_goes_on_and_says_so_when_a_storage_fails(
    process, memory_area, settings, monkeypatch
):
    """A storage that cannot be reached stops only the steps that need it: the command
    reports them and exits with an error, without a traceback, and the rest is done."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    expired = process(b"old")
    TemporaryUpload.objects.filter(pk=expired).update(created="2000-01-01T00:00:00Z")
    storage = memory_area.storage

    def unreachable(path):
        raise ConnectionError("the storage is down")

    monkeypatch.setattr(type(storage), "listdir", lambda self, path: unreachable(path))
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="Some of the cleanup could not be done"):
        call_command("filepond_cleanup", stdout=out, stderr=err)
    assert "Removed 1 item(s)" in out.getvalue()
    assert (
        "Could not look for orphan objects in the temporary storage 'tmp-memory': "
        "ConnectionError: the storage is down"
    ) in err.getvalue()
    assert not TemporaryUpload.objects.filter(pk=expired).exists()


def test_a_refused_name_is_answered_even_if_its_bytes_cannot_be_removed(
    start_chunked, patch, settings, monkeypatch, caplog
):
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"default": {"extensions": [".pdf"]}}

    def fail(self, upload_id):
        raise OSError("read-only file system")

    monkeypatch.setattr(LocalTemporaryArea, "delete", fail)
    upload_id = start_chunked(10)
    response = patch(upload_id, b"x" * 10, 0, 10, name="evil.exe")
    assert response.status_code == 415
    assert "Could not remove the bytes of upload" in caplog.text
