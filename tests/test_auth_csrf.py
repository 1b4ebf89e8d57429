"""Session-authenticated users: DRF's CSRF check applies to every unsafe endpoint."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.middleware.csrf import _get_new_csrf_string

from django_filepond_server import transfers
from django_filepond_server.models import TemporaryUpload
from tests.conftest import StreamReadingClient

pytestmark = pytest.mark.django_db

TOKEN = _get_new_csrf_string()


@pytest.fixture
def user_client() -> StreamReadingClient:
    client = StreamReadingClient(enforce_csrf_checks=True)
    client.force_login(User.objects.create_user("ada", password="x"))
    client.cookies[settings.CSRF_COOKIE_NAME] = TOKEN
    return client


def upload(client, **headers):
    return client.post(
        "/fp/",
        {"filepond": [json.dumps({}), SimpleUploadedFile("a.txt", b"abc")]},
        headers=headers,
    )


def test_a_logged_in_user_uploads_with_the_csrf_token(user_client):
    response = upload(user_client, **{"X-CSRFToken": TOKEN})
    assert response.status_code == 200
    assert TemporaryUpload.objects.get(pk=response.content.decode()).received == 3


def test_a_logged_in_user_without_the_token_is_refused_and_nothing_is_kept(
    user_client, upload_dirs
):
    response = upload(user_client)
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/plain")
    assert "CSRF" in response.content.decode()
    assert not TemporaryUpload.objects.exists()
    assert not upload_dirs["tmp"].exists() or list(upload_dirs["tmp"].iterdir()) == []


def test_chunks_and_revert_need_the_token_too(user_client):
    start = user_client.post(
        "/fp/", {"filepond": "{}"}, headers={"Upload-Length": "3", "X-CSRFToken": TOKEN}
    )
    upload_id = start.content.decode()
    headers = {"Upload-Offset": "0", "Upload-Length": "3"}
    chunk = {"content_type": "application/offset+octet-stream", "headers": headers}
    assert (
        user_client.generic("PATCH", f"/fp/?patch={upload_id}", b"abc", **chunk).status_code == 403
    )
    chunk["headers"] = {**headers, "X-CSRFToken": TOKEN}
    assert (
        user_client.generic("PATCH", f"/fp/?patch={upload_id}", b"abc", **chunk).status_code == 204
    )
    assert user_client.delete("/fp/", upload_id).status_code == 403
    assert user_client.delete("/fp/", upload_id, headers={"X-CSRFToken": TOKEN}).status_code == 204


def test_a_locked_sqlite_database_is_a_503_with_retry_after(client, monkeypatch):
    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(transfers, "start_chunked", locked)
    response = client.post("/fp/", {"filepond": "{}"}, headers={"Upload-Length": "3"})
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.content.decode() == (
        "The server is busy with other uploads. Try again in a moment."
    )
