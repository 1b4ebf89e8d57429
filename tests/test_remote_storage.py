"""The permanent store on real remote servers: S3 over HTTP (moto) and SFTP (OpenSSH)."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from urllib.request import urlopen

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import storages

from django_filepond_server import api
from django_filepond_server.exceptions import StorageFailed
from django_filepond_server.models import StoredUpload, TemporaryUpload
from django_filepond_server.names import MAX_NAME_BYTES, safe_name
from django_filepond_server.storage import open_stored
from django_filepond_server.temporary import get_temporary_area
from tests.helpers import body_of
from tests.remote_storage import S3Server, SFTPServer, require_sftp

pytestmark = [pytest.mark.django_db, pytest.mark.remote_storage]

NAME = "résumé 東京 100%.pdf"


@pytest.fixture(scope="session")
def s3_service():
    server = S3Server()
    yield server
    server.stop()  # deletes everything the run wrote


_test_numbers = itertools.count()


@pytest.fixture
def s3_server(s3_service):
    """The S3 server, with a location of this test's own under the run's prefix: names are
    the same on every run, whatever a persistent bucket already holds."""
    s3_service.use_location(f"t{next(_test_numbers)}")
    yield s3_service
    s3_service.delete_all()
    assert s3_service.keys() == []


def use_storage(settings, config: dict) -> None:
    settings.STORAGES = {**settings.STORAGES, "remote": config}
    settings.FILEPOND_SERVER_STORAGE = "remote"


@pytest.fixture(params=["s3", "sftp"])
def remote(request, settings):
    server = request.getfixturevalue(f"{request.param}_server")
    use_storage(settings, server.storage_options())
    server.kind = request.param
    return server


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_round_trip_is_byte_identical(client, process, remote, django_capture_on_commit_callbacks):
    content = os.urandom(3 * 1024 * 1024 + 17)
    upload_id = process(content, name=NAME)
    with django_capture_on_commit_callbacks(execute=True):
        stored = api.store_upload(upload_id, "nested/deeper/")
    assert stored.file.name == f"nested/deeper/{NAME}"
    assert sha(remote.read(stored.file.name)) == sha(content)
    assert not get_temporary_area().exists(upload_id)

    again = api.get_stored_upload(upload_id)
    name, f = api.get_stored_upload_file_data(again)
    with f:
        read = b"".join(iter(lambda: f.read(65536), b""))
    assert name == NAME
    assert sha(read) == sha(content)

    response = client.get(f"/fp/?load={upload_id}")
    assert response.status_code == 200
    assert sha(body_of(response)) == sha(content)
    assert response["Content-Disposition"].endswith(
        "filename*=UTF-8''r%C3%A9sum%C3%A9%20%E6%9D%B1%E4%BA%AC%20100%25.pdf"
    )
    ranged = client.get(f"/fp/?load={upload_id}", headers={"Range": "bytes=1000-1999"})
    assert ranged.status_code == 206
    assert body_of(ranged) == content[1000:2000]

    api.delete_stored_upload(upload_id, delete_file=True)
    assert not StoredUpload.objects.exists()
    assert not remote.exists(stored.file.name)


def test_colliding_names_never_overwrite(process, remote):
    first = api.store_upload(process(b"first", name="same.txt"), "c/")
    second = api.store_upload(process(b"second", name="same.txt"), "c/")
    assert first.file.name == "c/same.txt"
    assert second.file.name != first.file.name
    assert remote.read(first.file.name) == b"first"
    assert remote.read(second.file.name) == b"second"
    name, f = api.get_stored_upload_file_data(api.get_stored_upload(second.upload_id))
    with f:
        assert f.read() == b"second"


def test_traversal_is_refused_before_the_backend_is_touched(process, remote):
    upload_id = process(b"x")
    with pytest.raises(SuspiciousFileOperation):
        api.store_upload(upload_id, "../../outside.txt")
    assert TemporaryUpload.objects.filter(pk=upload_id).exists()
    assert not remote.exists("../outside.txt") and not remote.exists("outside.txt")


def test_load_can_redirect_to_a_signed_url(client, process, s3_server, settings):
    use_storage(settings, s3_server.storage_options())
    settings.FILEPOND_SERVER_LOAD_REDIRECT = True
    settings.FILEPOND_SERVER_LOAD_URL_EXPIRY = 30
    upload_id = process(b"%PDF-1.4 signed", name=NAME)
    api.store_upload(upload_id, "signed/")
    response = client.get(f"/fp/?load={upload_id}")
    assert response.status_code == 302
    location = response["Location"]
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(s3_server.endpoint)
    assert query["response-content-disposition"] == [
        "inline; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E6%9D%B1%E4%BA%AC%20100%25.pdf"
    ]
    assert query["response-content-type"] == ["application/pdf"]
    assert "X-Amz-Signature" in query or "Signature" in query
    with urlopen(location, timeout=10) as remote_response:
        assert remote_response.read() == b"%PDF-1.4 signed"


def test_load_streams_when_the_backend_cannot_sign(client, process, sftp_server, settings):
    use_storage(settings, sftp_server.storage_options())
    settings.FILEPOND_SERVER_LOAD_REDIRECT = True
    upload_id = process(b"streamed")
    api.store_upload(upload_id, "s/")
    response = client.get(f"/fp/?load={upload_id}")
    assert response.status_code == 200
    assert body_of(response) == b"streamed"


# --- failures ----------------------------------------------------------------------------------


def assert_nothing_changed(upload_id: str, content: bytes) -> None:
    assert not StoredUpload.objects.exists()
    assert TemporaryUpload.objects.filter(pk=upload_id).exists()
    with get_temporary_area().open(upload_id) as f:
        assert f.read() == content


@pytest.fixture
def dead_port():
    from tests.remote_storage import free_port

    return free_port()


def test_s3_down(process, s3_server, settings, dead_port, client):
    use_storage(
        settings,
        s3_server.storage_options(endpoint_url=f"http://127.0.0.1:{dead_port}"),
    )
    settings.STORAGES["remote"]["OPTIONS"]["client_config"] = _fast_fail_config()
    upload_id = process(b"keep")
    with pytest.raises(
        StorageFailed, match="Could not save 'x/hello.txt' to the permanent store 'remote'"
    ):
        api.store_upload(upload_id, "x/")
    assert_nothing_changed(upload_id, b"keep")


def test_s3_bucket_missing(process, s3_server, settings):
    use_storage(settings, s3_server.storage_options(bucket_name="no-such-bucket"))
    upload_id = process(b"keep")
    with pytest.raises(StorageFailed, match="NoSuchBucket|does not exist"):
        api.store_upload(upload_id, "x/")
    assert_nothing_changed(upload_id, b"keep")


def test_sftp_down(process, sftp_server, settings, dead_port):
    use_storage(settings, sftp_server.storage_options(port=dead_port))
    upload_id = process(b"keep")
    with pytest.raises(StorageFailed, match="Could not save"):
        api.store_upload(upload_id, "x/")
    assert_nothing_changed(upload_id, b"keep")


def test_sftp_wrong_credentials(process, sftp_server, settings, tmp_path):
    import subprocess

    wrong_key = tmp_path / "wrong_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong_key)], check=True
    )
    options = sftp_server.storage_options()
    options["OPTIONS"]["params"] = {**options["OPTIONS"]["params"], "key_filename": str(wrong_key)}
    use_storage(settings, options)
    upload_id = process(b"keep")
    with pytest.raises(StorageFailed, match="AuthenticationException"):
        api.store_upload(upload_id, "x/")
    assert_nothing_changed(upload_id, b"keep")


def test_sftp_disk_full(process, settings):
    require_sftp()
    server = SFTPServer(file_size_limit=64 * 1024)
    try:
        use_storage(settings, server.storage_options())
        content = os.urandom(256 * 1024)
        upload_id = process(content, name="big.bin")
        with pytest.raises(StorageFailed, match="Could not save 'full/big.bin'"):
            api.store_upload(upload_id, "full/")
        assert_nothing_changed(upload_id, content)
        assert not server.exists("full/big.bin")  # the partial file was removed
        assert api.store_upload(process(b"small", name="small.txt"), "full/").size == 5
    finally:
        server.stop()


def test_load_when_the_backend_is_down_is_a_503(client, process, sftp_server, settings, dead_port):
    use_storage(settings, sftp_server.storage_options())
    upload_id = process(b"abc")
    api.store_upload(upload_id, "d/")
    use_storage(settings, sftp_server.storage_options(port=dead_port))
    response = client.get(f"/fp/?load={upload_id}")
    assert response.status_code == 503
    assert response.content.decode() == (
        "The server could not read or write the file storage. Try again later."
    )
    with pytest.raises(StorageFailed):
        api.get_stored_upload_file_data(api.get_stored_upload(upload_id))


class ErrorHandler(BaseHTTPRequestHandler):
    """Answers every S3 request with the server's status and an S3 error document."""

    protocol_version = "HTTP/1.1"
    server: FailingS3

    def log_message(self, format: str, *args: object) -> None:
        pass

    def answer(self, body: bool) -> None:
        self.server.requests.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        document = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Error><Code>{self.server.code}</Code><Message>Injected.</Message></Error>"
        ).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(document)))
        self.end_headers()
        if body:
            self.wfile.write(document)

    def do_HEAD(self) -> None:
        self.answer(body=False)

    def do_GET(self) -> None:
        self.answer(body=True)

    do_PUT = do_POST = do_DELETE = do_GET


