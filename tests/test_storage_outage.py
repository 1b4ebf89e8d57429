"""A temporary storage that cannot be reached (S3 down, a network cut) is answered with 503
and ``Retry-After``, never with a 500, and leaves nothing half done: FilePond's retry, once the
storage is back, finishes the upload."""

from __future__ import annotations

import os

import pytest
from botocore.config import Config
from django.core.files.uploadedfile import SimpleUploadedFile

from django_filepond_server.cleanup import cleanup
from django_filepond_server.models import TemporaryUpload
from django_filepond_server.storage import list_files
from tests.helpers import body_of
from tests.remote_storage import free_port
from tests.test_temporary_storage import chunked, parts_of, s3_area  # noqa: F401  (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.remote_storage]

DOWN = b"The server could not read or write the file storage. Try again later."


@pytest.fixture
def outage(settings, s3_server, s3_area):  # noqa: F811
    """``outage.start()`` points the temporary storage at a port nobody listens on,
    ``outage.end()`` back at S3."""
    working = settings.STORAGES["shared-tmp"]
    broken = s3_server.storage_options(
        location=working["OPTIONS"]["location"],
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        client_config=Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1}),
    )

    class Outage:
        area = s3_area

        def start(self) -> None:
            settings.STORAGES = {**settings.STORAGES, "shared-tmp": broken}

        def end(self) -> None:
            settings.STORAGES = {**settings.STORAGES, "shared-tmp": working}

    return Outage()


def names_in(area) -> list[str]:
    return sorted(entry.name for entry in list_files(area.storage))


def assert_unavailable(response) -> None:
    assert response.status_code == 503, body_of(response)
    assert body_of(response) == DOWN
    assert response["Retry-After"] == "1"


def test_a_whole_file_the_storage_cannot_take_is_a_503_and_leaves_no_row(client, outage):
    outage.start()
    response = client.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("a.txt", b"hello")]})
    assert_unavailable(response)
    assert not TemporaryUpload.objects.exists()

    outage.end()
    response = client.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("a.txt", b"hello")]})
    assert response.status_code == 200
    assert body_of(client.get(f"/fp/?restore={response.content.decode()}")) == b"hello"


def test_a_whole_file_parsed_by_middleware_is_a_503_too(client, outage, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.middleware.ReadPostMiddleware"]
    outage.start()
    response = client.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("a.txt", b"hello")]})
    assert_unavailable(response)
    assert not TemporaryUpload.objects.exists()


def test_restore_while_the_storage_is_unreachable_is_a_503(client, process, outage):
    upload_id = process(b"kept safe")
    outage.start()
    assert_unavailable(client.get(f"/fp/?restore={upload_id}"))
    assert_unavailable(client.get(f"/fp/?restore={upload_id}", headers={"Range": "bytes=2-4"}))

    outage.end()
    assert body_of(client.get(f"/fp/?restore={upload_id}")) == b"kept safe"


def test_checks_that_cannot_read_the_storage_are_a_503_and_run_again_on_the_retry(
    client, start_chunked, patch, outage, settings
):
    content = os.urandom(3000)
    seen = []

    def storage_goes_away(upload, f):
        if not seen:  # once, between the checks' reads of the upload
            seen.append("outage")
            outage.start()

    def read(upload, f):
        seen.append(f.read())

    settings.FILEPOND_SERVER_VALIDATORS = [storage_goes_away, read]
    upload_id = start_chunked(3000)
    assert patch(upload_id, content[:2000], 0, 3000).status_code == 204
    assert_unavailable(patch(upload_id, content[2000:], 2000, 3000))
    upload = TemporaryUpload.objects.get(pk=upload_id)
    # The bytes are all there; the checks are not claimed any more, so the retry runs them.
    assert (upload.received, upload.complete, upload.checking_since) == (3000, False, None)
    assert parts_of(upload_id) == [(0, 2000, 0), (2000, 1000, 0)]

    outage.end()
    retry = patch(upload_id, content[2000:], 2000, 3000)
    assert (retry.status_code, retry["Upload-Offset"]) == (204, "3000")
    assert TemporaryUpload.objects.get(pk=upload_id).complete
    assert seen == ["outage", content]
    assert body_of(client.get(f"/fp/?restore={upload_id}")) == content


def test_a_refusal_while_the_storage_is_unreachable_is_still_the_refusal(
    start_chunked, patch, outage, settings
):
    from django.core.exceptions import ValidationError

    def refuse(upload, f):
        outage.start()  # the bytes cannot be deleted now: cleanup removes them later
        raise ValidationError("Not this file.")

    settings.FILEPOND_SERVER_VALIDATORS = [refuse]
    upload_id = start_chunked(10)
    response = patch(upload_id, b"x" * 10, 0, 10)
    assert (response.status_code, body_of(response)) == (422, b"Not this file.")
    assert TemporaryUpload.objects.get(pk=upload_id).rejected == "Not this file."


def test_resume_and_revert_need_only_the_database(
    client, start_chunked, patch, outage, settings, django_capture_on_commit_callbacks
):
    upload_id = start_chunked(20)
    assert patch(upload_id, b"x" * 10, 0, 20).status_code == 204
    outage.start()
    head = client.head(f"/fp/?patch={upload_id}")
    assert (head.status_code, head["Upload-Offset"]) == (200, "10")
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete("/fp/", upload_id).status_code == 204
    assert not TemporaryUpload.objects.exists()

    outage.end()  # the chunk's object outlived its row: cleanup removes it once it is old
    assert [name.split("/")[0] for name in names_in(outage.area)] == [upload_id]
    settings.FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT = 0
    assert cleanup().orphan_files == 1
    assert names_in(outage.area) == []


def test_a_fetched_file_the_storage_cannot_take_is_a_503(client, outage, settings):
    from tests.remote_server import RemoteServer

    settings.FILEPOND_SERVER_FETCH_ENABLED = True
    settings.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    remote = RemoteServer()
    outage.start()
    try:
        response = client.get("/fp/", {"fetch": f"{remote.base}/files/photo.png"})
    finally:
        remote.stop()
    assert_unavailable(response)
    assert not TemporaryUpload.objects.exists()
