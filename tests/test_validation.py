"""Validation: sizes, types sniffed from content, extensions, per-field rules, validators."""

from __future__ import annotations

import io
import json
import socket
import struct
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from django_filepond_server import api
from django_filepond_server.exceptions import UploadRejected
from django_filepond_server.models import StoredUpload, TemporaryUpload
from django_filepond_server.rules import content_matches_extension
from tests.helpers import body_of, tiny_png

pytestmark = pytest.mark.django_db

HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
IMAGES_ONLY = {"types": ["image/png", "image/jpeg"]}


def post_file(client, content: bytes, name: str, field: str = "filepond", content_type=None):
    upload = SimpleUploadedFile(name, content, content_type=content_type or "text/plain")
    return client.post("/fp/", {field: [json.dumps({}), upload]})


def temp_files(upload_dirs) -> list[str]:
    return (
        sorted(p.name for p in upload_dirs["tmp"].iterdir()) if upload_dirs["tmp"].exists() else []
    )


def test_the_detected_type_is_recorded_and_served(client, process):
    upload_id = process(tiny_png(), name="picture.dat")
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.detected_type == "image/png"
    assert client.get(f"/fp/?restore={upload_id}")["Content-Type"] == "image/png"
    stored = api.store_upload(upload_id, "x/")
    assert stored.detected_type == "image/png"
    assert client.get(f"/fp/?load={upload_id}")["Content-Type"] == "image/png"


def test_a_spoofed_png_that_is_html_is_refused(client, settings, upload_dirs):
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"default": IMAGES_ONLY}
    response = post_file(client, HTML, "photo.png", content_type="image/png")
    assert response.status_code == 415
    assert response.content.decode() == "Files of type text/html are not accepted here."
    assert not TemporaryUpload.objects.exists()
    assert temp_files(upload_dirs) == []


def test_content_contradicting_the_extension_is_refused_when_asked(client, settings, upload_dirs):
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"default": {"match_extension": True}}
    response = post_file(client, HTML, "photo.png", content_type="image/png")
    assert response.status_code == 415
    assert response.content.decode() == (
        "The file's content (text/html) does not match its extension .png."
    )
    assert temp_files(upload_dirs) == []
    assert post_file(client, tiny_png(), "photo.png").status_code == 200
    assert post_file(client, b"a,b\n1,2\n", "table.csv").status_code == 200


def test_without_the_extension_check_html_is_kept_but_served_safely(client, process):
    upload_id = process(HTML, name="photo.png")
    response = client.get(f"/fp/?restore={upload_id}")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize(
    ("name", "detected", "matches"),
    [
        ("a.png", "image/png", True),
        ("a.png", "text/html", False),
        ("a.jpg", "image/jpeg", True),
        ("a.txt", "text/plain", True),
        ("a.csv", "text/plain", True),
        ("a.json", "text/plain", True),
        ("a.txt", "text/html", False),
        ("a.svg", "image/svg+xml", True),
        ("a.pdf", "image/svg+xml", False),
        ("a.docx", "application/zip", True),
        ("a.unknownext", "text/html", True),
        ("noext", "application/pdf", True),
    ],
)
def test_content_matches_extension(name, detected, matches):
    assert content_matches_extension(name, detected) is matches


def test_extensions_are_checked_before_any_byte_is_stored(client, settings, upload_dirs):
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"default": {"extensions": ["pdf", ".PNG"]}}
    response = post_file(client, b"MZ\x90\x00" * 1000, "setup.exe")
    assert response.status_code == 415
    assert response.content.decode() == (
        "Files ending in .exe are not accepted here; allowed: .pdf, .png."
    )
    assert temp_files(upload_dirs) == []
    assert post_file(client, tiny_png(), "ok.png").status_code == 200


