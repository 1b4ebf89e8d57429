"""tus 1.0.0 on the temporary uploads: core, creation, creation-with-upload, termination,
expiration and checksum, with every error the specification names, on the local area and on
S3 (moto's server over HTTP)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import zlib
from collections.abc import Iterator
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from rest_framework.throttling import UserRateThrottle

from django_filepond_server import api
from django_filepond_server.models import TemporaryUpload, UploadPart
from django_filepond_server.temporary import StorageTemporaryArea, area_for
from tests.helpers import NOT_FOUND_WITHOUT_SESSION, tiny_png
from tests.test_temporary_storage import _empty as empty_prefix

pytestmark = pytest.mark.django_db

TUS = {"Tus-Resumable": "1.0.0"}
DATA = b"0123456789abcdef" * 640  # 10,240 bytes of text/plain
CHUNK = "application/offset+octet-stream"


def meta(**values: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items()
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Tus:
    """A tus client on Django's test client: one visitor (its session cookie)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def options(self, url: str = "/fp/tus/", **headers: str) -> Any:
        return self.client.options(url, headers=headers)

    def create(
        self, length: int, metadata: str | None = None, body: bytes = b"", **headers: str
    ) -> Any:
        headers = {**TUS, "Upload-Length": str(length), **headers}
        if metadata is not None:
            headers["Upload-Metadata"] = metadata
        return self.client.generic(
            "POST", "/fp/tus/", body, content_type=CHUNK if body else "", headers=headers
        )

    def new(self, length: int = len(DATA), name: str = "data.bin", **values: str) -> str:
        response = self.create(length, meta(filename=name, **values))
        assert response.status_code == 201, response.content
        return str(response["Location"])

    def head(self, url: str, **headers: str) -> Any:
        return self.client.head(url, headers={**TUS, **headers})

    def patch(self, url: str, body: bytes, offset: int, **headers: str) -> Any:
        headers = {**TUS, "Upload-Offset": str(offset), **headers}
        content_type = headers.pop("Content-Type", CHUNK)
        return self.client.generic("PATCH", url, body, content_type=content_type, headers=headers)

    def delete(self, url: str, **headers: str) -> Any:
        return self.client.delete(url, headers={**TUS, **headers})


@pytest.fixture
def tus(client: Client) -> Tus:
    return Tus(client)


@pytest.fixture(params=["local", "s3"])
def area(request: Any, settings: Any) -> Iterator[str]:
    """Each test of the receiving path runs on the local area and on S3, under a prefix of
    its own that is emptied afterwards."""
    if request.param == "local":
        yield "local"
        return
    s3 = request.getfixturevalue("s3_server")
    options = s3.storage_options(location=f"fp-tus-{secrets.token_hex(4)}")
    settings.STORAGES = {**settings.STORAGES, "tus-tmp": options}
    settings.FILEPOND_SERVER_TEMP_STORAGE = "tus-tmp"
    yield "s3"
    empty_prefix(options)


def upload_of(url: str) -> TemporaryUpload:
    return TemporaryUpload.objects.get(pk=url.rstrip("/").rsplit("/", 1)[1])


def received_of(url: str) -> int:
    """The bytes the upload at ``url`` has received (in a local area, its file is ahead of
    its row during a transfer)."""
    return api.received_bytes(upload_of(url))


def bytes_of(upload: TemporaryUpload) -> bytes:
    with area_for(upload).open(upload.upload_id) as f:
        return f.read()


# --- discovery and versions -------------------------------------------------------------------


def test_options_describes_the_server(tus: Tus, settings: Any) -> None:
    settings.FILEPOND_SERVER_MAX_UPLOAD_SIZE = 5_000_000
    for url in ("/fp/tus/", "/fp/tus/aaaaaaaaaaaaaaaaaaaaaa"):
        response = tus.options(url)
        assert response.status_code == 204
        assert response["Tus-Resumable"] == "1.0.0"
        assert response["Tus-Version"] == "1.0.0"
        assert response["Tus-Max-Size"] == "5000000"
        assert response["Tus-Extension"].split(",") == [
            "creation",
            "creation-with-upload",
            "termination",
            "expiration",
            "checksum",
        ]
        assert {"sha1", "md5", "crc32"} <= set(response["Tus-Checksum-Algorithm"].split(","))


