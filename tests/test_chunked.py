"""Chunked uploads: start POST, PATCH chunks, HEAD resume."""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_filepond_server import api, transfers
from django_filepond_server.models import TemporaryUpload
from django_filepond_server.temporary import LocalTemporaryArea, get_temporary_area
from tests.helpers import NOT_FOUND_WITHOUT_SESSION

pytestmark = pytest.mark.django_db

DATA = bytes(range(256)) * 40  # 10,240 bytes
CHUNK = 4096


def chunks_of(data: bytes, size: int = CHUNK):
    """The chunks FilePond sends: floor(len/size)+1 of them, the last one empty when
    ``len`` is a multiple of ``size``."""
    for i in range(len(data) // size + 1):
        yield i * size, data[i * size : (i + 1) * size]


def stored_bytes(upload_id: str) -> bytes:
    with get_temporary_area().open(upload_id) as f:
        return f.read()


def test_start_answers_an_id_and_records_the_transfer(start_chunked):
    upload_id = start_chunked(len(DATA), metadata='{"a": 1}')
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.chunked
    assert upload.upload_length == len(DATA)
    assert upload.received == 0
    assert not upload.complete
    assert upload.metadata == {"a": 1}


def test_a_whole_transfer_assembles_in_place(start_chunked, patch):
    upload_id = start_chunked(len(DATA))
    path = get_temporary_area().local_path(upload_id)
    inode = os.stat(path).st_ino
    for offset, body in chunks_of(DATA):
        response = patch(upload_id, body, offset, len(DATA), name="data.bin")
        assert response.status_code == 204
        assert int(response["Upload-Offset"]) == offset + len(body)
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.complete
    assert upload.file_name == "data.bin"
    assert stored_bytes(upload_id) == DATA
    # Completion is O(1): the same file was appended to, never copied or re-assembled.
    assert os.stat(path).st_ino == inode
    assert sorted(os.listdir(os.path.dirname(path))) == [os.path.basename(path)]


def test_exact_multiple_of_chunk_size_ends_with_an_empty_patch(start_chunked, patch):
    data = b"z" * (2 * CHUNK)
    upload_id = start_chunked(len(data))
    sent = list(chunks_of(data))
    assert sent[-1] == (len(data), b"")
    for offset, body in sent:
        assert patch(upload_id, body, offset, len(data)).status_code == 204
    assert stored_bytes(upload_id) == data
    assert TemporaryUpload.objects.get(pk=upload_id).complete


def test_empty_file_with_chunk_force(start_chunked, patch):
    upload_id = start_chunked(0)
    response = patch(upload_id, b"", 0, 0, name="empty.txt")
    assert response.status_code == 204
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.complete
    assert upload.file_name == "empty.txt"
    assert stored_bytes(upload_id) == b""


def test_a_retried_chunk_is_acknowledged_and_not_written_twice(start_chunked, patch):
    upload_id = start_chunked(len(DATA))
    assert patch(upload_id, DATA[:CHUNK], 0, len(DATA)).status_code == 204
    retry = patch(upload_id, DATA[:CHUNK], 0, len(DATA))
    assert retry.status_code == 204
    assert retry["Upload-Offset"] == str(CHUNK)
    assert stored_bytes(upload_id) == DATA[:CHUNK]
    assert TemporaryUpload.objects.get(pk=upload_id).received == CHUNK


def test_a_retried_chunk_with_other_bytes_does_not_overwrite(start_chunked, patch):
    upload_id = start_chunked(len(DATA))
    patch(upload_id, DATA[:CHUNK], 0, len(DATA))
    patch(upload_id, b"X" * CHUNK, 0, len(DATA))
    assert stored_bytes(upload_id) == DATA[:CHUNK]


def test_an_overlapping_chunk_writes_only_its_new_tail(start_chunked, patch):
    upload_id = start_chunked(len(DATA))
    patch(upload_id, DATA[:100], 0, len(DATA))
    response = patch(upload_id, DATA[50:300], 50, len(DATA))
    assert response.status_code == 204
    assert stored_bytes(upload_id) == DATA[:300]


def test_a_patch_after_completion_is_acknowledged(start_chunked, patch):
    upload_id = start_chunked(len(DATA))
    for offset, body in chunks_of(DATA):
        patch(upload_id, body, offset, len(DATA))
    for offset, body in chunks_of(DATA):
        assert patch(upload_id, body, offset, len(DATA)).status_code == 204
    assert stored_bytes(upload_id) == DATA


def test_a_gap_in_offsets_is_refused_and_nothing_is_written(start_chunked, patch):
    upload_id = start_chunked(len(DATA))
    patch(upload_id, DATA[:CHUNK], 0, len(DATA))
    response = patch(upload_id, DATA[2 * CHUNK : 3 * CHUNK], 2 * CHUNK, len(DATA))
    assert response.status_code == 409
    assert response.content.decode() == (
        f"The chunk starts at byte {2 * CHUNK} but only {CHUNK} bytes have arrived; "
        f"resume from byte {CHUNK}."
    )
    assert stored_bytes(upload_id) == DATA[:CHUNK]


def test_bytes_past_upload_length_are_refused(start_chunked, patch):
    upload_id = start_chunked(10)
    response = patch(upload_id, b"x" * 11, 0, 10)
    assert response.status_code == 400
    assert "past the declared Upload-Length of 10 bytes" in response.content.decode()
    assert stored_bytes(upload_id) == b""
    assert TemporaryUpload.objects.get(pk=upload_id).received == 0


def test_a_changed_upload_length_is_refused(start_chunked, patch):
    upload_id = start_chunked(len(DATA))
    patch(upload_id, DATA[:CHUNK], 0, len(DATA))
    response = patch(upload_id, DATA[CHUNK : 2 * CHUNK], CHUNK, len(DATA) + 1)
    assert response.status_code == 409
    assert response.content.decode() == (
        f"Upload-Length changed from {len(DATA)} to {len(DATA) + 1} during the transfer."
    )
    assert stored_bytes(upload_id) == DATA[:CHUNK]


def test_head_reports_contiguous_bytes_for_resume(client, start_chunked, patch):
    upload_id = start_chunked(len(DATA))
    response = client.head(f"/fp/?patch={upload_id}")
    assert response.status_code == 200
    assert response["Upload-Offset"] == "0"
    patch(upload_id, DATA[:CHUNK], 0, len(DATA))
    patch(upload_id, DATA[2 * CHUNK : 3 * CHUNK], 2 * CHUNK, len(DATA))  # refused: a gap
    assert client.head(f"/fp/?patch={upload_id}")["Upload-Offset"] == str(CHUNK)
    assert client.head(f"/fp/patch/{upload_id}")["Upload-Offset"] == str(CHUNK)


def test_head_reports_the_full_length_once_complete(client, start_chunked, patch):
    upload_id = start_chunked(len(DATA))
    for offset, body in chunks_of(DATA):
        patch(upload_id, body, offset, len(DATA))
    response = client.head(f"/fp/?patch={upload_id}")
    assert response["Upload-Offset"] == str(len(DATA))


def test_resume_after_head_completes_the_file(client, start_chunked, patch):
    upload_id = start_chunked(len(DATA))
    patch(upload_id, DATA[:CHUNK], 0, len(DATA))
    resume_at = int(client.head(f"/fp/?patch={upload_id}")["Upload-Offset"])
    for offset, body in chunks_of(DATA):
        if offset >= resume_at:
            assert patch(upload_id, body, offset, len(DATA)).status_code == 204
    assert stored_bytes(upload_id) == DATA


def test_path_style_patch_url(start_chunked, patch):
    upload_id = start_chunked(5)
    response = patch(upload_id, b"hello", 0, 5, url=f"/fp/patch/{upload_id}")
    assert response.status_code == 204
    assert stored_bytes(upload_id) == b"hello"


def test_upload_name_is_decoded_from_utf8_and_sanitised(start_chunked, patch):
    upload_id = start_chunked(3)
    patch(upload_id, b"abc", 0, 3, name="../résumé 東京 100%.pdf")
    assert TemporaryUpload.objects.get(pk=upload_id).file_name == "résumé 東京 100%.pdf"


def test_a_latin1_upload_name_from_an_old_client_is_kept(client, start_chunked):
    upload_id = start_chunked(3)
    client.generic(
        "PATCH",
        f"/fp/?patch={upload_id}",
        b"abc",
        content_type="application/offset+octet-stream",
        headers={"Upload-Offset": "0", "Upload-Length": "3", "Upload-Name": "caf\xe9.txt"},
    )
    assert TemporaryUpload.objects.get(pk=upload_id).file_name == "café.txt"


def test_a_chunk_larger_than_django_memory_limit_is_streamed(settings, start_chunked, patch):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    data = os.urandom(3 * 1024 * 1024)
    upload_id = start_chunked(len(data))
    assert patch(upload_id, data, 0, len(data)).status_code == 204
    assert stored_bytes(upload_id) == data


def test_a_chunk_over_the_chunk_limit_is_refused(settings, start_chunked, patch):
    settings.FILEPOND_SERVER_MAX_CHUNK_SIZE = 100
    upload_id = start_chunked(1000)
    response = patch(upload_id, b"x" * 101, 0, 1000)
    assert response.status_code == 413
    assert response.content.decode() == (
        "A chunk may be at most 100 bytes; use a smaller chunkSize."
    )
    assert stored_bytes(upload_id) == b""


def test_upload_length_over_the_maximum_is_refused_at_start(client, settings):
    settings.FILEPOND_SERVER_MAX_UPLOAD_SIZE = 1000
    response = client.post("/fp/", {"filepond": "{}"}, headers={"Upload-Length": "1001"})
    assert response.status_code == 413
    assert response.content.decode() == (
        "The file is larger than the maximum upload size of 1000 bytes."
    )
    assert TemporaryUpload.objects.count() == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "The Upload-Length header is missing."),
        ("abc", "The Upload-Length header must be a whole number of bytes."),
        ("-5", "The Upload-Length header must be a whole number of bytes."),
        ("1.5", "The Upload-Length header must be a whole number of bytes."),
        ("9" * 40, "The Upload-Length header must be a whole number of bytes."),
    ],
)
def test_bad_upload_length_on_patch(start_chunked, patch, value, message):
    upload_id = start_chunked(3)
    response = patch(upload_id, b"abc", 0, 3, **{"Upload-Length": value})
    assert response.status_code == 400
    assert response.content.decode() == message
    assert stored_bytes(upload_id) == b""


