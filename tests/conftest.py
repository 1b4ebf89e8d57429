from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

# Its asserts explain their failures like those of the test modules.
pytest.register_assert_rewrite("tests.doc_exercises")


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 in server mode over HTTP (or the real S3 that FILEPOND_TEST_S3_* names)."""
    from tests.remote_storage import S3Server

    server = S3Server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sftp_server():
    """A real OpenSSH sshd on a spare loopback port; the tests that use it are skipped where
    OpenSSH is not installed (see tests/run.sh)."""
    from tests.remote_storage import SFTPServer, require_sftp

    require_sftp()
    server = SFTPServer()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def upload_dirs(settings, tmp_path: Path) -> dict[str, Path]:
    """A fresh temporary area and media root for every test."""
    settings.FILEPOND_SERVER_TEMP_DIR = str(tmp_path / "tmp")
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return {"tmp": tmp_path / "tmp", "media": tmp_path / "media"}


class StreamReadingClient(Client):
    """A test client that reads streamed bodies at once (into ``streamed_body``), so the
    files behind them are closed as they are in a real server."""

    def request(self, **request):
        response = super().request(**request)
        if getattr(response, "streaming", False):
            response.streamed_body = b"".join(response.streaming_content)
        return response


@pytest.fixture
def client() -> Client:
    return StreamReadingClient()


@pytest.fixture
def process(client: Client) -> Callable[..., str]:
    """Upload ``content`` through the process endpoint the way FilePond does; returns the id."""

    def upload(
        content: bytes = b"hello world",
        name: str = "hello.txt",
        field: str = "filepond",
        metadata: dict | None = None,
    ) -> str:
        response = client.post(
            "/fp/",
            {field: [json.dumps(metadata or {}), SimpleUploadedFile(name, content)]},
        )
        assert response.status_code == 200, response.content
        return response.content.decode()

    return upload


@pytest.fixture
def start_chunked(client: Client) -> Callable[..., str]:
    def start(length: int, metadata: str = "{}", field: str = "filepond") -> str:
        response = client.post("/fp/", {field: metadata}, headers={"Upload-Length": str(length)})
        assert response.status_code == 200, response.content
        return response.content.decode()

    return start


@pytest.fixture
def patch(client: Client) -> Callable[..., object]:
    def send(
        upload_id: str,
        body: bytes,
        offset: int,
        length: int,
        name: str | None = "file.bin",
        url: str | None = None,
        **headers: str,
    ):
        all_headers = {"Upload-Offset": str(offset), "Upload-Length": str(length)}
        if name is not None:
            # FilePond sends the name as raw UTF-8 bytes; WSGI decodes header bytes as Latin-1.
            all_headers["Upload-Name"] = name.encode("utf-8").decode("latin-1")
        all_headers.update(headers)
        return client.generic(
            "PATCH",
            url or f"/fp/?patch={upload_id}",
            body,
            content_type="application/offset+octet-stream",
            headers=all_headers,
        )

    return send


@pytest.fixture(scope="session")
def direct_s3():
    """The S3 of the direct-upload tests: moto without its blanket CORS, behind a gateway
    that checks form POST policies as S3 does (or the real S3 of FILEPOND_TEST_S3_*); see
    tests/direct_s3.py."""
    from tests.direct_s3 import DirectS3

    server = DirectS3()
    yield server
    server.stop()


@pytest.fixture
def direct_area(settings, direct_s3):
    """FILEPOND_SERVER_TEMP_STORAGE on that S3, under a prefix of this test's own (emptied
    afterwards, multipart uploads included), and the permanent store in the same bucket."""
    import secrets
    from types import SimpleNamespace

    from django_filepond_server.temporary import StorageTemporaryArea

    token = secrets.token_hex(4)
    tmp, store = f"tmp-{token}", f"store-{token}"
    settings.STORAGES = {
        **settings.STORAGES,
        "direct-tmp": direct_s3.storage_options(tmp),
        "direct-store": direct_s3.storage_options(store),
    }
    settings.FILEPOND_SERVER_TEMP_STORAGE = "direct-tmp"
    settings.FILEPOND_SERVER_STORAGE = "direct-store"
    yield SimpleNamespace(area=StorageTemporaryArea("direct-tmp"), tmp=tmp, store=store)
    direct_s3.empty(tmp)
    direct_s3.empty(store)
