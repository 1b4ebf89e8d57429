"""The demo's pages, driven the way the FilePond widget drives them.

Run under the demo's settings (``tests/test_demo.py`` does this in a subprocess)::

    PYTHONPATH=.:demo python -m pytest demo/tests --ds=demo_project.settings
"""

from __future__ import annotations

import html
import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client


@pytest.fixture(autouse=True)
def demo_dirs(settings: Any, tmp_path: Path) -> dict[str, Path]:
    """A fresh temporary area and media root, never the demo's own demo/var/."""
    settings.FILEPOND_SERVER_TEMP_DIR = str(tmp_path / "tmp")
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return {"tmp": tmp_path / "tmp", "media": tmp_path / "media"}


def upload(client: Client, content: bytes = b"hello world", name: str = "hello.txt") -> str:
    """Upload a whole file to /fp/ as FilePond does: metadata first, then the file."""
    response = client.post("/fp/", {"filepond": ["{}", SimpleUploadedFile(name, content)]})
    assert response.status_code == 200, response.content
    return response.content.decode()


def upload_chunked(client: Client, content: bytes, name: str, chunk_size: int) -> str:
    """Upload ``content`` the way FilePond does with ``chunkUploads``: a start, then PATCHes."""
    length = str(len(content))
    response = client.post("/fp/", {"filepond": "{}"}, headers={"Upload-Length": length})
    assert response.status_code == 200, response.content
    upload_id = response.content.decode()
    for offset in range(0, len(content), chunk_size):
        response = client.patch(
            f"/fp/?patch={upload_id}",
            content[offset : offset + chunk_size],
            content_type="application/offset+octet-stream",
            headers={"Upload-Offset": str(offset), "Upload-Length": length, "Upload-Name": name},
        )
        assert response.status_code == 204, response.content
    return upload_id


def filepond_config(response: Any, name: str = "files") -> dict[str, Any]:
    """The FilePond options the form widget of field ``name`` rendered into the page."""
    match = re.search(
        rf'<input type="file" name="{name}"[^>]*data-filepond="([^"]*)"',
        response.content.decode(),
    )
    assert match, response.content
    return json.loads(html.unescape(match.group(1)))["options"]  # type: ignore[no-any-return]


def tiny_png() -> bytes:
    """A valid 1x1 PNG (libmagic reads it as image/png)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def body(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content  # type: ignore[no-any-return]


def create_document(client: Client, title: str, files: dict[str, bytes]) -> tuple[int, list[str]]:
    """Submit the upload page with ``files`` uploaded; returns the document's pk and ids."""
    ids = [upload(client, content, name) for name, content in files.items()]
    response = client.post("/", {"title": title, "files": ids})
    assert response.status_code == 302, response.content
    pk = int(re.fullmatch(r"/documents/(\d+)/", response["Location"]).group(1))  # type: ignore[union-attr]
    return pk, ids


@pytest.mark.django_db
def test_submit_stores_uploads_and_lists_them(client: Client, demo_dirs: dict[str, Path]) -> None:
    whole = upload(client, b"a small note", "note.txt")
    big = bytes(range(256)) * 10
    chunked = upload_chunked(client, big, "scan.bin", chunk_size=1000)

    # Items that never finished uploading submit an empty value.
    response = client.post("/", {"title": "Trip", "files": [whole, "", chunked]})
    assert response.status_code == 302

    page = client.get(response["Location"])
    html = page.content.decode()
    assert "Trip" in html
    assert "note.txt" in html and "12\xa0bytes" in html
    assert "scan.bin" in html and "2.5\xa0KB" in html
    assert f'href="/fp/load/?id={chunked}"' in html

    downloaded = client.get(f"/fp/load/?id={chunked}")
    assert downloaded.status_code == 200
    assert body(downloaded) == big
    assert (demo_dirs["media"] / "demo" / "note.txt").read_bytes() == b"a small note"
    # Stored means gone from the temporary area: FilePond can no longer restore or revert it.
    assert client.get(f"/fp/?restore={whole}").status_code == 404


@pytest.mark.django_db
def test_invalid_submit_gives_uploads_back_as_limbo(client: Client) -> None:
    upload_id = upload(client, b"keep me", "keep.txt")

    response = client.post("/", {"title": "", "files": [upload_id, ""]})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert filepond_config(response)["files"] == [
        {"source": upload_id, "options": {"type": "limbo"}}
    ]
    # What FilePond then requests for the limbo item: the bytes, under their name.
    restored = client.get(f"/fp/?restore={upload_id}")
    assert restored.status_code == 200
    assert body(restored) == b"keep me"
    assert 'filename="keep.txt"' in restored["Content-Disposition"]

    response = client.post("/", {"title": "Second try", "files": [upload_id]})
    assert response.status_code == 302
    assert "keep.txt" in client.get(response["Location"]).content.decode()


@pytest.mark.django_db
def test_page_configures_filepond_for_this_server() -> None:
    from django_filepond_server.conf import conf

    client = Client(enforce_csrf_checks=True)
    config = filepond_config(client.get("/"))

    assert config["server"]["url"] == "/fp/"
    assert config["files"] == []
    assert 0 < config["chunkSize"] <= conf.MAX_CHUNK_SIZE
    # The token FilePond sends as X-CSRFToken is valid for this visitor.
    token = config["server"]["headers"]["X-CSRFToken"]
    response = client.post("/", {"title": "t"}, headers={"X-CSRFToken": token})
    assert response.status_code == 302