@pytest.mark.parametrize("version", [None, "0.2.2", "2.0.0", ""])
def test_an_unsupported_or_missing_version_answers_412(tus: Tus, version: str | None) -> None:
    url = tus.new()
    headers = {} if version is None else {"Tus-Resumable": version}
    calls = [
        lambda: tus.client.post("/fp/tus/", headers={"Upload-Length": "3", **headers}),
        lambda: tus.client.head(url, headers=headers),
        lambda: tus.client.generic(
            "PATCH", url, b"abc", content_type=CHUNK, headers={"Upload-Offset": "0", **headers}
        ),
        lambda: tus.client.delete(url, headers=headers),
    ]
    for call in calls:
        response = call()
        assert response.status_code == 412
        assert response["Tus-Version"] == "1.0.0"
        assert response["Tus-Resumable"] == "1.0.0"
    assert received_of(url) == 0  # nothing was written, nothing removed
    assert TemporaryUpload.objects.count() == 1


def test_other_methods_are_refused_with_405(tus: Tus) -> None:
    response = tus.client.get("/fp/tus/", headers=TUS)
    assert response.status_code == 405
    assert "POST" in response["Allow"]


# --- core and creation ------------------------------------------------------------------------


def test_a_whole_upload_in_chunks(tus: Tus, area: str) -> None:
    response = tus.create(len(DATA), meta(filename="data.bin", filetype="application/x-data"))
    assert response.status_code == 201
    url = response["Location"]
    assert url.startswith("/fp/tus/")
    assert response["Upload-Offset"] == "0"
    upload = upload_of(url)
    assert (upload.file_name, upload.chunked, upload.upload_length) == ("data.bin", True, 10240)
    assert upload.content_type == "application/x-data"  # until the checks sniff the bytes

    head = tus.head(url)
    assert head.status_code == 200
    assert (head["Upload-Offset"], head["Upload-Length"]) == ("0", "10240")
    assert head["Cache-Control"] == "no-store"

    for offset in range(0, len(DATA), 4000):
        response = tus.patch(url, DATA[offset : offset + 4000], offset)
        assert response.status_code == 204, response.content
        assert response["Upload-Offset"] == str(min(offset + 4000, len(DATA)))
        assert response["Tus-Resumable"] == "1.0.0"
    upload = upload_of(url)
    assert upload.complete and upload.received == len(DATA)
    assert upload.content_type == "text/plain"  # what libmagic found
    assert bytes_of(upload) == DATA
    head = tus.head(url)
    assert (head["Upload-Offset"], head["Upload-Length"]) == ("10240", "10240")


def test_a_wrong_offset_answers_409_and_changes_nothing(tus: Tus, area: str) -> None:
    url = tus.new()
    assert tus.patch(url, DATA[:4000], 0).status_code == 204
    for offset in (0, 3999, 4001, 9000):  # behind (a replay) or ahead of the server
        response = tus.patch(url, DATA[offset : offset + 100], offset)
        assert response.status_code == 409
        assert "resume from byte 4000" in response.content.decode()
    upload = upload_of(url)
    assert api.received_bytes(upload) == 4000
    assert bytes_of(upload) == DATA[:4000]
    if area == "s3":
        assert list(UploadPart.objects.values_list("offset", "length")) == [(0, 4000)]


def test_a_patch_may_be_larger_than_filepond_chunks(tus: Tus, settings: Any, area: str) -> None:
    """FILEPOND_SERVER_MAX_CHUNK_SIZE bounds FilePond's chunks; a tus PATCH may carry the
    rest of the upload (tus-js-client's default is one request for the whole file)."""
    settings.FILEPOND_SERVER_MAX_CHUNK_SIZE = 1000
    url = tus.new()
    assert tus.patch(url, DATA, 0).status_code == 204
    assert bytes_of(upload_of(url)) == DATA


def test_a_patch_without_the_chunk_content_type_answers_415(tus: Tus) -> None:
    url = tus.new()
    response = tus.patch(url, DATA[:10], 0, **{"Content-Type": "application/octet-stream"})
    assert response.status_code == 415
    assert received_of(url) == 0