@pytest.mark.parametrize("value", ["abc", "-1", " ", "1e3"])
def test_bad_upload_length_on_start(client, value):
    response = client.post("/fp/", {"filepond": "{}"}, headers={"Upload-Length": value})
    assert response.status_code == 400
    assert TemporaryUpload.objects.count() == 0


def test_huge_upload_length_on_start_is_too_large(client):
    response = client.post("/fp/", {"filepond": "{}"}, headers={"Upload-Length": "9" * 19})
    assert response.status_code == 413


@pytest.mark.parametrize("value", ["", "x", "-1", "9" * 30])
def test_bad_upload_offset(start_chunked, patch, value):
    upload_id = start_chunked(3)
    response = patch(upload_id, b"abc", 0, 3, **{"Upload-Offset": value})
    assert response.status_code == 400
    assert "Upload-Offset" in response.content.decode()


def test_wrong_content_type_on_patch(client, start_chunked):
    upload_id = start_chunked(3)
    response = client.generic(
        "PATCH",
        f"/fp/?patch={upload_id}",
        b"abc",
        content_type="application/octet-stream",
        headers={"Upload-Offset": "0", "Upload-Length": "3"},
    )
    assert response.status_code == 415
    assert response.content.decode() == (
        "Send chunks with Content-Type application/offset+octet-stream."
    )