def test_rules_differ_per_field(client, settings):
    settings.FILEPOND_SERVER_UPLOAD_RULES = {
        "default": {"max_size": 1000},
        "avatar": {"max_size": 100, **IMAGES_ONLY},
    }
    assert post_file(client, b"x" * 500, "notes.txt", field="documents[]").status_code == 200
    response = post_file(client, b"x" * 50, "notes.txt", field="avatar")
    assert response.status_code == 415
    response = post_file(client, tiny_png(padding=200), "big.png", field="avatar")
    assert response.status_code == 413
    assert response.content.decode() == (
        "The file is larger than the maximum upload size of 100 bytes."
    )
    assert post_file(client, tiny_png(), "me.png", field="avatar").status_code == 200


def test_the_size_rule_is_checked_at_chunk_start(client, settings, upload_dirs):
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"avatar": {"max_size": 100}}
    response = client.post("/fp/", {"avatar": "{}"}, headers={"Upload-Length": "101"})
    assert response.status_code == 413
    assert response.content.decode() == (
        "The file is larger than the maximum upload size of 100 bytes."
    )
    assert not TemporaryUpload.objects.exists()
    assert temp_files(upload_dirs) == []


def test_a_chunked_upload_with_a_refused_extension_stops_at_the_first_chunk(
    client, settings, start_chunked, patch, upload_dirs
):
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"default": {"extensions": [".pdf"]}}
    upload_id = start_chunked(10)
    response = patch(upload_id, b"12345", 0, 10, name="evil.exe")
    assert response.status_code == 415
    assert temp_files(upload_dirs) == []
    # FilePond retries the chunk, and resumes with HEAD: the same answer every time.
    retry = patch(upload_id, b"12345", 0, 10, name="evil.exe")
    assert (retry.status_code, retry.content) == (415, response.content)
    assert client.head(f"/fp/?patch={upload_id}").status_code == 415
    assert client.get(f"/fp/?restore={upload_id}").status_code == 415
    assert client.delete("/fp/", upload_id).status_code == 204


def test_a_chunked_upload_refused_by_content_on_its_last_chunk(
    client, settings, start_chunked, patch, upload_dirs
):
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"default": IMAGES_ONLY}
    data = HTML * 3
    upload_id = start_chunked(len(data))
    assert patch(upload_id, data[:100], 0, len(data), name="x.png").status_code == 204
    response = patch(upload_id, data[100:], 100, len(data), name="x.png")
    assert response.status_code == 415
    assert response.content.decode() == "Files of type text/html are not accepted here."
    assert temp_files(upload_dirs) == []
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.rejected == "Files of type text/html are not accepted here."
    with pytest.raises(UploadRejected, match="text/html"):
        api.store_upload(upload_id, "x/")


def test_store_upload_rechecks_rules_at_promotion(process, settings):
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"avatar": {"max_size": 10_000, **IMAGES_ONLY}}
    text_id = process(b"just text", name="me.png", field="filepond")  # lenient default rules
    with pytest.raises(UploadRejected, match="Files of type text/plain are not accepted here"):
        api.store_upload(text_id, "avatars/", rules="avatar")
    assert not StoredUpload.objects.exists()
    with pytest.raises(UploadRejected, match="larger than the maximum upload size of 5 bytes"):
        api.store_upload(text_id, "x/", rules={"max_size": 5})
    png_id = process(tiny_png(), name="me.png")
    assert api.store_upload(png_id, "avatars/", rules="avatar").detected_type == "image/png"


# --- validators --------------------------------------------------------------------------------

calls: list[str] = []


def refuse_evil(upload, f) -> None:
    calls.append(upload.file_name)
    if b"EVIL" in f.read():
        raise ValidationError("The file was refused by the content policy.")