def test_a_patch_without_offset_answers_400(tus: Tus) -> None:
    url = tus.new()
    response = tus.client.generic("PATCH", url, b"abc", content_type=CHUNK, headers=TUS)
    assert response.status_code == 400
    assert response.content == b"The Upload-Offset header is missing."


def test_bytes_past_the_length_are_refused(tus: Tus) -> None:
    url = tus.new(length=10)
    response = tus.patch(url, b"x" * 11, 0)
    assert response.status_code == 400
    assert "past the declared Upload-Length" in response.content.decode()
    assert received_of(url) == 0


def test_creation_needs_a_length(tus: Tus) -> None:
    response = tus.client.post("/fp/tus/", headers=TUS)
    assert response.status_code == 400
    assert response.content == b"The Upload-Length header is missing."
    response = tus.client.post("/fp/tus/", headers={**TUS, "Upload-Defer-Length": "1"})
    assert response.status_code == 400
    assert TemporaryUpload.objects.count() == 0


def test_a_length_past_the_maximum_answers_413(tus: Tus, settings: Any) -> None:
    settings.FILEPOND_SERVER_MAX_UPLOAD_SIZE = 1000
    response = tus.create(1001, meta(filename="big.bin"))
    assert response.status_code == 413
    assert "maximum upload size of 1000 bytes" in response.content.decode()
    assert TemporaryUpload.objects.count() == 0


def test_metadata_is_decoded_and_kept(tus: Tus) -> None:
    url = tus.new(name="Résumé 2026.pdf", filetype="application/pdf", caption="Über", empty="")
    upload = upload_of(url)
    assert upload.file_name == "Résumé 2026.pdf"
    assert upload.content_type == "application/pdf"
    assert upload.field_name == "filepond"
    assert upload.metadata == {"caption": "Über", "empty": ""}
    # A key without a value is an empty value too; HEAD gives the metadata back.
    response = tus.create(5, "filename " + b64(b"a.txt") + ",flag")
    assert upload_of(response["Location"]).metadata == {"flag": ""}
    echoed = tus.head(url)["Upload-Metadata"].split(",")
    assert f"caption {b64('Über'.encode())}" in echoed
    assert f"filename {b64('Résumé 2026.pdf'.encode())}" in echoed
    # Without any: the name every unnamed upload gets, and the field the rules came from.
    bare = tus.create(5)
    assert (
        tus.head(bare["Location"])["Upload-Metadata"]
        == f"filename {b64(b'file')},fieldname {b64(b'filepond')}"
    )


@pytest.mark.parametrize(
    "header, message",
    [
        ("filename !!!", "not base64 of UTF-8 text"),
        ("filename " + b64(b"\xff\xfe"), "not base64 of UTF-8 text"),
        ("filename " + b64(b"a\x00b"), "contains a NUL character"),
        ("a " + b64(b"1") + ",a " + b64(b"2"), "repeated or malformed key"),
        ("k\u00e9y " + b64(b"1"), "repeated or malformed key"),
        ("fieldname " + b64(b"x" * 300), "too long or contains control characters"),
        ("fieldname " + b64(b"a\nb"), "too long or contains control characters"),
        ("big " + b64(b"x" * 20000), "larger than 16384 bytes"),
    ],
)
def test_bad_metadata_answers_400(tus: Tus, header: str, message: str) -> None:
    response = tus.create(5, header.encode("utf-8").decode("latin-1"))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert TemporaryUpload.objects.count() == 0


def test_a_name_is_cleaned_and_bounded_and_a_bad_type_ignored(tus: Tus) -> None:
    url = tus.new(name="../../etc/\u202epasswd" + "é" * 300, filetype="tëxt/plain")
    upload = upload_of(url)
    assert "/" not in upload.file_name and "\u202e" not in upload.file_name
    assert len(upload.file_name.encode()) <= 247
    assert upload.content_type == "application/octet-stream"  # guessed from the name
    other = upload_of(tus.new(name="a.txt", filetype="text/html; x=<y>"))
    assert other.content_type == "text/plain"