def test_patch_of_an_unknown_upload_is_404(patch):
    response = patch("A" * 22, b"abc", 0, 3)
    assert response.status_code == 404
    assert response.content.decode() == NOT_FOUND_WITHOUT_SESSION


@pytest.mark.parametrize("bad_id", ["short", "../../etc/passwd", "a" * 10_000, "abc%00def"])
def test_patch_with_a_malformed_id_is_400(patch, bad_id):
    response = patch(bad_id, b"abc", 0, 3)
    assert response.status_code == 400
    assert response.content.decode() == "That is not a valid upload id."


def test_patch_of_a_non_chunked_upload_is_refused(process, patch):
    upload_id = process(b"abc")
    response = patch(upload_id, b"abc", 0, 3)
    assert response.status_code == 409
    assert response.content.decode() == "That upload was not started as a chunked transfer."


def test_head_of_an_unknown_upload_is_404(client):
    assert client.head(f"/fp/?patch={'B' * 22}").status_code == 404


def test_start_with_field_name_sent_by_django_drf_filepond_clients(client):
    response = client.post(
        "/fp/",
        {"fp_upload_field": "avatar", "avatar": '{"k": 2}'},
        headers={"Upload-Length": "4"},
    )
    upload = TemporaryUpload.objects.get(pk=response.content.decode())
    assert upload.field_name == "avatar"
    assert upload.metadata == {"k": 2}


