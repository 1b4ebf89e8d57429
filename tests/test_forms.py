"""FilePond form fields, the widget and FilePondModelForm, with uploads made through the real
endpoints by the test client (the visitor) and forms built with that visitor's request."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django import forms
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.db import IntegrityError
from django.db.models.signals import pre_save
from django.middleware.csrf import _unmask_cipher_token
from django.test import Client, RequestFactory
from django.utils import timezone, translation

from django_filepond_server.forms import FilePondField, FilePondForm, FilePondMultipleField
from django_filepond_server.models import StoredUpload, TemporaryUpload
from django_filepond_server.storage import get_permanent_storage
from tests.formsapp.forms import AlbumForm
from tests.formsapp.models import Album
from tests.helpers import body_of, tiny_png

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n" + b"0" * 200


@pytest.fixture
def visitor(client: Client) -> Any:
    """A request of the test client's visitor: its session (read when first used), anonymous."""
    client.session  # noqa: B018  (gives the client its session cookie now)

    def make(data: dict[str, Any] | None = None) -> Any:
        request = RequestFactory().post("/", data or {})
        request.session = client.session
        request.user = AnonymousUser()
        return request

    return make


@pytest.fixture(autouse=True)
def memory() -> Any:
    """The album cover's storage (InMemoryStorage), emptied."""
    # The field's own storage object: Django calls a storage callable once, at import.
    storage = Album._meta.get_field("cover").storage
    storage._root._children.clear()  # type: ignore[attr-defined]
    return storage


def config_of(rendered: str, name: str) -> dict[str, Any]:
    """The JSON the widget of input ``name`` carries in ``data-filepond``."""
    match = re.search(rf'<input type="file" name="{name}"[^>]*data-filepond="([^"]*)"', rendered)
    assert match, rendered
    return json.loads(html.unescape(match.group(1)))  # type: ignore[no-any-return]


def album_form(request: Any, data: dict[str, Any], **kwargs: Any) -> AlbumForm:
    return AlbumForm(data, request=request, **kwargs)


# --- the request is required -------------------------------------------------------------


def test_a_filepond_form_without_the_request_fails_at_once() -> None:
    with pytest.raises(TypeError, match=r"AlbumForm\(\) needs request=request"):
        AlbumForm({"title": "x"})
    with pytest.raises(TypeError, match="needs request=request"):
        AlbumForm({"title": "x"}, request=None)


def test_a_filepond_field_in_a_plain_form_says_what_is_missing(process: Any) -> None:
    class PlainForm(forms.Form):
        files = FilePondMultipleField()

    form = PlainForm({"files": [process()]})
    with pytest.raises(ImproperlyConfigured, match=r"PlainForm\.files is a FilePond field"):
        form.is_valid()
    with pytest.raises(ImproperlyConfigured, match="request=request"):
        PlainForm().as_p()


# --- every refusal is a form error ---------------------------------------------------------


def refusal(form: forms.BaseForm, field: str) -> list[str]:
    assert not form.is_valid()
    return [error.code for error in form.errors.as_data()[field]]


def test_an_unknown_or_malformed_id_is_refused(visitor: Any) -> None:
    form = album_form(visitor(), {"title": "a", "documents": ["A" * 22, "../../etc/passwd"]})
    assert refusal(form, "documents") == ["unknown", "unknown"]
    assert "no longer available" in form.errors["documents"][0]


def test_an_unfinished_upload_is_refused(visitor: Any, start_chunked: Any) -> None:
    upload_id = start_chunked(1000)
    form = album_form(visitor(), {"title": "a", "documents": [upload_id]})
    assert refusal(form, "documents") == ["incomplete"]
    assert "has not finished uploading" in form.errors["documents"][0]


def test_a_refused_upload_is_refused(visitor: Any, process: Any) -> None:
    upload_id = process(b"hello", "note.txt")
    TemporaryUpload.objects.filter(pk=upload_id).update(
        rejected="Files of type text/plain are not accepted here.", rejected_status=415
    )
    form = album_form(visitor(), {"title": "a", "documents": [upload_id]})
    assert refusal(form, "documents") == ["rejected"]
    assert form.errors["documents"] == [
        "“note.txt” was refused: Files of type text/plain are not accepted here."
    ]