def test_the_field_rules_apply_at_creation(tus: Tus, settings: Any) -> None:
    settings.FILEPOND_SERVER_UPLOAD_RULES = {
        "avatar": {"max_size": 100, "extensions": [".png"], "types": ["image/png"]}
    }
    too_big = tus.create(101, meta(filename="a.png", fieldname="avatar"))
    assert too_big.status_code == 413
    wrong_name = tus.create(50, meta(filename="a.exe", fieldname="avatar"))
    assert wrong_name.status_code == 415
    assert "Files ending in .exe are not accepted here" in wrong_name.content.decode()
    # Another field (or none) has the default rules.
    assert tus.create(101, meta(filename="a.exe", fieldname="other")).status_code == 201
    assert TemporaryUpload.objects.count() == 1


def test_the_field_rules_and_validators_apply_at_completion(tus: Tus, settings: Any) -> None:
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"avatar": {"types": ["image/png"]}}
    png = tiny_png()
    url = tus.new(len(png), name="a.png", fieldname="avatar")
    response = tus.patch(url, png, 0)
    assert response.status_code == 204
    assert upload_of(url).complete

    url = tus.new(len(DATA), name="b.png", fieldname="avatar")
    response = tus.patch(url, DATA, 0)
    assert response.status_code == 415
    assert "Files of type text/plain are not accepted here." in str(response.content.decode())
    assert tus.head(url).status_code == 415
    assert not area_for(upload_of(url)).exists(upload_of(url).upload_id)


def refuse_eicar(upload: TemporaryUpload, f: Any) -> None:
    if b"EICAR" in f.read():
        raise ValidationError("This file carries a test virus.")


def test_the_validators_run_when_the_last_byte_arrives(tus: Tus, settings: Any, area: str) -> None:
    settings.FILEPOND_SERVER_VALIDATORS = [refuse_eicar]
    body = b"harmless text\n" * 100 + b"EICAR\n"
    url = tus.new(len(body), name="x.txt")
    assert tus.patch(url, body[:700], 0).status_code == 204  # not checked before the end
    response = tus.patch(url, body[700:], 700)
    assert response.status_code == 422
    assert response.content == b"This file carries a test virus."
    assert tus.head(url).status_code == 422
    upload = upload_of(url)
    assert not upload.complete and upload.rejected == "This file carries a test virus."
    held = area_for(upload)
    if isinstance(held, StorageTemporaryArea):
        assert held.names(upload.upload_id) == []  # the part rows go with the row, later
    else:
        assert not held.exists(upload.upload_id)


def test_the_owner_limits_apply(tus: Tus, settings: Any) -> None:
    settings.FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER = 2
    settings.FILEPOND_SERVER_MAX_BYTES_PER_OWNER = 100
    assert tus.create(60, meta(filename="a")).status_code == 201
    assert tus.create(41, meta(filename="b")).status_code == 413
    assert tus.create(40, meta(filename="b")).status_code == 201
    response = tus.create(0, meta(filename="c"))
    assert response.status_code == 429
    assert TemporaryUpload.objects.count() == 2


def test_another_visitors_upload_answers_404(tus: Tus) -> None:
    url = tus.new()
    stranger = Tus(Client())
    stranger.create(1)  # a session of their own
    for response in (
        stranger.head(url),
        stranger.patch(url, DATA[:10], 0),
        stranger.delete(url),
    ):
        assert response.status_code == 404
    assert received_of(url) == 0
    cookieless = Tus(Client())
    response = cookieless.patch(url, DATA[:10], 0)
    assert response.status_code == 404
    assert response.content.decode() == NOT_FOUND_WITHOUT_SESSION


def test_an_unknown_or_malformed_id(tus: Tus) -> None:
    tus.create(1)
    assert tus.head("/fp/tus/aaaaaaaaaaaaaaaaaaaaaa").status_code == 404
    assert tus.head("/fp/tus/nope").status_code == 400


# --- creation-with-upload ---------------------------------------------------------------------


def test_creation_with_upload_keeps_the_first_bytes(tus: Tus, area: str) -> None:
    response = tus.create(len(DATA), meta(filename="d.bin"), body=DATA[:6000])
    assert response.status_code == 201
    assert response["Upload-Offset"] == "6000"
    url = response["Location"]
    assert tus.patch(url, DATA[6000:], 6000).status_code == 204
    assert bytes_of(upload_of(url)) == DATA


