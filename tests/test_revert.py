"""revert: DELETE with the id as the plain-text body."""

from __future__ import annotations

import copy
import os
import threading
import time

import pytest
from django.db import connection
from django.test import Client

from django_filepond_server.api import store_upload
from django_filepond_server.models import StoredUpload, TemporaryUpload
from django_filepond_server.temporary import get_temporary_area
from tests.helpers import NOT_FOUND_WITHOUT_SESSION

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("content_type", ["text/plain;charset=UTF-8", "application/json", ""])
def test_revert_deletes_the_upload_and_its_bytes(client, process, content_type):
    upload_id = process()
    response = client.delete("/fp/", upload_id, content_type=content_type)
    assert response.status_code == 204
    assert not TemporaryUpload.objects.filter(pk=upload_id).exists()
    assert not get_temporary_area().exists(upload_id)


def test_revert_on_the_path_style_url_with_surrounding_whitespace(client, process):
    upload_id = process()
    assert client.delete("/fp/revert/", f" {upload_id}\n").status_code == 204
    assert not TemporaryUpload.objects.filter(pk=upload_id).exists()


def test_revert_takes_the_id_from_the_query_string(client, process):
    upload_id = process()
    assert client.delete(f"/fp/revert/?id={upload_id}").status_code == 204
    assert not TemporaryUpload.objects.filter(pk=upload_id).exists()


def test_revert_of_a_transfer_in_progress(client, start_chunked, patch):
    upload_id = start_chunked(100)
    patch(upload_id, b"x" * 10, 0, 100)
    assert client.delete("/fp/", upload_id).status_code == 204
    assert not get_temporary_area().exists(upload_id)
    assert client.head(f"/fp/?patch={upload_id}").status_code == 404


def test_revert_never_deletes_a_stored_upload(client, process, upload_dirs):
    upload_id = process(b"keep me")
    stored = store_upload(upload_id, "kept/")
    response = client.delete("/fp/", upload_id)
    assert response.status_code == 404
    assert StoredUpload.objects.filter(pk=upload_id).exists()
    assert (upload_dirs["media"] / stored.file.name).read_bytes() == b"keep me"


def test_revert_of_an_unknown_id_is_404(client, process):
    response = client.delete("/fp/", "C" * 22)
    assert response.status_code == 404
    assert response.content.decode() == NOT_FOUND_WITHOUT_SESSION
    process()  # now the client has a session: the answer no longer mentions the cookie
    response = client.delete("/fp/", "C" * 22)
    assert response.status_code == 404
    assert response.content.decode() == "No upload with that id was found."


def test_revert_with_an_empty_body_is_400(client):
    response = client.delete("/fp/", "")
    assert response.status_code == 400
    assert response.content.decode() == "The request does not say which upload it is for."


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe\x00garbage", b"not an id at all", b"../../etc/passwd", b"a\x00b" * 8],
)
def test_revert_with_a_garbage_body_is_400(client, body):
    response = client.delete("/fp/", body, content_type="text/plain")
    assert response.status_code == 400
    assert response.content.decode() == "That is not a valid upload id."


def test_revert_with_a_huge_body_is_400(client):
    response = client.delete("/fp/", b"a" * 10_000, content_type="text/plain")
    assert response.status_code == 400
    assert response.content.decode() == "The revert request body must be just the upload id."


def _wait_for_a_flock_waiter(path: str, timeout: float = 10) -> None:
    """Wait until some file description waits for the ``flock`` of ``path`` (Linux lists
    waiters in /proc/locks as ``-> FLOCK ... <dev>:<inode> ...``)."""
    inode = os.stat(path).st_ino
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/locks") as f:
            if any("->" in line and f":{inode} " in line for line in f):
                return
        time.sleep(0.01)
    raise AssertionError(f"nothing waits for the lock of {path}")


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="needs Linux's /proc/locks")
def test_a_chunk_waiting_for_the_file_while_its_upload_is_reverted_gets_404(
    client, start_chunked, patch
):
    """A chunk waits for the file lock another chunk of the upload holds; meanwhile FilePond
    reverts the upload (the user removed the file). The waiting chunk finds no upload."""
    upload_id = start_chunked(10)
    area = get_temporary_area()
    reverter = Client()
    reverter.cookies = copy.deepcopy(client.cookies)
    answers = []

    def send() -> None:
        try:
            answers.append(patch(upload_id, b"x" * 10, 0, 10))
        finally:
            connection.close()  # this thread's own

    waiting = threading.Thread(target=send)
    with area.locked(upload_id):  # the other chunk, still arriving
        waiting.start()
        _wait_for_a_flock_waiter(area.local_path(upload_id))
        assert reverter.delete("/fp/", upload_id).status_code == 204
    waiting.join(timeout=30)
    assert answers[0].status_code == 404
    assert answers[0].content.decode() == "No upload with that id was found."
    assert not area.exists(upload_id)
