"""restore and load handing the file to the front server (X-Accel-Redirect, X-Sendfile)."""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest
from django.http import FileResponse

from django_filepond_server.api import store_upload
from django_filepond_server.checks import check_settings
from django_filepond_server.models import StoredUpload
from tests.helpers import body_of

pytestmark = pytest.mark.django_db

#: The headers FilePond and the browser read, which must not change with offload.
FILE_HEADERS = ("Content-Type", "Content-Disposition", "X-Content-Type-Options", "Cache-Control")


@pytest.fixture
def nginx(settings, upload_dirs):
    """Offload through nginx, with the temporary area and the store under internal URIs."""
    settings.FILEPOND_SERVER_FILE_OFFLOAD = "x-accel-redirect"
    settings.FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS = {
        str(upload_dirs["tmp"]): "/_fp/tmp/",
        upload_dirs["media"]: "/_fp/store",  # a Path, and a prefix without the last "/"
    }
    return settings


def file_headers(response) -> dict[str, str]:
    return {name: response[name] for name in FILE_HEADERS}


def plain_and_offloaded(client, settings, url: str, **headers: str):
    mode = settings.FILEPOND_SERVER_FILE_OFFLOAD
    settings.FILEPOND_SERVER_FILE_OFFLOAD = None
    plain = client.get(url, headers=headers)
    settings.FILEPOND_SERVER_FILE_OFFLOAD = mode
    return plain, client.get(url, headers=headers)


def test_offload_is_off_by_default(client, process, upload_dirs, settings):
    settings.FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS = {str(upload_dirs["tmp"]): "/_fp/tmp/"}
    upload_id = process(b"abc")
    response = client.get(f"/fp/?restore={upload_id}")
    assert isinstance(response, FileResponse)
    assert body_of(response) == b"abc"
    assert "X-Accel-Redirect" not in response and "X-Sendfile" not in response


def test_restore_hands_the_temporary_file_to_nginx(client, process, nginx):
    upload_id = process(b"%PDF-1.4 body", name="report.pdf")
    plain, offloaded = plain_and_offloaded(client, nginx, f"/fp/?restore={upload_id}")
    assert offloaded.status_code == 200
    assert offloaded.content == b""
    assert offloaded["Content-Length"] == "0"
    assert offloaded["X-Accel-Redirect"] == f"/_fp/tmp/{upload_id}.upload"
    assert file_headers(offloaded) == file_headers(plain)
    assert file_headers(plain)["Content-Disposition"] == 'inline; filename="report.pdf"'
    # nginx sends the length of what it serves, and Accept-Ranges with a whole file.
    assert plain["Accept-Ranges"] == "bytes" and "Accept-Ranges" not in offloaded


@pytest.mark.parametrize(
    "name", ["résumé 東京 100%.pdf", "quote\" and 'single'.txt", "a b%20c.bin", "page.html"]
)
def test_load_puts_the_stored_name_percent_encoded_in_the_header(client, process, nginx, name):
    upload_id = process(b"<html><script>alert(1)</script></html>", name=name)
    stored = store_upload(upload_id, "in a dir/")
    plain, offloaded = plain_and_offloaded(client, nginx, f"/fp/?load={upload_id}")
    assert offloaded.status_code == 200 and offloaded.content == b""
    assert offloaded["X-Accel-Redirect"] == "/_fp/store/" + quote(stored.file.name, safe="/")
    assert offloaded["X-Accel-Redirect"].isascii()
    assert file_headers(offloaded) == file_headers(plain)


def test_active_content_stays_an_octet_stream_attachment(client, process, nginx):
    upload_id = process(b"<html><script>alert(1)</script></html>", name="page.html")
    response = client.get(f"/fp/?restore={upload_id}")
    assert "X-Accel-Redirect" in response
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="page.html"'