class FailingS3(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, status: int, code: str) -> None:
        super().__init__(("127.0.0.1", 0), ErrorHandler)
        self.status, self.code = status, code
        self.requests: list[tuple[str, str]] = []
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def assert_load_is_a_503(client, upload_id: str) -> None:
    response = client.get(f"/fp/?load={upload_id}")
    assert response.status_code == 503
    assert response.content.decode() == (
        "The server could not read or write the file storage. Try again later."
    )
    with pytest.raises(StorageFailed, match="Could not open"):
        api.get_stored_upload_file_data(api.get_stored_upload(upload_id))


def test_load_when_s3_is_unreachable_is_a_503(client, process, s3_server, settings, dead_port):
    use_storage(settings, s3_server.storage_options())
    upload_id = process(b"abc")
    api.store_upload(upload_id, "d/")
    use_storage(
        settings,
        s3_server.storage_options(
            endpoint_url=f"http://127.0.0.1:{dead_port}", client_config=_fast_fail_config()
        ),
    )
    assert_load_is_a_503(client, upload_id)


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, "InternalError"), (503, "SlowDown"), (403, "AccessDenied")],
)
def test_load_when_s3_answers_an_error_is_a_503(client, process, s3_server, settings, status, code):
    use_storage(settings, s3_server.storage_options())
    upload_id = process(b"abc")
    api.store_upload(upload_id, "d/")
    failing = FailingS3(status, code)
    try:
        use_storage(
            settings,
            s3_server.storage_options(
                endpoint_url=failing.endpoint, client_config=_fast_fail_config()
            ),
        )
        assert_load_is_a_503(client, upload_id)
        assert failing.requests, "the load never reached the failing S3"
    finally:
        failing.stop()


