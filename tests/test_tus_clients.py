"""Real tus clients against a live server: tus-js-client in Node (demo/node_modules) and
tus-py-client (``tuspy``). Both authenticate with a header, as services do, since neither
keeps cookies."""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from django_filepond_server import api
from django_filepond_server.models import TemporaryUpload
from django_filepond_server.temporary import area_for
from tests.helpers import sha256

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parent.parent
NODE_MODULES = REPO / "demo" / "node_modules"
SCRIPT = REPO / "tests" / "node" / "tus_upload.cjs"
KEYS = ("POST_TUS", "HEAD_TUS", "PATCH_TUS", "DELETE_TUS")
MB = 1_000_000


@pytest.fixture
def service(settings: Any, django_user_model: Any) -> str:
    """A user that authenticates with HTTP Basic on the tus endpoints; its header."""
    django_user_model.objects.create_user("service", password="secret")
    basic = ["rest_framework.authentication.BasicAuthentication"]
    settings.FILEPOND_SERVER_AUTHENTICATION_CLASSES = dict.fromkeys(KEYS, basic)
    settings.FILEPOND_SERVER_PERMISSION_CLASSES = dict.fromkeys(
        KEYS, ["rest_framework.permissions.IsAuthenticated"]
    )
    return "Basic " + base64.b64encode(b"service:secret").decode()


def sample(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "sample.bin"
    path.write_bytes(random.Random(size).randbytes(size))
    return path


def upload_at(url: str) -> TemporaryUpload:
    return TemporaryUpload.objects.get(pk=url.rstrip("/").rsplit("/", 1)[1])


def held(upload: TemporaryUpload) -> bytes:
    with area_for(upload).open(upload.upload_id) as f:
        return f.read()


def node_upload(live_server: Any, path: Path, *args: str) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "tus-js-client").is_dir():
        pytest.fail("needs Node.js and tus-js-client (npm ci in demo/)")
    result = subprocess.run(
        [node, str(SCRIPT), f"{live_server.url}/fp/tus/", str(path), *args],
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_tus_js_client_in_node(live_server: Any, service: str, tmp_path: Path) -> None:
    path = sample(tmp_path, 3 * MB + 123)
    outcome = node_upload(live_server, path, str(MB), service)
    assert outcome["patches"] == [0, MB, 2 * MB, 3 * MB]
    upload = upload_at(outcome["url"])
    assert upload.complete and upload.owner.username == "service"
    assert upload.file_name == "node upload.bin"
    assert upload.metadata == {"origin": "node"}
    assert sha256(held(upload)) == sha256(path.read_bytes())
    stored = api.store_upload(upload.upload_id, "node/")
    with stored.file.open("rb") as f:
        assert sha256(f.read()) == sha256(path.read_bytes())


def test_tus_js_client_in_node_continues_an_upload_from_its_url(
    live_server: Any, service: str, tmp_path: Path
) -> None:
    path = sample(tmp_path, 3 * MB)
    outcome = node_upload(live_server, path, str(MB), service, "2")
    # Two chunks, the abort, then a new tus.Upload asked the server (HEAD) and went on.
    assert outcome["patches"] == [0, MB, 2 * MB]
    upload = upload_at(outcome["url"])
    assert upload.complete
    assert sha256(held(upload)) == sha256(path.read_bytes())


def test_tus_js_client_without_a_session_is_told_why(live_server: Any, tmp_path: Path) -> None:
    """An anonymous Node client gets a session cookie it never sends back: its next request
    says so instead of silently starting over."""
    path = sample(tmp_path, 2 * MB)
    node = shutil.which("node")
    assert node is not None
    result = subprocess.run(
        [node, str(SCRIPT), f"{live_server.url}/fp/tus/", str(path), str(MB)],
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "uploads belong to the session cookie sessionid" in result.stderr


def test_tus_py_client(live_server: Any, service: str, tmp_path: Path) -> None:
    from tusclient import client

    path = sample(tmp_path, 2 * MB + 7)
    tus = client.TusClient(f"{live_server.url}/fp/tus/", headers={"Authorization": service})
    with path.open("rb") as stream:  # tuspy leaves a file it opened itself unclosed
        uploader = tus.uploader(
            file_stream=stream,
            chunk_size=MB,
            metadata={"filename": "py upload.bin", "fieldname": "reports", "team": "α"},
            upload_checksum=True,  # Upload-Checksum: sha1 on every PATCH
            retries=0,
        )
        uploader.upload(stop_at=MB)
    upload = upload_at(uploader.url)
    assert api.received_bytes(upload) == MB and not upload.complete

    # A new uploader for the same URL asks the server where to go on.
    with path.open("rb") as stream:
        again = tus.uploader(
            file_stream=stream, chunk_size=MB, url=uploader.url, upload_checksum=True
        )
        assert again.offset == MB
        again.upload()
    upload = upload_at(uploader.url)
    assert upload.complete and upload.field_name == "reports"
    assert upload.file_name == "py upload.bin" and upload.metadata == {"team": "α"}
    assert sha256(held(upload)) == sha256(path.read_bytes())


def test_a_body_without_content_length_answers_411(live_server: Any) -> None:
    """WSGI hands a view no body without Content-Length: a streamed chunk is refused, never
    taken for an empty one."""
    import http.client
    from urllib.parse import urlsplit

    conn = http.client.HTTPConnection(urlsplit(live_server.url).netloc, timeout=30)
    try:
        conn.request(
            "PATCH",
            "/fp/tus/aaaaaaaaaaaaaaaaaaaaaa",
            body=iter([b"abc"]),
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
            encode_chunked=True,
        )
        response = conn.getresponse()
        assert response.status == 411
        assert response.read() == b"A tus request with a body needs Content-Length."
    finally:
        conn.close()