def test_validators_run_on_completion_and_can_refuse(
    client, settings, process, start_chunked, patch, upload_dirs
):
    settings.FILEPOND_SERVER_VALIDATORS = ["tests.test_validation.refuse_evil"]
    calls.clear()
    assert post_file(client, b"fine", "good.txt").status_code == 200
    response = post_file(client, b"an EVIL file", "bad.txt")
    assert response.status_code == 422
    assert response.content.decode() == "The file was refused by the content policy."
    upload_id = start_chunked(8)
    assert patch(upload_id, b"EVIL", 0, 8, name="c.txt").status_code == 204
    assert calls == ["good.txt", "bad.txt"]  # not before the last chunk
    assert patch(upload_id, b"EVIL", 4, 8, name="c.txt").status_code == 422
    assert calls == ["good.txt", "bad.txt", "c.txt"]
    assert TemporaryUpload.objects.get(pk=upload_id).rejected
    assert len(temp_files(upload_dirs)) == 1  # only good.txt's bytes remain


# --- ClamAV, against a fake clamd speaking the INSTREAM line protocol --------------------------

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class FakeClamd:
    """Reads ``zINSTREAM\\0`` and length-prefixed chunks, answers like clamd."""

    def __init__(self, unix_path: str | None = None, reply: bytes | None = None) -> None:
        if unix_path is None:
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
        self.sock.listen()
        self.reply = reply  # instead of clamd's answer
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                command = b""
                while not command.endswith(b"\0"):
                    command += conn.recv(1)
                assert command == b"zINSTREAM\0"
                data = b""
                while True:
                    (size,) = struct.unpack(">I", self.recv_exactly(conn, 4))
                    if size == 0:
                        break
                    data += self.recv_exactly(conn, size)
                self.received.append(data)
                found = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE" in data
                answer = b"stream: Eicar-Signature FOUND\0" if found else b"stream: OK\0"
                conn.sendall(answer if self.reply is None else self.reply)

    @staticmethod
    def recv_exactly(conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            piece = conn.recv(size - len(data))
            if not piece:
                raise ConnectionError("short read")
            data += piece
        return data

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def clamd(settings):
    server = FakeClamd()
    settings.FILEPOND_SERVER_VALIDATORS = ["django_filepond_server.clamav.scan"]
    settings.FILEPOND_SERVER_CLAMD_ADDRESS = f"tcp://127.0.0.1:{server.port}"
    yield server
    server.close()


def test_clamav_accepts_a_clean_file(client, clamd):
    content = bytes(range(256)) * 1000  # several INSTREAM chunks
    response = post_file(client, content, "clean.bin")
    assert response.status_code == 200
    assert clamd.received == [content]


def test_clamav_refuses_a_virus(client, clamd, upload_dirs):
    response = post_file(client, EICAR, "eicar.com")
    assert response.status_code == 422
    assert (
        response.content.decode() == "The file contains a virus (Eicar-Signature) and was refused."
    )
    assert temp_files(upload_dirs) == []


def test_clamav_down_means_refused(client, settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.FILEPOND_SERVER_VALIDATORS = ["django_filepond_server.clamav.scan"]
    settings.FILEPOND_SERVER_CLAMD_ADDRESS = f"tcp://127.0.0.1:{port}"
    response = post_file(client, b"unscanned", "a.txt")
    assert response.status_code == 422
    assert response.content.decode() == (
        "The file could not be checked for viruses; try again later."
    )


def test_clamav_over_a_unix_socket(client, settings, tmp_path):
    server = FakeClamd(unix_path=str(tmp_path / "clamd.ctl"))
    try:
        settings.FILEPOND_SERVER_VALIDATORS = ["django_filepond_server.clamav.scan"]
        settings.FILEPOND_SERVER_CLAMD_ADDRESS = f"unix://{tmp_path / 'clamd.ctl'}"
        assert post_file(client, b"scanned", "a.txt").status_code == 200
        assert server.received == [b"scanned"]
        assert post_file(client, EICAR, "eicar.com").status_code == 422
    finally:
        server.close()


def test_an_answer_that_is_neither_ok_nor_found_means_refused(client, settings):
    # Cut short, without clamd's closing NUL, and saying something else.
    server = FakeClamd(reply=b"stream: Size limit exceeded. ERROR")
    try:
        settings.FILEPOND_SERVER_VALIDATORS = ["django_filepond_server.clamav.scan"]
        settings.FILEPOND_SERVER_CLAMD_ADDRESS = f"tcp://127.0.0.1:{server.port}"
        response = post_file(client, b"unscanned", "a.txt")
        assert response.status_code == 422
        assert response.content.decode() == (
            "The file could not be checked for viruses; try again later."
        )
    finally:
        server.close()


def test_a_clamd_address_of_another_kind_is_a_configuration_error():
    from django_filepond_server.clamav import instream

    with pytest.raises(ImproperlyConfigured, match="found 'http://clamd:3310'"):
        instream(io.BytesIO(b"x"), "http://clamd:3310", 1.0)


# --- rules given to store_upload -----------------------------------------------------------------


def test_rules_with_an_unknown_key_are_a_configuration_error(process):
    upload_id = process(b"x", name="x.txt")
    with pytest.raises(ImproperlyConfigured, match=r"rules has unknown keys \['colour'\]"):
        api.store_upload(upload_id, "r/", rules={"colour": "red"})
    assert TemporaryUpload.objects.filter(pk=upload_id).exists()


def test_rules_given_to_store_upload_can_lift_a_default_restriction(process, settings):
    upload_id = process(b"plain text", name="notes.txt")
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"default": {"types": ["application/pdf"]}}
    with pytest.raises(UploadRejected):
        api.store_upload(upload_id, "r/", rules={})
    assert api.store_upload(upload_id, "r/", rules={"types": None}).file.name == "r/notes.txt"


@pytest.mark.parametrize(
    ("name", "detected"),
    [
        ("photo.jpg", "image/pjpeg"),
        ("old.bmp", "image/x-ms-bmp"),
        ("a.zip", "application/x-zip-compressed"),
    ],
)
def test_other_names_of_the_same_type_match_the_extension(name, detected):
    assert content_matches_extension(name, detected)


def test_fetched_files_are_validated_too(client, settings, upload_dirs):
    from urllib.parse import quote

    from tests.remote_server import RemoteServer

    remote = RemoteServer()
    try:
        settings.FILEPOND_SERVER_FETCH_ENABLED = True
        settings.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
        settings.FILEPOND_SERVER_UPLOAD_RULES = {"default": {"types": ["application/pdf"]}}
        response = client.get(f"/fp/?fetch={quote(remote.base + '/files/photo.png', safe='')}")
        assert response.status_code == 415
        assert not TemporaryUpload.objects.exists()
        assert temp_files(upload_dirs) == []
        response = client.get(f"/fp/?fetch={quote(remote.base + '/download', safe='')}")
        assert response.status_code == 200
        assert body_of(response).startswith(b"%PDF")
    finally:
        remote.stop()


def test_a_validator_that_crashes_leaves_the_last_chunk_to_be_retried(
    client, start_chunked, patch, settings
):
    """An unexpected error in a validator is no outcome: the chunk is answered 503 with
    Retry-After, and FilePond's retry of the last chunk runs the checks again, which pass."""
    calls = []

    def flaky(upload, f):
        calls.append(upload.upload_id)
        if len(calls) == 1:
            raise RuntimeError("scanner crashed")

    settings.FILEPOND_SERVER_VALIDATORS = [flaky]
    upload_id = start_chunked(6)
    assert patch(upload_id, b"abc", 0, 6).status_code == 204
    crashed = patch(upload_id, b"def", 3, 6)
    assert (crashed.status_code, crashed["Retry-After"]) == (503, "1")
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert (upload.complete, upload.checking_since) == (False, None)
    assert patch(upload_id, b"def", 3, 6).status_code == 204
    assert calls == [upload_id, upload_id]
    assert TemporaryUpload.objects.get(pk=upload_id).complete
