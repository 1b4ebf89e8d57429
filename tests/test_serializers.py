"""The DRF upload fields and FilePondModelSerializer, through a real API: clients upload with
the FilePond endpoints, then write the ids; refusals are ordinary 400 field errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError
from django.db.models.signals import pre_save
from django.test import Client
from django.utils import timezone

from django_filepond_server.models import StoredUpload, TemporaryUpload
from tests.formsapp.api import AlbumSerializer
from tests.formsapp.models import Album
from tests.helpers import body_of, tiny_png

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n" + b"0" * 200


@pytest.fixture(autouse=True)
def api_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.formsapp.urls"


@pytest.fixture(autouse=True)
def memory() -> Any:
    # The field's own storage object: Django calls a storage callable once, at import.
    storage = Album._meta.get_field("cover").storage
    storage._root._children.clear()  # type: ignore[attr-defined]
    return storage


def post(client: Client, data: dict[str, Any]) -> Any:
    return client.post("/api/albums/", data, content_type="application/json")


def test_create_stores_the_uploads_and_reads_back_names_and_urls(
    client: Client, process: Any, memory: Any
) -> None:
    cover = process(tiny_png(), "cover.png")
    docs = [process(PDF, "one.pdf"), process(b"words", "two.txt")]

    response = post(client, {"title": "API", "cover": cover, "documents": docs})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["cover"] == {"name": "cover.png", "url": "http://testserver/media/covers/cover.png"}
    assert sorted(d["name"] for d in body["documents"]) == ["one.pdf", "two.txt"]
    album = Album.objects.get()
    assert album.cover.name == "covers/cover.png"
    with memory.open("covers/cover.png") as f:
        assert f.read() == tiny_png()
    # Each document's URL is the load endpoint, which serves its bytes.
    one = next(d for d in body["documents"] if d["name"] == "one.pdf")
    assert one["url"] == f"http://testserver/fp/load/?id={one['id']}"
    assert body_of(client.get(one["url"])) == PDF
    assert not TemporaryUpload.objects.exists()


def test_update_keeps_listed_files_adds_new_ones_and_detaches_the_rest(
    client: Client, process: Any
) -> None:
    created = post(
        client,
        {
            "title": "A",
            "cover": process(tiny_png(), "cover.png"),
            "documents": [process(PDF, "one.pdf"), process(PDF, "two.pdf")],
        },
    ).json()
    assert created["cover"]["name"] == "cover.png"
    keep = next(d["id"] for d in created["documents"] if d["name"] == "one.pdf")
    new = process(PDF, "three.pdf")

    response = client.patch(
        f"/api/albums/{created['id']}/",
        {"documents": [keep, new], "cover": None},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["cover"] is None  # null cleared it
    assert Album.objects.get().cover.name == ""
    assert sorted(d["name"] for d in response.json()["documents"]) == ["one.pdf", "three.pdf"]
    assert StoredUpload.objects.filter(original_name="two.pdf").exists()  # detached only


@pytest.mark.parametrize(
    ("make", "field", "code"),
    [
        (lambda process, start: "A" * 22, "documents", "unknown"),
        (lambda process, start: start(1000), "documents", "incomplete"),
        (lambda process, start: process(PDF, "x.docx"), "documents", "rejected"),
        (lambda process, start: process(b"text", "c.png"), "cover", "rejected"),
    ],
)
def test_refusals_are_400_field_errors(
    client: Client, process: Any, start_chunked: Any, make: Any, field: str, code: str
) -> None:
    value = make(process, start_chunked)
    data = {"title": "x", field: [value] if field == "documents" else value}
    response = post(client, data)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    serializer = AlbumSerializer(data=data, context={"request": _request_of(client)})
    assert not serializer.is_valid()
    assert [error.code for error in serializer.errors[field]] == [code]
    assert not Album.objects.exists()


def test_expired_refused_and_someone_elses_uploads_are_400(client: Client, process: Any) -> None:
    expired = process(PDF, "old.pdf")
    TemporaryUpload.objects.filter(pk=expired).update(created=timezone.now() - timedelta(days=2))
    refused = process(PDF, "bad.pdf")
    TemporaryUpload.objects.filter(pk=refused).update(rejected="Infected.", rejected_status=422)
    stranger = Client()
    theirs = stranger.post("/fp/", {"filepond": ["{}", _file("t.pdf", PDF)]}).content.decode()

    for upload_id, message in (
        (expired, "no longer available"),
        (refused, "“bad.pdf” was refused: Infected."),
        (theirs, "no longer available"),
    ):
        response = post(client, {"title": "x", "documents": [upload_id]})
        assert response.status_code == 400
        assert message in response.json()["documents"][0]
    assert TemporaryUpload.objects.filter(pk=theirs).exists()


def test_bad_shapes_and_too_many_files_are_400(client: Client, process: Any) -> None:
    assert post(client, {"title": "x", "documents": "abc"}).json() == {
        "documents": ["Write a list of upload ids."]
    }
    assert post(client, {"title": "x", "cover": 12}).status_code == 400
    many = [process(PDF, f"{n}.pdf") for n in range(4)]
    assert post(client, {"title": "x", "documents": many}).json() == {
        "documents": ["Write at most 3 files."]
    }


def test_a_failed_save_leaves_no_file(client: Client, process: Any, memory: Any) -> None:
    cover = process(tiny_png(), "cover.png")
    doc = process(PDF, "one.pdf")

    def refuse(**kwargs: Any) -> None:
        raise IntegrityError("the database refused the row")

    serializer = AlbumSerializer(
        data={"title": "x", "cover": cover, "documents": [doc]},
        context={"request": _request_of(client)},
    )
    assert serializer.is_valid(), serializer.errors
    pre_save.connect(refuse, sender=Album)
    try:
        with pytest.raises(IntegrityError):
            serializer.save()
    finally:
        pre_save.disconnect(refuse, sender=Album)
    assert not memory.exists("covers/cover.png")
    assert not StoredUpload.objects.exists()
    assert set(TemporaryUpload.objects.values_list("pk", flat=True)) == {cover, doc}


def test_the_serializer_needs_the_request() -> None:
    serializer = AlbumSerializer(data={"title": "x", "documents": ["A" * 22]})
    with pytest.raises(ImproperlyConfigured, match="needs the request in the serializer"):
        serializer.is_valid()


def _file(name: str, content: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)


def _request_of(client: Client) -> Any:
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory

    request = RequestFactory().post("/")
    request.session = client.session
    request.user = AnonymousUser()
    return request


def test_delete_removed_deletes_what_an_update_leaves_out(
    client: Client, process: Any, upload_dirs: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django_filepond_server.serializers import FilePondUploadsField

    class DeletingSerializer(AlbumSerializer):
        documents = FilePondUploadsField(upload_to="albums/", delete_removed=True)

    created = post(
        client, {"title": "A", "documents": [process(PDF, "one.pdf"), process(PDF, "two.pdf")]}
    ).json()
    keep = next(d["id"] for d in created["documents"] if d["name"] == "one.pdf")
    album = Album.objects.get()
    serializer = DeletingSerializer(
        album, data={"documents": [keep]}, partial=True, context={"request": _request_of(client)}
    )
    assert serializer.is_valid(), serializer.errors
    with django_capture_on_commit_callbacks(execute=True):
        serializer.save()
    assert [row.original_name for row in album.documents.all()] == ["one.pdf"]
    assert not StoredUpload.objects.filter(original_name="two.pdf").exists()
    assert not (upload_dirs["media"] / "albums" / "two.pdf").exists()