def test_x_sendfile_names_the_path_where_the_front_server_reads_it(
    client, process, settings, upload_dirs
):
    settings.FILEPOND_SERVER_FILE_OFFLOAD = "x-sendfile"
    settings.FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS = {
        str(upload_dirs["tmp"]): str(upload_dirs["tmp"]),  # the same directory
        str(upload_dirs["media"]) + "/": "/mnt/uploads/store/",  # mounted elsewhere there
    }
    upload_id = process(b"data", name="naïve name.txt")
    response = client.get(f"/fp/?restore={upload_id}")
    assert response["X-Sendfile"] == quote(str(upload_dirs["tmp"] / f"{upload_id}.upload"))
    assert response.content == b""
    stored = store_upload(upload_id, "docs/")
    plain, offloaded = plain_and_offloaded(client, settings, f"/fp/?load={upload_id}")
    assert offloaded["X-Sendfile"] == "/mnt/uploads/store/docs/na%C3%AFve%20name.txt"
    assert stored.file.name == "docs/naïve name.txt"
    assert file_headers(offloaded) == file_headers(plain)


def test_a_single_range_is_left_to_the_front_server(client, process, nginx):
    upload_id = process(b"0123456789", name="digits.bin")
    for header in ("bytes=2-5", "bytes=7-", "bytes=-3", "bytes=0-99"):
        response = client.get(f"/fp/?restore={upload_id}", headers={"range": header})
        assert response.status_code == 200, header
        assert response["X-Accel-Redirect"] == f"/_fp/tmp/{upload_id}.upload"
        # nginx adds no Accept-Ranges of its own to its 206, but keeps this one.
        assert response["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(
    "header", ["bytes=5-3", "bytes=0-1,4-5", "items=0-1", "bytes=0-9999999999999999999"]
)
def test_a_range_the_app_ignores_is_answered_by_the_app(client, process, nginx, header):
    """nginx would answer these differently (416, multipart/byteranges): the app answers
    them itself, as without offload."""
    upload_id = process(b"0123456789")
    response = client.get(f"/fp/?restore={upload_id}", headers={"range": header})
    assert response.status_code in (200, 206)
    assert "X-Accel-Redirect" not in response
    assert body_of(response) == b"0123456789"


def test_an_unsatisfiable_range_and_if_range_are_answered_by_the_app(client, process, nginx):
    upload_id = process(b"0123456789")
    response = client.get(f"/fp/?restore={upload_id}", headers={"range": "bytes=10-"})
    assert (response.status_code, response["Content-Range"]) == (416, "bytes */10")
    assert "X-Accel-Redirect" not in response
    response = client.get(
        f"/fp/?restore={upload_id}", headers={"range": "bytes=1-2", "if-range": '"x"'}
    )
    assert (response.status_code, body_of(response)) == (206, b"12")
    assert "X-Accel-Redirect" not in response


def test_head_is_answered_by_the_app(client, process, nginx):
    upload_id = process(b"0123456789")
    response = client.head(f"/fp/?restore={upload_id}")
    assert response["Content-Length"] == "10"
    assert "X-Accel-Redirect" not in response


def test_files_outside_the_locations_or_not_on_disk_are_streamed(
    client, process, nginx, upload_dirs
):
    nginx.FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS = {str(upload_dirs["tmp"]): "/_fp/tmp/"}
    upload_id = process(b"kept on disk")
    store_upload(upload_id, "x/")
    response = client.get(f"/fp/?load={upload_id}")  # the store is not covered
    assert isinstance(response, FileResponse) and "X-Accel-Redirect" not in response
    assert body_of(response) == b"kept on disk"

    nginx.FILEPOND_SERVER_STORAGE = "memory"  # no file on this machine
    nginx.FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS = {"/": "/_fp/all/"}
    upload_id = process(b"in memory")
    store_upload(upload_id, "m/")
    response = client.get(f"/fp/?load={upload_id}")
    assert "X-Accel-Redirect" not in response
    assert body_of(response) == b"in memory"