def test_load_of_an_object_gone_from_s3_is_404(client, process, s3_server, settings):
    use_storage(settings, s3_server.storage_options())
    upload_id = process(b"abc")
    stored = api.store_upload(upload_id, "gone/")
    s3_server.client().delete_object(Bucket=s3_server.bucket, Key=s3_server.key(stored.file.name))
    response = client.get(f"/fp/?load={upload_id}")
    assert response.status_code == 404


def _fast_fail_config():
    from botocore.config import Config

    return Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1})


def test_the_model_file_field_follows_the_alias(process, remote):
    upload_id = process(b"via the field")
    api.store_upload(upload_id, "f/")
    stored = StoredUpload.objects.get(pk=upload_id)
    assert stored.file.storage.exists(stored.file.name)
    assert storages["remote"].size(stored.file.name) == len(b"via the field")


# --- long names ----------------------------------------------------------------------------------

#: Names longer than a file name may be, in CJK, emoji, combining characters and ASCII.
LONG_NAMES = [
    "東" * 100 + ".pdf",  # 304 bytes
    "😀" * 70 + ".txt",  # 284 bytes
    "\u1ea1\u0301" * 60 + ".txt",  # a letter with two marks, 5 bytes each
    "👍🏽" * 40 + ".png",  # emoji with a skin tone, 8 bytes each
    "x" * 300 + ".pdf",
]


@pytest.fixture(params=["local", "s3", "sftp"])
def any_store(request, settings, upload_dirs):
    """The local file system (the default storage) or a remote one, with a reader."""
    if request.param == "local":
        media = upload_dirs["media"]
        return lambda name: (media / name).read_bytes()
    server = request.getfixturevalue(f"{request.param}_server")
    use_storage(settings, server.storage_options())
    return server.read


@pytest.mark.parametrize("raw", LONG_NAMES, ids=["cjk", "emoji", "combining", "skin-tone", "ascii"])
def test_long_names_store_and_collide_on_every_backend(start_chunked, patch, any_store, raw):
    """A name cut to the byte cap stores, and so does a second file of that name, which the
    storage renames with a suffix."""
    directory = f"long-{uuid.uuid4().hex}/"  # a fresh directory, also on a persistent bucket

    def upload(content: bytes) -> str:
        upload_id = start_chunked(len(content))
        assert patch(upload_id, content, 0, len(content), name=raw).status_code == 204
        return upload_id

    name = safe_name(raw)
    assert 240 < len(name.encode()) <= MAX_NAME_BYTES
    first = api.store_upload(upload(b"first"), directory)
    second = api.store_upload(upload(b"second"), directory)
    try:
        assert first.file.name == directory + name
        assert first.original_name == second.original_name == name
        assert second.file.name.startswith(directory)
        collided = second.file.name[len(directory) :]
        assert collided != name and len(collided.encode()) <= 255
        assert any_store(first.file.name) == b"first"
        assert any_store(second.file.name) == b"second"
    finally:
        for stored in (first, second):
            api.delete_stored_upload(stored.upload_id, delete_file=True)


def test_stored_files_open_as_streams(process, remote):
    content = os.urandom(10_000)
    stored = api.store_upload(process(content, name="r.bin"), "r/")
    name = stored.file.name
    # A buffered reader reads through readinto(), as io.open() would.
    with io.BufferedReader(open_stored(name), 4096) as buffered:
        assert b"".join(iter(lambda: buffered.read(3000), b"")) == content
    with open_stored(name) as raw:
        raw.seek(1000)
        assert raw.read(10) == content[1000:1010]
        with pytest.raises(io.UnsupportedOperation):
            raw.seek(0, io.SEEK_END)
        if remote.kind == "s3":  # S3's stream is positioned once, before the first read
            with pytest.raises(io.UnsupportedOperation):
                raw.seek(0)
        else:
            raw.seek(9_990)
            assert raw.read() == content[9_990:]
            assert raw.read() == b""
    open_stored(name).close()  # closing before reading is fine too