@pytest.mark.django_db
def test_logged_in_user_uploads_with_the_page_token() -> None:
    from django.contrib.auth.models import User

    User.objects.create_user("ada", password="pw")
    client = Client(enforce_csrf_checks=True)
    client.login(username="ada", password="pw")
    token = filepond_config(client.get("/"))["server"]["headers"]["X-CSRFToken"]

    def file() -> dict[str, Any]:
        return {"filepond": ["{}", SimpleUploadedFile("a.txt", b"a")]}

    # DRF checks CSRF for session-authenticated users only.
    assert client.post("/fp/", file()).status_code == 403
    response = client.post("/fp/", file(), headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_edit_page_shows_stored_files_as_local(client: Client) -> None:
    pk, ids = create_document(client, "Report", {"a.txt": b"first", "b.txt": b"second"})

    config = filepond_config(client.get(f"/documents/{pk}/edit/"))

    local = [{"source": i, "options": {"type": "local"}} for i in ids]
    assert sorted(config["files"], key=str) == sorted(local, key=str)
    # What FilePond then requests for each local item.
    loaded = client.get(f"/fp/?load={ids[1]}")
    assert loaded.status_code == 200
    assert body(loaded) == b"second"
    assert 'filename="b.txt"' in loaded["Content-Disposition"]
    # Removing a local item larger than chunkSize makes FilePond send a revert with its id
    # (seen in Chromium); the stored file must stay until the form is saved.
    reverted = client.delete("/fp/", ids[1], content_type="text/plain;charset=UTF-8")
    assert reverted.status_code == 404
    assert body(client.get(f"/fp/?load={ids[1]}")) == b"second"


@pytest.mark.django_db
def test_edit_stores_new_files_and_removes_dropped_ones(
    client: Client, demo_dirs: dict[str, Path], django_capture_on_commit_callbacks: Any
) -> None:
    from django_filepond_server.models import StoredUpload

    pk, (kept, dropped) = create_document(client, "Mine", {"kept.txt": b"k", "dropped.txt": b"d"})
    new = upload(client, b"n", "new.txt")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/documents/{pk}/edit/", {"title": "Mine, v2", "files": [kept, new, ""]}
        )

    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert "Mine, v2" in html
    assert "kept.txt" in html and "new.txt" in html
    assert "dropped.txt" not in html
    # The form deletes what was removed in the widget (delete_removed), once saved.
    assert not StoredUpload.objects.filter(pk=dropped).exists()
    assert not (demo_dirs["media"] / "demo" / "dropped.txt").exists()
    assert client.get(f"/fp/?load={dropped}").status_code == 404


@pytest.mark.django_db
def test_ids_that_are_not_this_documents_are_refused(client: Client) -> None:
    pk, (kept,) = create_document(client, "Mine", {"kept.txt": b"k"})
    other_pk, (other,) = create_document(client, "Theirs", {"other.txt": b"o"})

    for ids in ([kept, other], [kept, "XXXXXXXXXXXXXXXXXXXXXX"]):
        response = client.post(f"/documents/{pk}/edit/", {"title": "Mine, v2", "files": ids})
        assert response.status_code == 200
        assert "no longer available" in response.content.decode()
    # Nothing changed: neither document, nor the other document's file.
    assert "Mine, v2" not in client.get(f"/documents/{pk}/").content.decode()
    assert "other.txt" in client.get(f"/documents/{other_pk}/").content.decode()
    assert body(client.get(f"/fp/?load={other}")) == b"o"


@pytest.mark.django_db
def test_a_cover_image_is_stored_in_the_file_field_and_shown(
    client: Client, demo_dirs: dict[str, Path]
) -> None:
    png = tiny_png()
    response = client.post("/", {"title": "Covered", "cover": [upload(client, png, "c.png")]})
    assert response.status_code == 302
    assert (demo_dirs["media"] / "covers" / "c.png").read_bytes() == png
    page = client.get(response["Location"]).content.decode()
    link = re.search(r'Cover image: <a href="([^"]+)">covers/c.png</a>', page)
    assert link, page
    assert body(client.get(html.unescape(link.group(1)))) == png
    # Not an image: refused on the form.
    refused = client.post("/", {"title": "x", "cover": [upload(client, b"text", "t.png")]})
    assert (
        "was refused: Files of type text/plain are not accepted here." in refused.content.decode()
    )


@pytest.mark.django_db
def test_the_api_stores_uploads_and_reads_them_back(client: Client) -> None:
    ids = [upload(client, b"first", "a.txt"), upload(client, b"second", "b.txt")]

    created = client.post(
        "/api/documents/", {"title": "Via API", "files": ids}, content_type="application/json"
    )

    assert created.status_code == 201, created.content
    files = {item["name"]: item for item in created.json()["files"]}
    assert set(files) == {"a.txt", "b.txt"}
    assert body(client.get(files["b.txt"]["url"])) == b"second"
    refused = client.post(
        "/api/documents/", {"title": "Again", "files": ids}, content_type="application/json"
    )
    assert refused.status_code == 400  # stored already: no longer temporary uploads
    assert list(refused.json()) == ["files"]


def test_demo_settings_pass_the_apps_checks() -> None:
    from django.core import checks

    messages = [m for m in checks.run_checks() if m.id and "filepond" in m.id]
    assert messages == []


@pytest.mark.django_db
def test_another_visitors_upload_is_never_stored(client: Client) -> None:
    from django_filepond_server.models import StoredUpload, TemporaryUpload

    stranger = Client()
    theirs = upload(stranger, b"not yours", "theirs.txt")
    mine = upload(client, b"mine", "mine.txt")

    response = client.post("/", {"title": "Grab", "files": [mine, theirs]})

    # Refused on the form, and nothing is stored, not even the visitor's own file.
    assert response.status_code == 200
    assert "no longer available" in response.content.decode()
    assert not StoredUpload.objects.exists()
    assert TemporaryUpload.objects.filter(pk__in=[mine, theirs]).count() == 2