def test_the_deepest_location_wins(client, process, settings, upload_dirs):
    settings.FILEPOND_SERVER_FILE_OFFLOAD = "x-accel-redirect"
    settings.FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS = {
        str(upload_dirs["tmp"].parent): "/_fp/all/",
        str(upload_dirs["tmp"]): "/_fp/tmp/",
    }
    upload_id = process(b"abc")
    assert (
        client.get(f"/fp/?restore={upload_id}")["X-Accel-Redirect"]
        == f"/_fp/tmp/{upload_id}.upload"
    )


def test_the_offloaded_file_is_closed(client, process, nginx):
    upload_id = process(b"abc")
    store_upload(upload_id, "x/")
    client.get(f"/fp/?load={upload_id}")  # opens what it needs once
    before = sorted(os.listdir("/proc/self/fd"))
    for _ in range(5):
        assert "X-Accel-Redirect" in client.get(f"/fp/?load={upload_id}")
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_a_missing_file_is_still_a_404(client, process, nginx, upload_dirs):
    upload_id = process(b"abc")
    stored = store_upload(upload_id, "gone/")
    (upload_dirs["media"] / stored.file.name).unlink()
    response = client.get(f"/fp/?load={upload_id}")
    assert response.status_code == 404
    assert StoredUpload.objects.filter(pk=upload_id).exists()


# --- checks -------------------------------------------------------------------------------------


def ids() -> list[str]:
    return [message.id for message in check_settings()]


def test_a_good_offload_configuration_passes(nginx):
    assert ids() == []


@pytest.mark.parametrize("value", ["nginx", "X-Accel-Redirect", True])
def test_an_unknown_offload_mode_is_an_error(settings, value):
    settings.FILEPOND_SERVER_FILE_OFFLOAD = value
    assert ids() == ["django_filepond_server.E035"]


@pytest.mark.parametrize(
    ("locations", "problem"),
    [
        (["/srv/tmp"], "found ['/srv/tmp']"),
        ({"srv/tmp": "/_fp/tmp/"}, "'srv/tmp' is not an absolute directory"),
        ({"/srv/tmp": "_fp/tmp/"}, "'_fp/tmp/' (for '/srv/tmp') does not start with '/'"),
        ({"/srv/tmp": None}, "None (for '/srv/tmp') does not start with '/'"),
    ],
)
def test_bad_offload_locations_are_an_error(settings, locations, problem):
    settings.FILEPOND_SERVER_FILE_OFFLOAD = "x-accel-redirect"
    settings.FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS = locations
    (message,) = check_settings()
    assert message.id == "django_filepond_server.E036"
    assert message.msg == (
        "FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS should map absolute directories to internal "
        f"URI prefixes such as '/_filepond/tmp/'; {problem}."
    )


def test_an_uncovered_temporary_area_or_store_is_a_warning(settings, upload_dirs):
    settings.FILEPOND_SERVER_FILE_OFFLOAD = "x-sendfile"
    settings.FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS = {}
    messages = check_settings()
    assert [m.id for m in messages] == ["django_filepond_server.W008"] * 2
    assert messages[0].msg == (
        "FILEPOND_SERVER_FILE_OFFLOAD is on, but no entry of "
        "FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS covers the temporary area "
        f"({upload_dirs['tmp']}), so the app still sends its files itself."
    )
    assert "the permanent store 'default'" in messages[1].msg
    settings.FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS = {str(upload_dirs["tmp"].parent): "/"}
    assert ids() == []
    # A store that is not a directory here, and a shared temporary area, need no entry.
    settings.FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS = {}
    settings.FILEPOND_SERVER_STORAGE = "memory"
    settings.FILEPOND_SERVER_TEMP_STORAGE = "memory-tmp"
    settings.STORAGES = {
        **settings.STORAGES,
        "memory-tmp": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    assert [i for i in ids() if i != "django_filepond_server.W005"] == []
