"""restore (temporary uploads) and load (stored uploads): streamed bytes and headers."""

from __future__ import annotations

import os

import pytest
from django.http import FileResponse

from django_filepond_server.api import store_upload
from tests.helpers import body_of, tiny_png

pytestmark = pytest.mark.django_db


def test_restore_streams_the_file_with_filepond_headers(client, process):
    upload_id = process(b"%PDF-1.4 body", name="report.pdf")
    response = client.get(f"/fp/?restore={upload_id}")
    assert response.status_code == 200
    assert isinstance(response, FileResponse)
    assert body_of(response) == b"%PDF-1.4 body"
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Length"] == "13"
    assert response["Content-Disposition"] == 'inline; filename="report.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "url",
    ["/fp/restore/?id={id}", "/fp/restore/{id}", "/fp/restore/{id}/", "/fp/restore?id={id}"],
)
def test_restore_on_path_style_urls(client, process, url):
    upload_id = process(b"abc")
    response = client.get(url.format(id=upload_id))
    assert response.status_code == 200
    assert body_of(response) == b"abc"


def test_restore_of_an_unfinished_transfer_is_409(client, start_chunked):
    upload_id = start_chunked(10)
    response = client.get(f"/fp/?restore={upload_id}")
    assert response.status_code == 409
    assert response.content.decode() == "That upload has not finished yet."


def test_restore_of_a_stored_upload_is_404(client, process):
    upload_id = process()
    store_upload(upload_id, "x/")
    assert client.get(f"/fp/?restore={upload_id}").status_code == 404