def test_start_with_a_renamed_field(client):
    response = client.post("/fp/", {"documents[]": "{}"}, headers={"Upload-Length": "4"})
    assert TemporaryUpload.objects.get(pk=response.content.decode()).field_name == "documents[]"


def test_empty_metadata_on_start_is_an_empty_object(start_chunked):
    upload_id = start_chunked(3, metadata="")
    assert TemporaryUpload.objects.get(pk=upload_id).metadata == {}


def test_a_missing_upload_offset_header_is_400(client, start_chunked):
    upload_id = start_chunked(3)
    response = client.generic(
        "PATCH",
        f"/fp/?patch={upload_id}",
        b"abc",
        content_type="application/offset+octet-stream",
        headers={"Upload-Length": "3"},
    )
    assert response.status_code == 400
    assert response.content.decode() == "The Upload-Offset header is missing."


def test_a_body_without_content_length_is_refused(client, start_chunked):
    upload_id = start_chunked(3)
    response = client.generic(
        "PATCH",
        f"/fp/?patch={upload_id}",
        content_type="application/offset+octet-stream",
        headers={"Upload-Offset": "0", "Upload-Length": "3", "Transfer-Encoding": "chunked"},
    )
    assert response.status_code == 411
    assert response.content.decode() == "A chunk needs a Content-Length header."
    assert TemporaryUpload.objects.get(pk=upload_id).received == 0


def test_a_failed_start_leaves_no_file(monkeypatch, upload_dirs):
    from django_filepond_server import transfers
    from django_filepond_server.ownership import Owner

    def fail(*args):
        raise RuntimeError("insert failed")

    monkeypatch.setattr(transfers, "insert_within_limits", fail)
    with pytest.raises(RuntimeError):
        transfers.start_chunked(10, "filepond", {}, Owner(token="t"))
    assert list(upload_dirs["tmp"].iterdir()) == []


@pytest.mark.parametrize(
    ("meanwhile", "status", "message"),
    [
        ("refused", 415, "Files ending in .exe are not accepted here; allowed: .txt."),
        ("reverted", 404, "No upload with that id was found."),
    ],
)
def test_a_chunk_whose_upload_changed_before_it_got_the_file_gets_why(
    start_chunked, patch, monkeypatch, settings, meanwhile, status, message
):
    """Between the lookup of its upload and the file lock, another request refused the
    upload (the first chunk's name) or reverted it, removing its file. The chunk gets that
    answer, not "the file of that upload is missing" (which says the server lost it)."""
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"default": {"extensions": [".txt"]}}
    upload_id = start_chunked(10)
    locked = LocalTemporaryArea.locked

    def another_request_first(area, locked_id):
        if meanwhile == "refused":
            TemporaryUpload.objects.filter(pk=locked_id).update(
                rejected=message, rejected_status=415
            )
        else:
            TemporaryUpload.objects.filter(pk=locked_id).delete()
        area.delete(locked_id)
        return locked(area, locked_id)

    monkeypatch.setattr(LocalTemporaryArea, "locked", another_request_first)
    response = patch(upload_id, b"0123456789", 0, 10, name="notes.txt")
    assert response.status_code == status
    assert response.content.decode() == message


# --- the row of a transfer in the local area ---------------------------------------------------
#
# The file holds what has arrived; a chunk in the middle of a transfer writes no row, and
# everything that reads the transfer's progress reads the file.


def _writes(queries) -> list[str]:
    return [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]