def test_an_upload_breaking_the_fields_rules_is_refused(visitor: Any, process: Any) -> None:
    not_an_image = process(b"just text", "cover.png")
    wrong_extension = process(PDF, "document.docx")
    form = album_form(
        visitor(), {"title": "a", "cover": [not_an_image], "documents": [wrong_extension]}
    )
    assert refusal(form, "cover") == ["rejected"]
    assert "Files of type text/plain are not accepted here." in form.errors["cover"][0]
    assert refusal(form, "documents") == ["rejected"]
    assert "Files ending in .docx are not accepted here" in form.errors["documents"][0]


def test_an_expired_upload_is_refused(visitor: Any, process: Any) -> None:
    upload_id = process(PDF, "old.pdf")
    TemporaryUpload.objects.filter(pk=upload_id).update(created=timezone.now() - timedelta(days=2))
    form = album_form(visitor(), {"title": "a", "documents": [upload_id]})
    assert refusal(form, "documents") == ["unknown"]


def test_another_visitors_upload_is_refused_like_an_unknown_one(visitor: Any) -> None:
    stranger = Client()
    response = stranger.post("/fp/", {"filepond": ["{}", _file("theirs.pdf", PDF)]})
    theirs = response.content.decode()
    form = album_form(visitor(), {"title": "a", "documents": [theirs]})
    assert refusal(form, "documents") == ["not_owned"]
    assert form.errors["documents"][0].startswith("A file of this form is no longer available")
    assert TemporaryUpload.objects.filter(pk=theirs).exists()


def test_several_ids_for_one_file_and_too_many_files_are_refused(
    visitor: Any, process: Any
) -> None:
    covers = [process(tiny_png(), "a.png"), process(tiny_png(), "b.png")]
    documents = [process(PDF, f"{n}.pdf") for n in range(4)]
    form = album_form(visitor(), {"title": "a", "cover": covers, "documents": documents})
    assert refusal(form, "cover") == ["several"]
    assert refusal(form, "documents") == ["max_files"]