def test_creation_with_the_whole_file_completes_it(tus: Tus, area: str) -> None:
    png = tiny_png()
    response = tus.create(len(png), meta(filename="p.png"), body=png)
    assert response.status_code == 201
    upload = upload_of(response["Location"])
    assert upload.complete and upload.content_type == "image/png"


def test_an_empty_upload_is_complete_at_creation(tus: Tus) -> None:
    response = tus.create(0, meta(filename="empty.txt"))
    assert response.status_code == 201
    assert response["Upload-Offset"] == "0"
    assert upload_of(response["Location"]).complete


def test_a_refused_first_chunk_leaves_nothing(tus: Tus, area: str) -> None:
    digest = b64(hashlib.sha1(b"other").digest())
    response = tus.create(
        len(DATA), meta(filename="d.bin"), body=DATA[:100], **{"Upload-Checksum": f"sha1 {digest}"}
    )
    assert response.status_code == 460
    assert "Location" not in response
    assert TemporaryUpload.objects.count() == 0
    wrong_type = tus.client.generic(
        "POST",
        "/fp/tus/",
        b"abc",
        content_type="text/plain",
        headers={**TUS, "Upload-Length": "3"},
    )
    assert wrong_type.status_code == 415
    assert TemporaryUpload.objects.count() == 0


# --- checksum ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "algorithm, digest",
    [
        ("sha1", lambda data: hashlib.sha1(data).digest()),
        ("md5", lambda data: hashlib.md5(data).digest()),
        ("sha256", lambda data: hashlib.sha256(data).digest()),
        ("crc32", lambda data: zlib.crc32(data).to_bytes(4, "big")),
    ],
)
def test_a_chunk_with_its_checksum_is_kept(
    tus: Tus, area: str, algorithm: str, digest: Any
) -> None:
    url = tus.new()
    for offset in (0, 5000):
        body = DATA[offset : offset + 5000]
        checksum = f"{algorithm} {b64(digest(body))}"
        response = tus.patch(url, body, offset, **{"Upload-Checksum": checksum})
        assert response.status_code == 204
    bad = DATA[10000:]
    response = tus.patch(url, bad, 10000, **{"Upload-Checksum": f"{algorithm} {b64(digest(b'x'))}"})
    assert response.status_code == 460
    assert response.reason_phrase == "Checksum Mismatch"
    assert received_of(url) == 10000


def test_a_bad_checksum_answers_460_and_leaves_no_trace(tus: Tus, area: str, settings: Any) -> None:
    url = tus.new()
    assert tus.patch(url, DATA[:4000], 0).status_code == 204
    wrong = b64(hashlib.sha1(b"not these bytes").digest())
    response = tus.patch(url, DATA[4000:8000], 4000, **{"Upload-Checksum": f"sha1 {wrong}"})
    assert response.status_code == 460
    assert response.content == b"The chunk's checksum does not match its bytes; send it again."
    upload = upload_of(url)
    assert api.received_bytes(upload) == 4000
    assert tus.head(url)["Upload-Offset"] == "4000"
    if area == "local":
        # The in-place write was rolled back: the file ends where the received bytes end.
        assert area_for(upload).size(upload.upload_id) == 4000
    else:
        # The chunk never became an object.
        assert len(area_for(upload).names(upload.upload_id)) == 1
    right = b64(hashlib.sha1(DATA[4000:]).digest())
    response = tus.patch(url, DATA[4000:], 4000, **{"Upload-Checksum": f"sha1 {right}"})
    assert response.status_code == 204
    assert bytes_of(upload_of(url)) == DATA


@pytest.mark.parametrize("header", ["whirlpool abc=", "sha1 not-base64!", "sha1"])
def test_an_unknown_algorithm_or_bad_digest_answers_400(tus: Tus, header: str) -> None:
    url = tus.new()
    response = tus.patch(url, DATA[:10], 0, **{"Upload-Checksum": header})
    assert response.status_code == 400
    assert received_of(url) == 0


# --- termination and expiration ---------------------------------------------------------------


