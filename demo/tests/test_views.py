"""The demo's pages, driven the way the FilePond widget drives them.

Run under the demo's settings (``tests/test_demo.py`` does this in a subprocess)::

    PYTHONPATH=.:demo python -m pytest demo/tests --ds=demo_project.settings
"""

from __future__ import annotations

import json
import re
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


def filepond_config(response: Any) -> dict[str, Any]:
    """The JSON the page hands to demo.js (written with json_script)."""
    match = re.search(
        rb'<script id="filepond-config" type="application/json">(.*?)</script>',
        response.content,
        re.S,
    )
    assert match, response.content
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def body(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content  # type: ignore[no-any-return]


def create_document(client: Client, title: str, files: dict[str, bytes]) -> tuple[int, list[str]]:
    """Submit the upload page with ``files`` uploaded; returns the document's pk and ids."""
    ids = [upload(client, content, name) for name, content in files.items()]
    response = client.post("/", {"title": title, "filepond": ids})
    assert response.status_code == 302, response.content
    pk = int(re.fullmatch(r"/documents/(\d+)/", response["Location"]).group(1))  # type: ignore[union-attr]
    return pk, ids


@pytest.mark.django_db
def test_submit_stores_uploads_and_lists_them(client: Client, demo_dirs: dict[str, Path]) -> None:
    whole = upload(client, b"a small note", "note.txt")
    big = bytes(range(256)) * 10
    chunked = upload_chunked(client, big, "scan.bin", chunk_size=1000)

    # Items that never finished uploading submit an empty value.
    response = client.post("/", {"title": "Trip", "filepond": [whole, "", chunked]})
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

    response = client.post(
        "/", {"title": "", "filepond": [upload_id, "", "NotAnUploadOfThisServer"]}
    )

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

    response = client.post("/", {"title": "Second try", "filepond": [upload_id]})
    assert response.status_code == 302
    assert "keep.txt" in client.get(response["Location"]).content.decode()


@pytest.mark.django_db
def test_page_configures_filepond_for_this_server() -> None:
    from django_filepond_server.conf import conf

    client = Client(enforce_csrf_checks=True)
    config = filepond_config(client.get("/"))

    assert config["server"] == "/fp/"
    assert config["files"] == []
    assert 0 < config["chunkSize"] <= conf.MAX_CHUNK_SIZE
    # The token demo.js sends as X-CSRFToken is valid for this visitor.
    response = client.post("/", {"title": "t"}, headers={"X-CSRFToken": config["csrfToken"]})
    assert response.status_code == 302


@pytest.mark.django_db
def test_logged_in_user_uploads_with_the_page_token() -> None:
    from django.contrib.auth.models import User

    User.objects.create_user("ada", password="pw")
    client = Client(enforce_csrf_checks=True)
    client.login(username="ada", password="pw")
    token = filepond_config(client.get("/"))["csrfToken"]

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

    assert config["files"] == [{"source": i, "options": {"type": "local"}} for i in ids]
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
    client: Client, demo_dirs: dict[str, Path]
) -> None:
    from django_filepond_server.models import StoredUpload

    pk, (kept, dropped) = create_document(client, "Mine", {"kept.txt": b"k", "dropped.txt": b"d"})
    other_pk, (other,) = create_document(client, "Theirs", {"other.txt": b"o"})
    new = upload(client, b"n", "new.txt")

    response = client.post(
        f"/documents/{pk}/edit/",
        # ``other`` belongs to another document and the last id to nothing: both ignored.
        {"title": "Mine, v2", "filepond": [kept, new, other, "", "XXXXXXXXXXXXXXXXXXXXXX"]},
    )

    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert "Mine, v2" in html
    assert "kept.txt" in html and "new.txt" in html
    assert "dropped.txt" not in html and "other.txt" not in html
    assert not StoredUpload.objects.filter(pk=dropped).exists()
    assert not (demo_dirs["media"] / "demo" / "dropped.txt").exists()
    assert client.get(f"/fp/?load={dropped}").status_code == 404
    # The other document keeps its file.
    assert "other.txt" in client.get(f"/documents/{other_pk}/").content.decode()
    assert body(client.get(f"/fp/?load={other}")) == b"o"


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

    response = client.post("/", {"title": "Grab", "filepond": [mine, theirs]})

    assert response.status_code == 302
    assert list(StoredUpload.objects.values_list("original_name", flat=True)) == ["mine.txt"]
    assert TemporaryUpload.objects.filter(pk=theirs).exists()