@pytest.mark.parametrize(
    "bad_id", ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "abc%00", "a" * 10_000, "%00" * 22]
)
@pytest.mark.parametrize("endpoint", ["restore", "load"])
def test_bad_ids_are_refused_with_plain_text(client, endpoint, bad_id):
    for url in (f"/fp/?{endpoint}={bad_id}", f"/fp/{endpoint}/{bad_id}"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert response.content.decode() == "That is not a valid upload id."


@pytest.mark.parametrize(
    ("name", "disposition"),
    [
        ("plain.txt", 'inline; filename="plain.txt"'),
        ("100%.pdf", "inline; filename*=UTF-8''100%25.pdf"),
        (
            "résumé 東京 100%.pdf",
            "inline; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E6%9D%B1%E4%BA%AC%20100%25.pdf",
        ),
        ("a''b.pdf", "inline; filename=\"a''b.pdf\""),
        ("a''b, é.pdf", "inline; filename*=UTF-8''a%27%27b_%20%C3%A9.pdf"),
        ('quote".txt', 'inline; filename="quote_.txt"'),
    ],
)
def test_content_disposition_for_tricky_names(client, process, name, disposition):
    upload_id = process(b"x", name=name)
    assert client.get(f"/fp/?restore={upload_id}")["Content-Disposition"] == disposition


@pytest.mark.parametrize(
    "name", ["page.html", "page.htm", "image.svg", "feed.xml", "script.js", "page.xhtml"]
)
def test_active_content_goes_out_as_an_octet_stream_attachment(client, process, name):
    upload_id = process(b"<script>alert(1)</script>", name=name)
    for url in (f"/fp/?restore={upload_id}",):
        response = client.get(url)
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["X-Content-Type-Options"] == "nosniff"
    store_upload(upload_id, "x/")
    response = client.get(f"/fp/?load={upload_id}")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'


def test_load_streams_a_stored_file_under_its_original_name(client, process):
    png = tiny_png()
    upload_id = process(png, name="résumé.png")
    store_upload(upload_id, "images/renamed.png")
    for url in (f"/fp/?load={upload_id}", f"/fp/load/?id={upload_id}", f"/fp/load/{upload_id}"):
        response = client.get(url)
        assert response.status_code == 200
        assert body_of(response) == png
        assert response["Content-Type"] == "image/png"
        assert response["Content-Length"] == str(len(png))
        assert response["Content-Disposition"] == "inline; filename*=UTF-8''r%C3%A9sum%C3%A9.png"
        assert response["Accept-Ranges"] == "bytes"
        assert "X-Content-Transfer-Id" not in response


def test_load_of_a_temporary_upload_is_404(client, process):
    upload_id = process()
    response = client.get(f"/fp/?load={upload_id}")
    assert response.status_code == 404
    assert response.content.decode() == "No upload with that id was found."


def test_load_from_another_storage_alias(client, process, settings):
    settings.FILEPOND_SERVER_STORAGE = "memory"
    upload_id = process(b"in memory")
    store_upload(upload_id, "m/")
    assert body_of(client.get(f"/fp/?load={upload_id}")) == b"in memory"


def test_load_of_a_row_whose_file_is_gone_is_404(client, process, upload_dirs):
    upload_id = process(b"abc")
    stored = store_upload(upload_id, "gone/")
    (upload_dirs["media"] / stored.file.name).unlink()
    response = client.get(f"/fp/?load={upload_id}")
    assert response.status_code == 404
    assert response.content.decode() == "The stored file of that upload is missing."


@pytest.fixture
def stored_digits(process):
    upload_id = process(b"0123456789", name="digits.txt")
    store_upload(upload_id, "d/")
    return upload_id


@pytest.mark.parametrize(
    ("header", "content", "content_range"),
    [
        ("bytes=2-4", b"234", "bytes 2-4/10"),
        ("bytes=7-", b"789", "bytes 7-9/10"),
        ("bytes=-3", b"789", "bytes 7-9/10"),
        ("bytes=8-100", b"89", "bytes 8-9/10"),
        ("bytes=-100", b"0123456789", "bytes 0-9/10"),
        # Numbers past Python's 4,300-digit limit for int() once answered 500.
        ("bytes=8-" + "9" * 5000, b"89", "bytes 8-9/10"),
        ("bytes=-" + "9" * 5000, b"0123456789", "bytes 0-9/10"),
        ("bytes=" + "0" * 5000 + "2-4", b"234", "bytes 2-4/10"),
    ],
)
def test_load_answers_a_single_range(client, stored_digits, header, content, content_range):
    response = client.get(f"/fp/?load={stored_digits}", headers={"Range": header})
    assert response.status_code == 206
    assert body_of(response) == content
    assert response["Content-Range"] == content_range
    assert response["Content-Length"] == str(len(content))


@pytest.mark.parametrize("header", ["bytes=0-1,4-5", "items=0-1", "bytes=5-2", "bytes=-", "junk"])
def test_load_ignores_ranges_it_does_not_serve(client, stored_digits, header):
    response = client.get(f"/fp/?load={stored_digits}", headers={"Range": header})
    assert response.status_code == 200
    assert body_of(response) == b"0123456789"


@pytest.mark.parametrize(
    "header", ["bytes=10-", "bytes=99-100", "bytes=-0", "bytes=" + "9" * 5000 + "-"]
)
def test_load_refuses_a_range_outside_the_file(client, stored_digits, header):
    response = client.get(f"/fp/?load={stored_digits}", headers={"Range": header})
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */10"


def test_restore_answers_a_range(client, process):
    upload_id = process(b"0123456789")
    response = client.get(f"/fp/?restore={upload_id}", headers={"Range": "bytes=2-4"})
    assert response.status_code == 206
    assert response["Content-Range"] == "bytes 2-4/10"
    assert body_of(response) == b"234"
    assert body_of(client.get(f"/fp/?restore={upload_id}")) == b"0123456789"


def test_restore_of_an_upload_whose_file_is_gone_is_404(client, process):
    from django_filepond_server.temporary import get_temporary_area

    upload_id = process(b"abc")
    get_temporary_area().delete(upload_id)
    response = client.get(f"/fp/?restore={upload_id}")
    assert response.status_code == 404
    assert response.content.decode() == "The file of that upload is missing."


def test_load_when_the_storage_fails_is_a_503(client, process, monkeypatch):
    from django.core.files.storage import storages

    upload_id = process(b"abc")
    store_upload(upload_id, "x/")

    def broken(self, name, mode="rb"):
        raise ConnectionError("storage unreachable")

    monkeypatch.setattr(type(storages["default"]), "open", broken)
    response = client.get(f"/fp/?load={upload_id}")
    assert response.status_code == 503
    assert response.content.decode() == (
        "The server could not read or write the file storage. Try again later."
    )


def test_load_when_the_storage_raises_anything_is_a_503(client, process, monkeypatch):
    from django.core.files.storage import storages

    upload_id = process(b"abc")
    store_upload(upload_id, "x/")

    class BackendError(Exception):
        pass

    def broken(self, name, mode="rb"):
        raise BackendError("AccessDenied: s3://bucket/key at 10.0.0.5")

    monkeypatch.setattr(type(storages["default"]), "open", broken)
    response = client.get(f"/fp/?load={upload_id}")
    assert response.status_code == 503
    assert "10.0.0.5" not in response.content.decode()


def test_an_unread_range_answer_still_closes_its_file(process, monkeypatch):
    from django.core.files.storage import storages
    from django.test import Client

    upload_id = process(b"0123456789")
    store_upload(upload_id, "x/")
    opened = []
    real_open = type(storages["default"]).open

    def tracking_open(self, name, mode="rb"):
        f = real_open(self, name, mode)
        opened.append(f)
        return f

    monkeypatch.setattr(type(storages["default"]), "open", tracking_open)
    response = Client().get(f"/fp/?load={upload_id}", headers={"Range": "bytes=1-2"})
    assert response.status_code == 206
    response.close()
    assert opened and opened[0].closed


def test_head_answers_carry_no_body(client, process, start_chunked, rf):
    """WSGI servers drop (with a warning) a body sent with a HEAD answer: there is none."""
    from django.contrib.sessions.middleware import SessionMiddleware

    from django_filepond_server.views import PatchView, RestoreView, filepond_root

    upload_id = process(b"0123456789")
    transfer = start_chunked(10)

    def head(view, path, cookies=None):
        request = rf.head(path)
        request.COOKIES.update(cookies or {})
        SessionMiddleware(lambda r: None).process_request(request)
        return view(request)

    own = head(
        filepond_root, f"/fp/?restore={upload_id}", {"sessionid": client.cookies["sessionid"].value}
    )
    assert own.status_code == 200
    assert (own.content, own["Content-Length"]) == (b"", "10")

    for view, path, status in [
        (filepond_root, f"/fp/?restore={upload_id}", 404),  # not this visitor's
        (filepond_root, "/fp/?patch=" + "Z" * 22, 404),
        (filepond_root, "/fp/?patch=bad", 400),
        (filepond_root, "/fp/", 400),
        (PatchView.as_view(), f"/fp/patch/?patch={transfer}", 404),
        (RestoreView.as_view(), "/fp/restore/?id=short", 400),
    ]:
        response = head(view, path)
        assert response.status_code == status, path
        assert not response.streaming and response.content == b"", path
        assert int(response["Content-Length"]) > 0  # what the GET answer would carry


def test_a_file_shorter_than_its_record_ends_the_answer_where_the_bytes_end(
    client, process, upload_dirs
):
    # Someone truncated the stored file: a range answer stops where the bytes do, instead of
    # waiting for more.
    upload_id = process(b"0123456789")
    stored = store_upload(upload_id, "short/")
    os.truncate(upload_dirs["media"] / stored.file.name, 4)
    response = client.get(f"/fp/?load={upload_id}", headers={"Range": "bytes=2-8"})
    assert response.status_code == 206
    assert body_of(response) == b"23"