def test_termination_removes_the_upload_and_its_bytes(
    tus: Tus, area: str, django_capture_on_commit_callbacks: Any
) -> None:
    url = tus.new()
    assert tus.patch(url, DATA[:100], 0).status_code == 204
    upload = upload_of(url)
    with django_capture_on_commit_callbacks(execute=True):
        response = tus.delete(url)
    assert response.status_code == 204
    assert response["Tus-Resumable"] == "1.0.0"
    assert not TemporaryUpload.objects.filter(pk=upload.upload_id).exists()
    assert not area_for(upload).exists(upload.upload_id)
    assert tus.head(url).status_code == 404
    assert tus.patch(url, DATA[100:200], 100).status_code == 404
    assert tus.delete(url).status_code == 404


def test_uploads_say_when_they_expire_and_answer_404_after(tus: Tus, settings: Any) -> None:
    settings.FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT = 600
    settings.FILEPOND_SERVER_TEMPORARY_LIFETIME = 3600
    response = tus.create(len(DATA), meta(filename="e.bin"))
    url = response["Location"]
    expires = parsedate_to_datetime(response["Upload-Expires"])
    assert abs((expires - timezone.now()).total_seconds() - 600) < 5
    patched = tus.patch(url, DATA, 0)
    # Complete: kept for the temporary lifetime from its creation.
    expires = parsedate_to_datetime(patched["Upload-Expires"])
    assert abs((expires - timezone.now()).total_seconds() - 3600) < 5
    assert tus.head(url)["Upload-Expires"] == patched["Upload-Expires"]

    idle = tus.new()
    TemporaryUpload.objects.filter(pk=upload_of(idle).pk).update(
        updated=timezone.now() - timedelta(seconds=601)
    )
    assert tus.head(idle).status_code == 404
    assert tus.patch(idle, DATA[:10], 0).status_code == 404


# --- the same uploads -------------------------------------------------------------------------


def test_a_tus_upload_is_stored_like_any_other(tus: Tus, area: str, rf: Any) -> None:
    url = tus.new(name="report.bin", caption="Q3")
    tus.patch(url, DATA, 0)
    upload = upload_of(url)
    stored = api.store_upload(upload.upload_id, "tus/")
    assert stored.original_name == "report.bin"
    with stored.file.open("rb") as f:
        assert f.read() == DATA
    assert not TemporaryUpload.objects.filter(pk=upload.upload_id).exists()


def test_method_override_sends_patch_and_delete_as_post(tus: Tus) -> None:
    url = tus.new()
    response = tus.client.generic(
        "POST",
        url,
        DATA[:100],
        content_type=CHUNK,
        headers={**TUS, "Upload-Offset": "0", "X-HTTP-Method-Override": "PATCH"},
    )
    assert response.status_code == 204
    assert response["Upload-Offset"] == "100"
    bad = tus.client.post(url, headers={**TUS, "X-HTTP-Method-Override": "GET"})
    assert bad.status_code == 400
    gone = tus.client.post(url, headers={**TUS, "X-HTTP-Method-Override": "DELETE"})
    assert gone.status_code == 204
    assert TemporaryUpload.objects.count() == 0


# --- CORS -------------------------------------------------------------------------------------

PAGE = "https://app.example.com"