def test_refusals_reach_the_page_never_a_500(client: Client, settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.formsapp.urls"
    response = client.post("/albums/new/", {"title": "a", "documents": ["A" * 22, "x"]})
    assert response.status_code == 200
    assert "no longer available" in response.content.decode()
    assert not Album.objects.exists()


def _file(name: str, content: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)


# --- saving ---------------------------------------------------------------------------------


def test_save_puts_files_into_the_model_fields_storage_and_the_relation(
    visitor: Any, process: Any, memory: Any, upload_dirs: Any
) -> None:
    cover = process(tiny_png(), "cover.png")
    docs = [process(PDF, "one.pdf"), process(b"plain words", "two.txt")]
    form = album_form(visitor(), {"title": "Trip", "cover": [cover], "documents": ["", *docs]})
    assert form.is_valid(), form.errors

    album = form.save()

    # The ImageField's own storage (memory) and upload_to ("covers/") apply.
    assert album.cover.name == "covers/cover.png"
    with memory.open("covers/cover.png") as f:
        assert f.read() == tiny_png()
    assert not get_permanent_storage().exists("covers/cover.png")
    # The documents are StoredUploads under the field's upload_to, in the permanent store.
    names = sorted(row.original_name for row in album.documents.all())
    assert names == ["one.pdf", "two.txt"]
    assert sorted(row.file.name for row in album.documents.all()) == [
        "albums/one.pdf",
        "albums/two.txt",
    ]
    assert (upload_dirs["media"] / "albums" / "one.pdf").read_bytes() == PDF
    # Stored means gone from the temporary area.
    assert not TemporaryUpload.objects.filter(pk__in=[cover, *docs]).exists()


def test_a_failed_store_leaves_no_file_and_no_row(
    visitor: Any, process: Any, memory: Any, upload_dirs: Any
) -> None:
    cover = process(tiny_png(), "cover.png")
    first, second = process(PDF, "one.pdf"), process(PDF, "two.pdf")
    form = album_form(visitor(), {"title": "Trip", "cover": [cover], "documents": [first, second]})
    assert form.is_valid(), form.errors
    # The visitor reverts one upload in another tab after the form was validated.
    TemporaryUpload.objects.filter(pk=second).delete()

    with pytest.raises(Exception, match="No temporary upload has the id"):
        form.save()

    assert not Album.objects.exists()
    assert not StoredUpload.objects.exists()
    assert not memory.exists("covers/cover.png")
    assert not (upload_dirs["media"] / "albums" / "one.pdf").exists()
    # Nothing was used up: the remaining uploads can still be stored.
    assert set(TemporaryUpload.objects.values_list("pk", flat=True)) == {cover, first}


def test_a_failed_model_save_leaves_no_file(
    visitor: Any, process: Any, memory: Any, upload_dirs: Any
) -> None:
    cover = process(tiny_png(), "cover.png")
    doc = process(PDF, "one.pdf")
    form = album_form(visitor(), {"title": "Trip", "cover": [cover], "documents": [doc]})
    assert form.is_valid(), form.errors

    def refuse(**kwargs: Any) -> None:
        raise IntegrityError("the database refused the row")

    pre_save.connect(refuse, sender=Album)
    try:
        with pytest.raises(IntegrityError):
            form.save()
    finally:
        pre_save.disconnect(refuse, sender=Album)

    assert not Album.objects.exists()
    assert not memory.exists("covers/cover.png")
    assert not StoredUpload.objects.exists()
    assert set(TemporaryUpload.objects.values_list("pk", flat=True)) == {cover, doc}


def test_a_file_a_failed_save_cannot_remove_is_reported(
    visitor: Any, process: Any, memory: Any, monkeypatch: Any, caplog: Any
) -> None:
    cover = process(tiny_png(), "cover.png")
    form = album_form(visitor(), {"title": "Trip", "cover": [cover]})
    assert form.is_valid(), form.errors

    def refuse(**kwargs: Any) -> None:
        raise IntegrityError("the database refused the row")

    def cannot_delete(name: str) -> None:
        raise PermissionError("read-only")

    monkeypatch.setattr(memory, "delete", cannot_delete)
    pre_save.connect(refuse, sender=Album)
    try:
        with pytest.raises(IntegrityError) as caught:
            form.save()
    finally:
        pre_save.disconnect(refuse, sender=Album)
    (note,) = caught.value.__notes__
    assert "'covers/cover.png'" in note and "left behind" in note
    assert note in caplog.text


def test_save_commit_false_stores_in_save_m2m(visitor: Any, process: Any, memory: Any) -> None:
    cover = process(tiny_png(), "cover.png")
    doc = process(PDF, "one.pdf")
    form = album_form(visitor(), {"title": "Later", "cover": [cover], "documents": [doc]})
    assert form.is_valid(), form.errors
    album = form.save(commit=False)
    assert not memory.exists("covers/cover.png")
    album.title = "Set by the view"
    album.save()
    form.save_m2m()

    album.refresh_from_db()
    assert (album.title, album.cover.name) == ("Set by the view", "covers/cover.png")
    assert [row.original_name for row in album.documents.all()] == ["one.pdf"]


# --- round trips ----------------------------------------------------------------------------


def test_an_error_elsewhere_gives_the_uploads_back_as_limbo(visitor: Any, process: Any) -> None:
    cover = process(tiny_png(), "cover.png")
    doc = process(PDF, "one.pdf")
    stranger = Client().post("/fp/", {"filepond": ["{}", _file("x.pdf", PDF)]}).content.decode()
    form = album_form(visitor(), {"title": "", "cover": [cover], "documents": [doc, stranger]})
    assert not form.is_valid()

    rendered = form.as_p()
    assert config_of(rendered, "cover")["options"]["files"] == [
        {"source": cover, "options": {"type": "limbo"}}
    ]
    # Someone else's id is never offered back.
    assert config_of(rendered, "documents")["options"]["files"] == [
        {"source": doc, "options": {"type": "limbo"}}
    ]


def saved_album(visitor: Any, process: Any) -> Album:
    form = album_form(
        visitor(),
        {
            "title": "Trip",
            "cover": [process(tiny_png(), "cover.png")],
            "documents": [process(PDF, "one.pdf"), process(PDF, "two.pdf")],
        },
    )
    assert form.is_valid(), form.errors
    return form.save()


def test_the_edit_form_shows_stored_files_as_local_and_load_serves_them(
    visitor: Any, process: Any, client: Client, memory: Any
) -> None:
    album = saved_album(visitor, process)
    rendered = AlbumForm(instance=album, request=visitor()).as_p()

    (cover,) = config_of(rendered, "cover")["options"]["files"]
    assert cover["options"] == {"type": "local"}
    loaded = client.get("/fp/", {"load": cover["source"]})
    assert loaded.status_code == 200
    assert body_of(loaded) == tiny_png()
    assert loaded["Content-Type"] == "image/png"
    assert 'filename="cover.png"' in loaded["Content-Disposition"]
    # The per-endpoint layout too.
    assert body_of(client.get("/fp/load/", {"id": cover["source"]})) == tiny_png()

    documents = config_of(rendered, "documents")["options"]["files"]
    rows = {str(row.pk): row for row in album.documents.all()}
    assert sorted(item["source"] for item in documents) == sorted(rows)
    assert {item["options"]["type"] for item in documents} == {"local"}


@pytest.mark.parametrize(
    "source",
    [
        "f:not-signed",
        "f:" + "eyJ" + "x" * 40,
    ],
)
def test_load_refuses_a_forged_source(client: Client, source: str) -> None:
    response = client.get("/fp/", {"load": source})
    assert response.status_code == 404


def test_load_refuses_a_tampered_or_expired_source(
    visitor: Any, process: Any, client: Client, settings: Any
) -> None:
    from django_filepond_server.local_files import sign_model_file

    album = saved_album(visitor, process)
    good = sign_model_file(Album._meta.get_field("cover"), album.cover.name)
    # The signature covers the name: another file of the storage cannot be asked for.
    forged = sign_model_file(Album._meta.get_field("cover"), album.cover.name)[:-3] + "abc"
    assert client.get("/fp/", {"load": forged}).status_code == 404
    settings.FILEPOND_SERVER_TEMPORARY_LIFETIME = -1
    assert client.get("/fp/", {"load": good}).status_code == 404


def test_removing_a_file_detaches_it_on_save_and_a_revert_deletes_nothing(
    visitor: Any, process: Any, client: Client, memory: Any
) -> None:
    album = saved_album(visitor, process)
    before = AlbumForm(instance=album, request=visitor())
    rendered = before.as_p()
    cover_source = config_of(rendered, "cover")["options"]["files"][0]["source"]
    kept, dropped = sorted(album.documents.all(), key=lambda row: row.original_name)

    # What FilePond may send for a removed local item: a revert with its source.
    for source in (cover_source, dropped.pk):
        client.delete("/fp/", source, content_type="text/plain")
    assert memory.exists("covers/cover.png")
    assert StoredUpload.objects.filter(pk=dropped.pk).exists()

    new = process(PDF, "three.pdf")
    form = album_form(
        visitor(),
        {"title": "Trip", "cover": [], "documents": [kept.pk, new]},
        instance=album,
    )
    assert form.is_valid(), form.errors
    assert form.has_changed()
    form.save()

    album.refresh_from_db()
    assert album.cover.name == ""
    assert sorted(row.original_name for row in album.documents.all()) == ["one.pdf", "three.pdf"]
    # Detached, not deleted (the field's delete_removed is off).
    assert memory.exists("covers/cover.png")
    assert StoredUpload.objects.filter(pk=dropped.pk).exists()


def test_delete_removed_deletes_replaced_files_once_saved(
    visitor: Any,
    process: Any,
    memory: Any,
    upload_dirs: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    class DeletingAlbumForm(AlbumForm):
        cover = FilePondField(required=False, delete_removed=True)
        documents = FilePondMultipleField(required=False, upload_to="albums/", delete_removed=True)

    album = saved_album(visitor, process)
    kept, dropped = sorted(album.documents.all(), key=lambda row: row.original_name)
    form = DeletingAlbumForm(
        {"title": "Trip", "cover": [process(tiny_png(), "new.png")], "documents": [kept.pk]},
        instance=album,
        request=visitor(),
    )
    assert form.is_valid(), form.errors
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        form.save()
    # Nothing is deleted before the transaction commits.
    assert memory.exists("covers/cover.png")
    assert (upload_dirs["media"] / "albums" / "two.pdf").exists()
    for callback in callbacks:
        callback()

    album.refresh_from_db()
    assert album.cover.name == "covers/new.png"
    assert not memory.exists("covers/cover.png")
    assert not StoredUpload.objects.filter(pk=dropped.pk).exists()
    assert not (upload_dirs["media"] / "albums" / "two.pdf").exists()
    assert (upload_dirs["media"] / "albums" / "one.pdf").exists()


def test_an_unchanged_edit_keeps_everything(visitor: Any, process: Any) -> None:
    album = saved_album(visitor, process)
    rendered = AlbumForm(instance=album, request=visitor()).as_p()
    submitted = {
        "title": "Trip",
        "cover": [item["source"] for item in config_of(rendered, "cover")["options"]["files"]],
        "documents": [
            item["source"] for item in config_of(rendered, "documents")["options"]["files"]
        ],
    }
    form = album_form(visitor(), submitted, instance=album)
    assert form.is_valid(), form.errors
    assert form.changed_data == []
    form.save()
    album.refresh_from_db()
    assert album.cover.name == "covers/cover.png"
    assert album.documents.count() == 2


def test_a_stored_upload_of_another_album_cannot_be_attached(visitor: Any, process: Any) -> None:
    other = saved_album(visitor, process)
    theirs = other.documents.first()
    form = album_form(visitor(), {"title": "Mine", "documents": [theirs.pk]})
    assert refusal(form, "documents") == ["unknown"]


# --- the widget ----------------------------------------------------------------------------


def test_the_widget_configures_filepond_for_this_server(visitor: Any, settings: Any) -> None:
    settings.FILEPOND_SERVER_MAX_CHUNK_SIZE = 2_000_000
    request = visitor()
    config = config_of(AlbumForm(request=request).as_p(), "documents")

    options = config["options"]
    assert options["server"]["url"] == "/fp/"
    token = options["server"]["headers"]["X-CSRFToken"]
    assert _unmask_cipher_token(token) == request.META["CSRF_COOKIE"]
    assert options["chunkUploads"] is True
    assert options["chunkSize"] == 2_000_000
    assert options["allowMultiple"] is True
    assert options["maxFiles"] == 3
    assert options["maxFileSize"] == 2 * 1024 * 1024 * 1024  # FILEPOND_SERVER_MAX_UPLOAD_SIZE
    assert config["locale"] is None  # English: FilePond's own labels

    cover = config_of(AlbumForm(request=request).as_p(), "cover")["options"]
    assert cover["acceptedFileTypes"] == ["image/png", "image/jpeg"]
    assert cover["allowMultiple"] is False


def test_extra_options_pass_through_and_rules_come_from_the_settings(
    visitor: Any, settings: Any
) -> None:
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"photos": {"max_size": 1234, "types": ["image/*"]}}

    class PhotosForm(FilePondForm):
        photos = FilePondMultipleField(
            rules="photos", options={"maxParallelUploads": 1, "chunkSize": 500_000}
        )

    options = config_of(PhotosForm(request=visitor()).as_p(), "photos")["options"]
    assert options["maxParallelUploads"] == 1
    assert options["chunkSize"] == 500_000
    assert options["maxFileSize"] == 1234
    assert options["acceptedFileTypes"] == ["image/*"]


@pytest.mark.parametrize(
    ("language", "module"),
    [("de", "de-de"), ("pt-br", "pt-br"), ("fr-ca", "fr-fr"), ("zh-hans", "zh-cn"), ("en", None)],
)
def test_labels_come_from_fileponds_locale_of_the_active_language(
    visitor: Any, language: str, module: str | None
) -> None:
    with translation.override(language):
        config = config_of(AlbumForm(request=visitor()).as_p(), "cover")
    expected = None if module is None else f"/static/filepond/locale/{module}.js"
    assert config["locale"] == expected


def test_the_media_loads_filepond_from_the_settings(settings: Any) -> None:
    settings.FILEPOND_SERVER_WIDGET_JS = [
        {
            "src": "https://cdn.jsdelivr.net/npm/filepond@4.32.12/dist/filepond.min.js",
            "integrity": "sha384-abc",
            "crossorigin": "anonymous",
        },
        "js/plugin.js",
    ]
    settings.FILEPOND_SERVER_WIDGET_CSS = ["/assets/filepond.css"]
    media = str(AlbumForm.base_fields["cover"].widget.media)
    assert (
        '<script src="https://cdn.jsdelivr.net/npm/filepond@4.32.12/dist/filepond.min.js" '
        'integrity="sha384-abc" crossorigin="anonymous"></script>'
    ) in media
    assert '<script src="/static/js/plugin.js"></script>' in media
    assert media.index("filepond.min.js") < media.index("plugin.js")
    assert media.rstrip().endswith(
        '<script src="/static/django_filepond_server/filepond-widget.js"></script>'
    )
    assert '<link href="/assets/filepond.css" media="all" rel="stylesheet">' in media


def test_csrf_in_the_session_works_with_the_rendered_token(settings: Any) -> None:
    from django.contrib.auth.models import User

    settings.CSRF_USE_SESSIONS = True
    settings.ROOT_URLCONF = "tests.formsapp.urls"
    User.objects.create_user("ada", password="pw")
    client = Client(enforce_csrf_checks=True)
    client.login(username="ada", password="pw")
    page = client.get("/albums/new/").content.decode()
    token = config_of(page, "cover")["options"]["server"]["headers"]["X-CSRFToken"]
    assert "csrftoken" not in client.cookies

    upload = {"filepond": ["{}", _file("a.pdf", PDF)]}
    assert client.post("/fp/", upload).status_code == 403  # DRF checks CSRF for users
    response = client.post("/fp/", upload, headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.content
    upload_id = response.content.decode()
    saved = client.post(
        "/albums/new/",
        {"title": "Mine", "documents": [upload_id], "csrfmiddlewaretoken": token},
    )
    assert saved.status_code == 302
    assert Album.objects.get().documents.get().original_name == "a.pdf"


def test_the_documented_cdn_hashes_are_those_of_the_pinned_npm_packages() -> None:
    import base64
    import hashlib
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    text = (repo / "docs" / "forms.rst").read_text() + (repo / "docs" / "settings.rst").read_text()
    found = re.findall(
        r'"(?:src|href)": "https://cdn\.jsdelivr\.net/npm/([\w-]+)@([\d.]+)/([^"]+)",\s*'
        r'"integrity": "(sha384-[^"]+)"',
        text,
    )
    assert len(found) >= 5
    for package, version, path, integrity in found:
        folder = repo / "demo" / "node_modules" / package
        assert json.loads((folder / "package.json").read_text())["version"] == version
        digest = hashlib.sha384((folder / path).read_bytes()).digest()
        assert integrity == "sha384-" + base64.b64encode(digest).decode(), path


def test_one_upload_submitted_in_two_fields_is_refused(visitor: Any, process: Any) -> None:
    class TwoPondsForm(FilePondForm):
        first = FilePondField()
        second = FilePondMultipleField()

    both = process(PDF, "both.pdf")
    form = TwoPondsForm({"first": [both], "second": [both]}, request=visitor())
    assert refusal(form, "first") == ["duplicate"]
    assert refusal(form, "second") == ["duplicate"]

    class AnyDocumentsAlbumForm(AlbumForm):
        documents = FilePondMultipleField(required=False)

    cover = process(tiny_png(), "cover.png")
    data = {"title": "a", "cover": [cover], "documents": [cover]}
    form = AnyDocumentsAlbumForm(data, request=visitor())
    assert refusal(form, "cover") == ["duplicate"]
    assert refusal(form, "documents") == ["duplicate"]


# --- edges ---------------------------------------------------------------------------------


def test_submitted_values_drop_blanks_and_repeats() -> None:
    from django_filepond_server.forms.checking import submitted_values

    assert submitted_values(None) == []
    assert submitted_values("abc") == ["abc"]
    assert submitted_values(["b", "", "a", "b"]) == ["b", "a"]


def test_a_field_cleaned_outside_a_form_says_it_needs_the_request() -> None:
    with pytest.raises(ImproperlyConfigured, match="cleaned without the request"):
        FilePondField().clean(["A" * 22])


def test_a_widget_rendered_outside_a_form_says_it_needs_the_request() -> None:
    from django_filepond_server.forms import FilePondWidget

    with pytest.raises(ImproperlyConfigured, match="rendered without the request"):
        FilePondWidget().render("file", [])


def test_the_widget_reads_plain_dicts_and_never_counts_as_omitted() -> None:
    from django_filepond_server.forms import FilePondWidget

    widget = FilePondWidget()
    assert widget.value_from_datadict({"f": "abc"}, {}, "f") == ["abc"]
    assert widget.value_from_datadict({"f": ["a", "b"]}, {}, "f") == ["a", "b"]
    assert widget.value_from_datadict({}, {}, "f") == []
    assert widget.value_omitted_from_data({}, {}, "f") is False


def test_required_fields_and_disabled_fields(visitor: Any) -> None:
    class RequiredForm(FilePondForm):
        one = FilePondField()
        several = FilePondMultipleField()
        fixed = FilePondMultipleField(disabled=True, required=False)

    form = RequiredForm({"one": [], "several": [""], "fixed": ["A" * 22]}, request=visitor())
    assert refusal(form, "one") == ["required"]
    assert refusal(form, "several") == ["required"]
    assert "fixed" not in form.errors and "fixed" not in form.changed_data


def test_stored_upload_ids_as_initial_files_of_a_plain_form(visitor: Any, process: Any) -> None:
    from django_filepond_server.api import store_upload

    request = visitor()
    stored = store_upload(process(PDF, "kept.pdf"), "kept/", request=request)

    class AttachmentsForm(FilePondForm):
        attachments = FilePondMultipleField()

    unbound = AttachmentsForm(initial={"attachments": [stored.pk]}, request=request)
    files = config_of(unbound.as_p(), "attachments")["options"]["files"]
    assert files == [{"source": stored.pk, "options": {"type": "local"}}]
    form = AttachmentsForm(
        {"attachments": [stored.pk]}, initial={"attachments": [stored.pk]}, request=request
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["attachments"].kept == [stored.pk]
    assert not form.has_changed()


def test_a_forged_source_for_the_kept_cover_is_refused(visitor: Any, process: Any) -> None:
    album = saved_album(visitor, process)
    form = album_form(visitor(), {"title": "Trip", "cover": ["f:forged"]}, instance=album)
    assert refusal(form, "cover") == ["unknown"]


def test_an_edit_with_an_error_shows_the_kept_files_as_local_again(
    visitor: Any, process: Any
) -> None:
    album = saved_album(visitor, process)
    sources = config_of(AlbumForm(instance=album, request=visitor()).as_p(), "documents")
    kept = sources["options"]["files"][0]["source"]
    new = process(PDF, "three.pdf")
    form = album_form(visitor(), {"title": "", "documents": [kept, new]}, instance=album)
    assert not form.is_valid()
    files = config_of(form.as_p(), "documents")["options"]["files"]
    assert files == [
        {"source": kept, "options": {"type": "local"}},
        {"source": new, "options": {"type": "limbo"}},
    ]


def test_a_form_field_without_a_model_field_is_left_to_the_form(visitor: Any, process: Any) -> None:
    class AlbumWithExtraForm(AlbumForm):
        extra = FilePondMultipleField(required=False)

    upload_id = process(PDF, "extra.pdf")
    form = AlbumWithExtraForm({"title": "x", "extra": [upload_id]}, request=visitor())
    assert form.is_valid(), form.errors
    form.save()
    assert [u.upload_id for u in form.cleaned_data["extra"].new] == [upload_id]
    assert TemporaryUpload.objects.filter(pk=upload_id).exists()  # not stored by save()


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("documents", r"Album\.documents should be a FileField or ImageField for a FilePondField"),
        ("cover", r"Album\.cover should be a ManyToManyField to StoredUpload"),
    ],
)
def test_a_field_on_the_wrong_kind_of_model_field_fails_at_once(
    visitor: Any, field: str, message: str
) -> None:
    kind = FilePondField if field == "documents" else FilePondMultipleField
    form_class = type("WrongForm", (AlbumForm,), {field: kind(required=False)})
    with pytest.raises(ImproperlyConfigured, match=message):
        form_class(request=visitor())


def test_load_answers_404_for_a_missing_file_and_503_for_a_failing_storage(
    client: Client, memory: Any, monkeypatch: Any
) -> None:
    from django.core import signing

    from django_filepond_server.local_files import PREFIX, SALT, sign_model_file

    field = Album._meta.get_field("cover")
    assert (
        client.get("/fp/", {"load": sign_model_file(field, "covers/gone.png")}).status_code == 404
    )
    not_a_file = PREFIX + signing.dumps(["formsapp.album", "title", "x"], salt=SALT)
    assert client.get("/fp/", {"load": not_a_file}).status_code == 404

    memory.save("covers/here.png", ContentFile(tiny_png()))

    def broken(name: str) -> int:
        raise ConnectionError("the storage is down")

    monkeypatch.setattr(memory, "size", broken)
    response = client.get("/fp/", {"load": sign_model_file(field, "covers/here.png")})
    assert response.status_code == 503


def test_a_custom_csrf_header_and_style_sheets_with_attributes(visitor: Any, settings: Any) -> None:
    settings.CSRF_HEADER_NAME = "HTTP_X_XSRF_TOKEN"
    settings.FILEPOND_SERVER_WIDGET_CSS = [{"href": "https://cdn.example/fp.css", "integrity": "x"}]
    form = AlbumForm(request=visitor())
    assert "X-XSRF-TOKEN" in config_of(form.as_p(), "cover")["options"]["server"]["headers"]
    assert '<link rel="stylesheet" href="https://cdn.example/fp.css" integrity="x">' in str(
        form.media
    )


def test_the_admin_mixin_leaves_other_forms_alone(visitor: Any) -> None:
    from django_filepond_server.forms.admin import with_request

    assert with_request(forms.Form, visitor()) is forms.Form


def test_formsets_pass_the_request_with_form_kwargs(visitor: Any, process: Any) -> None:
    from django.forms import inlineformset_factory

    from tests.formsapp.forms import PhotoForm
    from tests.formsapp.models import Photo

    album = Album.objects.create(title="Inline")
    PhotoFormSet = inlineformset_factory(Album, Photo, form=PhotoForm, extra=2)
    data = {
        "photos-TOTAL_FORMS": "2",
        "photos-INITIAL_FORMS": "0",
        "photos-0-caption": "one",
        "photos-0-image": [process(tiny_png(), "one.png")],
    }
    formset = PhotoFormSet(data, instance=album, form_kwargs={"request": visitor()})
    assert formset.is_valid(), formset.errors  # the untouched second row is skipped
    (photo,) = formset.save()
    assert photo.image.name == "photos/one.png"
    with pytest.raises(TypeError, match="needs request=request"):
        PhotoFormSet(data, instance=album).forms  # noqa: B018


def test_load_of_a_signed_source_follows_the_load_permissions(
    visitor: Any, process: Any, client: Client, settings: Any
) -> None:
    from django_filepond_server.local_files import sign_model_file

    album = saved_album(visitor, process)
    source = sign_model_file(Album._meta.get_field("cover"), album.cover.name)
    settings.FILEPOND_SERVER_PERMISSION_CLASSES = {
        "GET_LOAD": ["rest_framework.permissions.IsAdminUser"]
    }
    assert client.get("/fp/", {"load": source}).status_code == 403


# --- other transports ---------------------------------------------------------------------


def test_a_field_sends_files_through_the_transport_it_names(visitor: Any, monkeypatch: Any) -> None:
    from django_filepond_server.forms import widgets

    monkeypatch.setitem(widgets.TRANSPORTS, "pigeon", lambda: ["pigeon/coop.js"])

    class PigeonForm(FilePondForm):
        plain = FilePondField(required=False)
        carried = FilePondField(required=False, transport="pigeon")

    form = PigeonForm(request=visitor())
    rendered = form.as_p()
    assert config_of(rendered, "carried")["transport"] == "pigeon"
    assert config_of(rendered, "plain")["transport"] is None
    scripts = [str(script) for script in form.media._js]
    # The transport registers itself before the widget's script sets the ponds up.
    assert scripts.index("pigeon/coop.js") < scripts.index(widgets.WIDGET_SCRIPT)


def test_an_unknown_transport_is_refused_at_once() -> None:
    with pytest.raises(ImproperlyConfigured, match="transport='pigeon' is not a way"):
        FilePondField(transport="pigeon")
