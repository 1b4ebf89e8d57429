"""process: whole files in one multipart POST."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from django_filepond_server.models import TemporaryUpload
from django_filepond_server.temporary import get_temporary_area

pytestmark = pytest.mark.django_db


def test_process_answers_the_bare_id_as_plain_text(client):
    response = client.post(
        "/fp/", {"filepond": ["{}", SimpleUploadedFile("photo.jpg", b"\xff\xd8\xffdata")]}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    upload_id = response.content.decode()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", upload_id)
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.complete
    assert upload.file_name == "photo.jpg"
    assert upload.received == 7
    with get_temporary_area().open(upload_id) as f:
        assert f.read() == b"\xff\xd8\xffdata"


def test_ids_are_unique(process):
    ids = {process() for _ in range(20)}
    assert len(ids) == 20


def test_process_keeps_metadata_and_field_name(process):
    upload_id = process(field="avatar", metadata={"crop": {"x": 1}})
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.metadata == {"crop": {"x": 1}}
    assert upload.field_name == "avatar"


def test_process_accepts_a_bracketed_field_name(process):
    upload_id = process(field="documents[]")
    assert TemporaryUpload.objects.get(pk=upload_id).field_name == "documents[]"


def test_process_on_the_path_style_url(client):
    response = client.post(
        "/fp/process/", {"filepond": ["{}", SimpleUploadedFile("a.txt", b"abc")]}
    )
    assert response.status_code == 200
    assert TemporaryUpload.objects.filter(pk=response.content.decode()).exists()


def test_client_file_name_is_reduced_to_a_safe_basename(process):
    upload_id = process(name="../../etc/pass\x00wd")
    assert TemporaryUpload.objects.get(pk=upload_id).file_name == "passwd"


def test_several_file_parts_are_refused_and_nothing_is_kept(client, upload_dirs):
    response = client.post(
        "/fp/",
        {
            "filepond": [
                "{}",
                SimpleUploadedFile("original_a.jpg", b"1"),
                SimpleUploadedFile("a.jpg", b"2"),
            ]
        },
    )
    assert response.status_code == 400
    assert "variants are not supported" in response.content.decode()
    assert TemporaryUpload.objects.count() == 0
    assert list(upload_dirs["tmp"].iterdir()) == []


def test_no_file_and_no_upload_length_is_refused(client):
    response = client.post("/fp/", {"filepond": "{}"})
    assert response.status_code == 400
    assert response.content.decode() == (
        "No file was sent. Send it under the field name FilePond uses."
    )


def test_empty_body_is_refused(client):
    response = client.generic("POST", "/fp/", b"", content_type="multipart/form-data; boundary=x")
    assert response.status_code == 400
    assert response.content.decode() == "The request body is empty."


def test_wrong_content_type_is_refused(client):
    response = client.post("/fp/", b'{"a": 1}', content_type="application/json")
    assert response.status_code == 415
    assert "multipart/form-data" in response.content.decode()


def test_a_broken_multipart_body_is_a_400(client):
    response = client.generic(
        "POST", "/fp/", b"garbage", content_type="multipart/form-data; boundary="
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")


def test_metadata_too_large_is_refused(client, settings, upload_dirs):
    settings.FILEPOND_SERVER_MAX_METADATA_SIZE = 100
    big = json.dumps({"x": "y" * 200})
    response = client.post("/fp/", {"filepond": [big, SimpleUploadedFile("a.txt", b"abc")]})
    assert response.status_code == 400
    assert response.content.decode() == "The file's metadata is larger than 100 bytes."
    assert TemporaryUpload.objects.count() == 0
    assert list(upload_dirs["tmp"].iterdir()) == []


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ("{not json", "The file's metadata is not valid JSON."),
        ("[1, 2]", "The file's metadata must be a JSON object."),
    ],
)
def test_bad_metadata_is_refused(client, metadata, message):
    response = client.post("/fp/", {"filepond": [metadata, SimpleUploadedFile("a.txt", b"x")]})
    assert response.status_code == 400
    assert response.content.decode() == message


def test_file_over_the_maximum_size_is_refused_while_streaming(client, settings, upload_dirs):
    settings.FILEPOND_SERVER_MAX_UPLOAD_SIZE = 1000
    response = client.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("big.bin", b"x" * 5000)]})
    assert response.status_code == 413
    assert response.content.decode() == (
        "The file is larger than the maximum upload size of 1000 bytes."
    )
    assert TemporaryUpload.objects.count() == 0
    assert list(upload_dirs["tmp"].iterdir()) == []


def test_request_far_over_the_maximum_is_refused_from_content_length(client, settings):
    settings.FILEPOND_SERVER_MAX_UPLOAD_SIZE = 10
    settings.FILEPOND_SERVER_MAX_METADATA_SIZE = 10
    response = client.post(
        "/fp/", {"filepond": ["{}", SimpleUploadedFile("big.bin", b"x" * 200_000)]}
    )
    assert response.status_code == 413
    assert TemporaryUpload.objects.count() == 0


def test_file_larger_than_django_memory_limits_is_streamed_to_the_area(client, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    content = bytes(range(256)) * 40_000  # ~10 MB
    response = client.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("big.bin", content)]})
    assert response.status_code == 200
    with get_temporary_area().open(response.content.decode()) as f:
        assert f.read() == content


def test_method_not_allowed_on_process_is_plain_text(client):
    response = client.get("/fp/process/")
    assert response.status_code == 405
    assert response["Content-Type"].startswith("text/plain")


def test_form_fields_over_djangos_memory_limit_are_a_413(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = client.post(
        "/fp/", {"filepond": ["{}", SimpleUploadedFile("a.txt", b"x")], "note": "n" * 500}
    )
    assert response.status_code == 413
    assert response.content.decode() == "The form fields sent with the file are too large."


@pytest.mark.parametrize("max_size", [None, 10])
def test_a_body_already_parsed_by_middleware_is_still_staged(client, settings, max_size):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.middleware.ReadPostMiddleware"]
    if max_size:
        settings.FILEPOND_SERVER_MAX_UPLOAD_SIZE = max_size
    response = client.post(
        "/fp/", {"filepond": ["{}", SimpleUploadedFile("early.txt", b"parsed early")]}
    )
    if max_size:
        assert response.status_code == 413
        assert TemporaryUpload.objects.count() == 0
        return
    assert response.status_code == 200
    upload = TemporaryUpload.objects.get(pk=response.content.decode())
    assert upload.file_name == "early.txt"
    with get_temporary_area().open(upload.upload_id) as f:
        assert f.read() == b"parsed early"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (
            '{"a": ' + "[" * 5000 + "]" * 5000 + "}",
            "The file's metadata is nested more than 64 levels deep.",
        ),
        ('{"a": "nul \\u0000 byte"}', "The file's metadata contains a NUL character."),
    ],
)
def test_hostile_metadata_is_a_400(client, settings, metadata, message):
    settings.FILEPOND_SERVER_MAX_METADATA_SIZE = 100_000
    response = client.post("/fp/", {"filepond": [metadata, SimpleUploadedFile("a.txt", b"x")]})
    assert response.status_code == 400
    assert response.content.decode() == message


def test_metadata_nested_up_to_the_limit_is_kept(client):
    at_the_limit = '{"a": ' + "[" * 63 + "]" * 63 + "}"  # 64 levels with the object
    brackets_in_strings = '{"text": "' + "[" * 100 + "{" * 100 + '\\" [", "n": 1}'
    for raw in (at_the_limit, brackets_in_strings):
        response = client.post("/fp/", {"filepond": [raw, SimpleUploadedFile("a.txt", b"x")]})
        assert response.status_code == 200, response.content
        upload = TemporaryUpload.objects.get(pk=response.content.decode())
        assert upload.metadata == json.loads(raw)
    one_more = '{"a": ' + "[" * 64 + "]" * 64 + "}"
    response = client.post("/fp/", {"filepond": [one_more, SimpleUploadedFile("a.txt", b"x")]})
    assert response.status_code == 400


@pytest.mark.parametrize("url", ["/fp/", "/fp/process/", "/fp/load/", "/fp/revert/"])
def test_options_is_not_served(client, url):
    response = client.options(url)
    assert response.status_code == 405
    assert "OPTIONS" not in response["Allow"]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ('{"a": NaN}', "The file's metadata is not valid JSON."),
        ('{"a": -Infinity}', "The file's metadata is not valid JSON."),
        ('{"a": 1e999}', "The file's metadata contains a number out of range."),
        ('{"a": ["\\ud800"]}', "The file's metadata contains a broken Unicode escape."),
        ('{"\\udfff": 1}', "The file's metadata contains a broken Unicode escape."),
        ('{"k\\u0000": 1}', "The file's metadata contains a NUL character."),
    ],
)
def test_metadata_a_database_cannot_hold_is_a_400(client, metadata, message):
    for body in (
        {"filepond": [metadata, SimpleUploadedFile("a.txt", b"x")]},
        {"filepond": metadata},
    ):
        response = client.post("/fp/", body, headers={"Upload-Length": "10"})
        assert (response.status_code, response.content.decode()) == (400, message)
    assert not TemporaryUpload.objects.exists()


@pytest.mark.parametrize("field", ["nul\x00name", "x" * 256, "tab\there"])
def test_a_field_name_a_database_cannot_hold_is_a_400(client, upload_dirs, field):
    for body in (
        {field: ["{}", SimpleUploadedFile("a.txt", b"x")]},
        {field: "{}", "fp_upload_field": field},
    ):
        response = client.post("/fp/", body, headers={"Upload-Length": "10"})
        assert response.status_code == 400
        assert response.content.decode() == (
            "The form field name is too long or contains control characters."
        )
    assert not TemporaryUpload.objects.exists()
    assert not upload_dirs["tmp"].exists() or not any(upload_dirs["tmp"].iterdir())


def test_a_file_part_cut_short_leaves_nothing_behind(client, upload_dirs):
    """Upload-Length and a file part whose body ends before its boundary: whatever the
    answer, no bytes stay in the temporary area without a row."""
    body = (
        b'--xyz\r\nContent-Disposition: form-data; name="filepond"\r\n\r\n{}\r\n'
        b'--xyz\r\nContent-Disposition: form-data; name="filepond"; filename="a.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + b"z" * 5000
    )
    response = client.generic(
        "POST",
        "/fp/",
        body,
        content_type="multipart/form-data; boundary=xyz",
        headers={"Upload-Length": "10000"},
    )
    assert response.status_code in (200, 400)
    rows = list(TemporaryUpload.objects.values_list("pk", flat=True))
    files = (
        sorted(p.name for p in upload_dirs["tmp"].iterdir())
        if rows or upload_dirs["tmp"].exists()
        else []
    )
    assert files == sorted(f"{pk}.upload" for pk in rows)