def test_a_middle_chunk_writes_no_row_and_head_reports_the_file(client, start_chunked, patch):
    upload_id = start_chunked(len(DATA))
    assert patch(upload_id, DATA[:CHUNK], 0, len(DATA), name="data.bin").status_code == 204
    with CaptureQueriesContext(connection) as queries:
        response = patch(upload_id, DATA[CHUNK : 2 * CHUNK], CHUNK, len(DATA), name="data.bin")
    assert response.status_code == 204
    assert response["Upload-Offset"] == str(2 * CHUNK)
    assert _writes(queries) == []
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.received == CHUNK  # the row lags behind the file...
    assert api.received_bytes(upload) == 2 * CHUNK  # ...which every reader asks
    assert client.head(f"/fp/?patch={upload_id}")["Upload-Offset"] == str(2 * CHUNK)
    assert patch(upload_id, DATA[2 * CHUNK :], 2 * CHUNK, len(DATA)).status_code == 204
    upload.refresh_from_db()
    assert upload.complete and upload.received == len(DATA)
    assert stored_bytes(upload_id) == DATA


def test_a_transfer_records_its_activity_within_the_interval(start_chunked, patch, settings):
    """A transfer that goes on is never taken for abandoned: a chunk arriving more than a
    tenth of ``TRANSFER_IDLE_TIMEOUT`` (at most 30 s) after the row's last record writes it."""
    settings.FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT = 100
    assert transfers.activity_interval() == timedelta(seconds=10)
    upload_id = start_chunked(len(DATA))
    patch(upload_id, DATA[:CHUNK], 0, len(DATA))
    rows = TemporaryUpload.objects.filter(pk=upload_id)

    recent = timezone.now() - timedelta(seconds=8)
    rows.update(updated=recent)
    patch(upload_id, DATA[CHUNK : CHUNK + 10], CHUNK, len(DATA))
    assert (rows.get().updated, rows.get().received) == (recent, CHUNK)

    rows.update(updated=timezone.now() - timedelta(seconds=11))
    before = timezone.now()
    patch(upload_id, DATA[CHUNK + 10 : 2 * CHUNK], CHUNK + 10, len(DATA))
    upload = rows.get()
    assert upload.updated >= before and upload.received == 2 * CHUNK

    settings.FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT = 24 * 60 * 60
    assert transfers.activity_interval() == transfers.ACTIVITY_INTERVAL == timedelta(seconds=30)


@pytest.mark.parametrize(
    ("meanwhile", "status", "message"),
    [
        ("refused", 415, "The file did not pass a check."),
        ("reverted", 404, "No upload with that id was found."),
    ],
)
def test_a_middle_chunk_whose_file_went_while_it_waited_gets_why(
    start_chunked, patch, monkeypatch, meanwhile, status, message
):
    """The chunk had the file open and waited for its lock while another request refused or
    reverted the upload and removed the file: it answers why, writes nothing anywhere and
    leaves no file behind."""
    upload_id = start_chunked(len(DATA))
    patch(upload_id, DATA[:CHUNK], 0, len(DATA))
    locked = LocalTemporaryArea.locked

    @contextlib.contextmanager
    def removed_while_waiting(area, locked_id):
        with locked(area, locked_id) as f:
            rows = TemporaryUpload.objects.filter(pk=locked_id)
            if meanwhile == "refused":
                rows.update(rejected=message, rejected_status=415)
            else:
                rows.delete()
            area.delete(locked_id)
            yield f

    monkeypatch.setattr(LocalTemporaryArea, "locked", removed_while_waiting)
    response = patch(upload_id, DATA[CHUNK : 2 * CHUNK], CHUNK, len(DATA))
    assert (response.status_code, response.content.decode()) == (status, message)
    assert not get_temporary_area().exists(upload_id)


def test_the_bytes_a_killed_worker_left_count_as_received(client, start_chunked, patch):
    """A worker killed halfway through a chunk leaves part of it in the file: those bytes are
    the client's, at their place, so a resume goes on from after them."""
    upload_id = start_chunked(len(DATA))
    patch(upload_id, DATA[:CHUNK], 0, len(DATA))
    with open(get_temporary_area().local_path(upload_id), "ab") as f:
        f.write(DATA[CHUNK : CHUNK + 100])
    assert client.head(f"/fp/?patch={upload_id}")["Upload-Offset"] == str(CHUNK + 100)
    # FilePond sends the whole chunk again: only its tail is written.
    response = patch(upload_id, DATA[CHUNK : 2 * CHUNK], CHUNK, len(DATA))
    assert response["Upload-Offset"] == str(2 * CHUNK)
    assert patch(upload_id, DATA[2 * CHUNK :], 2 * CHUNK, len(DATA)).status_code == 204
    assert stored_bytes(upload_id) == DATA
    assert TemporaryUpload.objects.get(pk=upload_id).complete