def test_cors_for_the_origins_listed(tus: Tus, settings: Any) -> None:
    settings.FILEPOND_SERVER_TUS_CORS_ORIGINS = [PAGE]
    preflight = tus.options(
        "/fp/tus/",
        Origin=PAGE,
        **{
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "tus-resumable, upload-length, upload-metadata",
        },
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == PAGE
    assert preflight["Access-Control-Allow-Credentials"] == "true"
    assert "PATCH" in preflight["Access-Control-Allow-Methods"]
    allowed = {h.strip() for h in preflight["Access-Control-Allow-Headers"].split(",")}
    assert {"tus-resumable", "upload-length", "upload-metadata", "upload-offset"} <= allowed
    assert {"upload-checksum", "x-csrftoken", "x-http-method-override"} <= allowed

    created = tus.create(10, meta(filename="c"), Origin=PAGE)
    assert created["Access-Control-Allow-Origin"] == PAGE
    exposed = {h.strip() for h in created["Access-Control-Expose-Headers"].split(",")}
    assert {"Location", "Upload-Offset", "Upload-Length", "Tus-Resumable", "Upload-Expires"} <= (
        exposed
    )
    head = tus.head(created["Location"], Origin=PAGE)
    assert head["Access-Control-Allow-Origin"] == PAGE

    other = tus.create(10, meta(filename="c"), Origin="https://elsewhere.example")
    assert "Access-Control-Allow-Origin" not in other
    assert "Origin" in other["Vary"]


# --- permissions ------------------------------------------------------------------------------


def test_each_tus_method_has_its_own_permission_classes(tus: Tus, settings: Any) -> None:
    url = tus.new()
    settings.FILEPOND_SERVER_PERMISSION_CLASSES = {
        "PATCH_TUS": ["rest_framework.permissions.IsAdminUser"],
        "DELETE_TUS": ["rest_framework.permissions.IsAdminUser"],
    }
    assert tus.head(url).status_code == 200
    assert tus.patch(url, DATA[:10], 0).status_code == 403
    assert tus.delete(url).status_code == 403
    settings.FILEPOND_SERVER_PERMISSION_CLASSES = {
        "POST_TUS": ["rest_framework.permissions.IsAuthenticated"]
    }
    refused = tus.create(10, meta(filename="x"))
    assert refused.status_code == 403
    assert refused["Tus-Resumable"] == "1.0.0"
    assert tus.options().status_code == 204  # discovery asks for no permission
    assert TemporaryUpload.objects.count() == 1


class TwoPerMinute(UserRateThrottle):
    rate = "2/min"


def test_authentication_and_throttles_by_tus_key(
    tus: Tus, settings: Any, django_user_model: Any
) -> None:
    django_user_model.objects.create_user("ada", password="pw")
    settings.FILEPOND_SERVER_AUTHENTICATION_CLASSES = {
        key: ["rest_framework.authentication.BasicAuthentication"]
        for key in ("POST_TUS", "HEAD_TUS", "PATCH_TUS")
    }
    settings.FILEPOND_SERVER_PERMISSION_CLASSES = {
        key: ["rest_framework.permissions.IsAuthenticated"]
        for key in ("POST_TUS", "HEAD_TUS", "PATCH_TUS")
    }
    settings.FILEPOND_SERVER_THROTTLE_CLASSES = {"HEAD_TUS": [TwoPerMinute]}
    cache.clear()
    basic = "Basic " + b64(b"ada:pw")
    client = Tus(Client())  # no cookies: the header says who it is
    response = client.create(len(DATA), meta(filename="a.bin"), Authorization=basic)
    assert response.status_code == 201
    url = response["Location"]
    upload = upload_of(url)
    assert upload.owner.username == "ada"
    assert client.patch(url, DATA, 0, Authorization=basic).status_code == 204
    assert client.head(url).status_code == 401
    assert client.head(url, Authorization=basic).status_code == 200
    assert client.head(url, Authorization=basic).status_code == 200
    assert client.head(url, Authorization=basic).status_code == 429


# --- the form field's transport ---------------------------------------------------------------


def test_a_field_with_the_tus_transport_loads_tus_js_client_first(rf: Any, settings: Any) -> None:
    from django_filepond_server.forms import FilePondField, FilePondForm
    from django_filepond_server.forms.widgets import TUS_SCRIPT, WIDGET_SCRIPT

    pinned = {
        "src": "https://cdn.jsdelivr.net/npm/tus-js-client@4.3.1/dist/tus.min.js",
        "integrity": "sha384-x",
        "crossorigin": "anonymous",
    }
    settings.FILEPOND_SERVER_TUS_CLIENT_JS = [pinned]

    class TusForm(FilePondForm):
        document = FilePondField(transport="tus")

    request = rf.get("/")
    request.session = {}
    form = TusForm(request=request)
    *_filepond, client, transport, widget = form.media.render_js()
    assert pinned["src"] in client and 'integrity="sha384-x"' in client
    assert TUS_SCRIPT in transport and WIDGET_SCRIPT in widget
    assert '"transport":"tus"' in form.as_p().replace("&quot;", '"')
