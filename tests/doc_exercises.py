"""What the documentation's code samples are for, done with real requests and uploads.

A sample that defines a function, a class or any other name that is not a setting is run by
``tests/test_docs.py`` and then handed to the exercise registered for it here: the view is
mounted and requested, the permission guards a real load, the receiver sees a real upload.
An exercise is registered under the page and the names the sample defines, so a sample that
changes what it defines needs its exercise updated.
"""

from __future__ import annotations

import base64
import errno
import io
import itertools
import json
import logging
import os
import sys
import types
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.utils import timezone
from django.utils.html import escape
from rest_framework.throttling import SimpleRateThrottle

from django_filepond_server import api
from django_filepond_server.exceptions import UploadNotOwned, UploadRejected
from django_filepond_server.models import StoredUpload, TemporaryUpload
from django_filepond_server.signals import upload_completed, upload_stored
from tests.conftest import StreamReadingClient
from tests.helpers import body_of, tiny_png

Exercise = Callable[[Any, "Context"], None]
EXERCISES: dict[tuple[str, tuple[str, ...]], Exercise] = {}

PDF = b"%PDF-1.4\n% a small document\n"
_urlconf_numbers = itertools.count()


def exercise(page: str, *names: str) -> Callable[[Exercise], Exercise]:
    def register(function: Exercise) -> Exercise:
        EXERCISES[(page, tuple(sorted(names)))] = function
        return function

    return register


@dataclass
class Context:
    """The fixtures an exercise works with; ``client`` is the visitor who uploads."""

    client: Any
    process: Callable[..., str]
    start_chunked: Callable[..., str]
    patch: Callable[..., Any]
    settings: Any
    monkeypatch: Any
    media: Path
    tmp_path: Path
    caplog: Any
    on_commit: Any  # django_capture_on_commit_callbacks

    def mount(self, urlpatterns: list[Any] | None = None, **views: Callable[..., Any]) -> None:
        """Serve ``views`` at ``/<name>/`` (and the FilePond endpoints at ``/fp/``), or the
        sample's own ``urlpatterns``."""
        name = f"tests.doc_exercise_urls_{next(_urlconf_numbers)}"
        module = types.ModuleType(name)
        module.urlpatterns = urlpatterns or [  # type: ignore[attr-defined]
            path("fp/", include("django_filepond_server.urls")),
            *(path(f"{route}/", view) for route, view in views.items()),
            *(path(f"{route}/<str:upload_id>", view) for route, view in views.items()),
        ]
        self.monkeypatch.setitem(sys.modules, name, module)
        self.settings.ROOT_URLCONF = name

    def call_in_request(self, function: Callable[..., Any], *args: Any, **post: Any) -> Any:
        """``function(request, *args)`` inside a real POST of this visitor, with ``post``
        as the form data; returns what it returned (or raised)."""
        outcome: dict[str, Any] = {}

        def view(request: HttpRequest) -> HttpResponse:
            try:
                outcome["value"] = function(request, *args)
            except Exception as exc:  # handed back to the exercise
                outcome["error"] = exc
            return HttpResponse(status=204)

        self.mount(call=view)
        assert self.client.post("/call/", post).status_code == 204
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def other_visitor_upload(self, content: bytes = PDF, name: str = "theirs.pdf") -> str:
        other = StreamReadingClient()
        response = other.post("/fp/", {"filepond": ["{}", SimpleUploadedFile(name, content)]})
        assert response.status_code == 200, response.content
        return response.content.decode()

    def unfinished_upload(self) -> str:
        upload_id = self.start_chunked(10)
        assert self.patch(upload_id, b"12345", 0, 10).status_code == 204
        return upload_id

    def refused_upload(self, rules: dict[str, Any]) -> str:
        """A chunked upload refused by ``rules`` when it completed (its row stays)."""
        self.settings.FILEPOND_SERVER_UPLOAD_RULES = rules
        upload_id = self.start_chunked(4)
        assert self.patch(upload_id, b"text", 0, 4, name="notes.exe").status_code == 415
        del self.settings.FILEPOND_SERVER_UPLOAD_RULES
        return upload_id


def stored_names() -> list[str]:
    return sorted(str(name) for name in StoredUpload.objects.values_list("file", flat=True))


# --- api.rst ------------------------------------------------------------------------------------


@exercise("api.rst", "save_documents")
def _save_documents(sample: Any, ctx: Context) -> None:
    first = ctx.process(PDF, name="one.pdf")
    second = ctx.process(b"two", name="two.txt")
    ctx.mount(save=sample.save_documents)
    response = ctx.client.post("/save/", {"filepond": [first, "", second]})
    assert response.status_code == 302 and response["Location"] == "/documents/"
    assert stored_names() == ["documents/one.pdf", "documents/two.txt"]
    assert (ctx.media / "documents" / "one.pdf").read_bytes() == PDF

    # Someone else's upload among the ids: a 400 naming the problem, and nothing stored.
    mine = ctx.process(b"mine", name="mine.txt")
    theirs = ctx.other_visitor_upload()
    response = ctx.client.post("/save/", {"filepond": [mine, theirs]})
    assert response.status_code == 400
    assert response.content.decode() == (
        "A file could not be saved: "
        f"Upload {theirs!r} does not belong to the user or session of this request."
    )
    assert stored_names() == ["documents/one.pdf", "documents/two.txt"]
    assert TemporaryUpload.objects.filter(pk__in=[mine, theirs]).count() == 2


@exercise("api.rst", "store_invoice")
def _store_invoice(sample: Any, ctx: Context) -> None:
    ctx.settings.FILEPOND_SERVER_UPLOAD_RULES = {
        "invoice": {"types": ["application/pdf"], "extensions": [".pdf"]}
    }
    invoice = ctx.process(PDF, name="march.pdf")
    stored = ctx.call_in_request(sample.store_invoice, invoice, 42)
    assert isinstance(stored, StoredUpload)
    assert stored.file.name == "invoices/42/march.pdf"
    assert (ctx.media / "invoices" / "42" / "march.pdf").read_bytes() == PDF

    not_a_pdf = ctx.process(b"plain text", name="march.txt")
    unfinished = ctx.unfinished_upload()
    theirs = ctx.other_visitor_upload()
    for upload_id in (not_a_pdf, unfinished, theirs, "N0SuchUpload0000000000"):
        assert ctx.call_in_request(sample.store_invoice, upload_id, 42) is None, upload_id
    assert stored_names() == ["invoices/42/march.pdf"]


@exercise("api.rst", "forget_attachment")
def _forget_attachment(sample: Any, ctx: Context) -> None:
    stored = api.store_upload(ctx.process(b"attached", name="a.txt"), "attachments/")
    file = ctx.media / stored.file.name

    # The caller's transaction fails: nothing is deleted.
    with ctx.on_commit(execute=True) as callbacks:
        try:
            with transaction.atomic():
                sample.forget_attachment(stored.upload_id)
                raise RuntimeError("the caller's own save failed")
        except RuntimeError:
            pass
    assert callbacks == []
    assert StoredUpload.objects.filter(pk=stored.upload_id).exists() and file.exists()

    # It commits: the row and the file go, and only then.
    with ctx.on_commit(execute=True) as callbacks, transaction.atomic():
        sample.forget_attachment(stored.upload_id)
        assert StoredUpload.objects.filter(pk=stored.upload_id).exists() and file.exists()
    assert len(callbacks) == 1
    assert not StoredUpload.objects.filter(pk=stored.upload_id).exists()
    assert not file.exists()


@exercise("api.rst", "download")
def _download(sample: Any, ctx: Context) -> None:
    upload_id = ctx.process(PDF, name="résumé.pdf")
    api.store_upload(upload_id, "cv/")
    ctx.mount(download=sample.download)
    response = ctx.client.get(f"/download/{upload_id}")
    assert response.status_code == 200
    assert body_of(response) == PDF
    assert response["Content-Disposition"] == ("attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf")
    assert ctx.client.get("/download/N0SuchUpload0000000000").status_code == 404


# --- commands.rst -------------------------------------------------------------------------------


@exercise("commands.rst", "clean_temporary_uploads")
def _clean_temporary_uploads(sample: Any, ctx: Context) -> None:
    expired = ctx.process(b"old")
    fresh = ctx.process(b"new")
    then = timezone.now() - timedelta(days=2)
    TemporaryUpload.objects.filter(pk=expired).update(created=then, updated=then)
    assert sample.clean_temporary_uploads() == 1
    assert list(TemporaryUpload.objects.values_list("pk", flat=True)) == [fresh]


# --- lifecycle.rst ------------------------------------------------------------------------------


@exercise("lifecycle.rst", "log_completed", "log_stored", "logger")
def _log_receivers(sample: Any, ctx: Context) -> None:
    try:
        with ctx.caplog.at_level(logging.INFO, logger=sample.logger.name):
            with ctx.on_commit(execute=True):
                upload_id = ctx.process(b"hello world", name="hello.txt")
            with ctx.on_commit(execute=True):
                api.store_upload(upload_id, "logged/")
        assert [r.getMessage() for r in ctx.caplog.records if r.name == sample.logger.name] == [
            f"Upload {upload_id} is complete: text/plain, 11 bytes.",
            f"Upload {upload_id} was stored as logged/hello.txt.",
        ]
    finally:
        upload_completed.disconnect(sample.log_completed)
        upload_stored.disconnect(sample.log_stored)


@exercise("lifecycle.rst", "UploadRateThrottle")
def _upload_rate_throttle(sample: Any, ctx: Context) -> None:
    # DRF reads DEFAULT_THROTTLE_RATES into the class when it is imported, so a project sets
    # the rate in its settings; here it is put where DRF keeps it.
    ctx.monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"filepond_upload": "2/hour"})
    cache.clear()
    ctx.settings.FILEPOND_SERVER_THROTTLE_CLASSES = {"POST_PROCESS": [sample.UploadRateThrottle]}
    ctx.client.force_login(User.objects.create_user("ada"))
    ctx.process(b"1")
    ctx.process(b"2")
    response = ctx.client.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("3.txt", b"3")]})
    assert response.status_code == 429
    # The rate is per user: another one still uploads.
    ctx.client.force_login(User.objects.create_user("grace"))
    ctx.process(b"4")
    cache.clear()


# --- migrating.rst ------------------------------------------------------------------------------


@exercise("migrating.rst", "stored_bytes")
def _stored_bytes(sample: Any, ctx: Context) -> None:
    content = os.urandom(100_000)
    upload_id = ctx.process(content, name="data.bin")
    api.store_upload(upload_id, "m/")
    assert sample.stored_bytes(upload_id) == content


@exercise("migrating.rst", "urlpatterns")
@exercise("installation.rst", "urlpatterns")
def _urlpatterns(sample: Any, ctx: Context) -> None:
    ctx.mount(urlpatterns=sample.urlpatterns)
    upload_id = ctx.process(b"through the sample's URLconf")
    assert body_of(ctx.client.get(f"/fp/restore/{upload_id}")) == b"through the sample's URLconf"
    assert body_of(ctx.client.get(f"/fp/?restore={upload_id}")) == b"through the sample's URLconf"


# --- quickstart.rst -----------------------------------------------------------------------------

NEW_DOCUMENT_TEMPLATE = (
    "{{ form.non_field_errors }}{{ form.title.errors }}"
    "{{ filepond_files|json_script:'filepond-files' }}"
)


@exercise("quickstart.rst", "DocumentForm", "FILEPOND_FIELD", "limbo_files", "new_document")
def _new_document(sample: Any, ctx: Context) -> None:
    ctx.settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                "loaders": [
                    (
                        "django.template.loaders.locmem.Loader",
                        {"documents/new.html": NEW_DOCUMENT_TEMPLATE},
                    )
                ]
            },
        }
    ]
    ctx.mount(new=sample.new_document)

    def shown_files(response: Any) -> list[dict[str, Any]]:
        assert response.status_code == 200, response.content
        page = response.content.decode()
        start = page.index('<script id="filepond-files" type="application/json">')
        text = page[page.index(">", start) + 1 : page.index("</script>", start)]
        return json.loads(text)  # type: ignore[no-any-return]

    assert shown_files(ctx.client.get("/new/")) == []

    # An invalid form shows the finished uploads again as limbo files (not the unfinished).
    finished = ctx.process(PDF, name="report.pdf")
    unfinished = ctx.unfinished_upload()
    response = ctx.client.post("/new/", {"title": "", "filepond": [finished, unfinished, ""]})
    assert shown_files(response) == [{"source": finished, "options": {"type": "limbo"}}]
    assert "This field is required." in response.content.decode()
    assert not StoredUpload.objects.exists()

    # A file still uploading, a refused one, a storage failure: the form says so.
    response = ctx.client.post("/new/", {"title": "Q3", "filepond": [finished, unfinished]})
    assert "A file has expired or is still uploading; add it again." in response.content.decode()
    refused = ctx.refused_upload({"default": {"extensions": [".pdf"]}})
    response = ctx.client.post("/new/", {"title": "Q3", "filepond": [refused]})
    assert escape(TemporaryUpload.objects.get(pk=refused).rejected) in response.content.decode()

    def no_links(source: str, target: str) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    with ctx.monkeypatch.context() as patched:
        patched.setattr(os, "link", no_links)
        response = ctx.client.post("/new/", {"title": "Q3", "filepond": [finished]})
    assert "The files cannot be saved right now; try again later." in response.content.decode()
    assert not StoredUpload.objects.exists()

    # A valid form stores every submitted upload.
    second = ctx.process(b"notes", name="notes.txt")
    response = ctx.client.post("/new/", {"title": "Q3", "filepond": [finished, second]})
    assert response.status_code == 302 and response["Location"] == "/documents/"
    assert stored_names() == ["documents/notes.txt", "documents/report.pdf"]


@exercise("quickstart.rst", "local_files")
def _local_files(sample: Any, ctx: Context) -> None:
    contents = {"a.txt": b"first", "b.txt": b"second"}
    stored = [
        api.store_upload(ctx.process(body, name=name), "l/") for name, body in contents.items()
    ]
    files = sample.local_files(stored)
    assert files == [{"source": s.upload_id, "options": {"type": "local"}} for s in stored]
    # FilePond loads each source from the load endpoint.
    assert [body_of(ctx.client.get(f"/fp/?load={f['source']}")) for f in files] == list(
        contents.values()
    )


@exercise("quickstart.rst", "store_edited_files")
def _store_edited_files(sample: Any, ctx: Context) -> None:
    kept = [api.store_upload(ctx.process(b"k", name=f"{n}.txt"), "documents/") for n in "ab"]
    new = ctx.process(b"new", name="c.txt")
    added, removed = ctx.call_in_request(
        sample.store_edited_files, kept, filepond=[kept[0].upload_id, new]
    )
    assert [s.file.name for s in added] == ["documents/c.txt"]
    assert [s.upload_id for s in removed] == [kept[1].upload_id]
    # The new ids are checked to be the visitor's own.
    theirs = ctx.other_visitor_upload()
    try:
        ctx.call_in_request(sample.store_edited_files, kept, filepond=[theirs])
    except UploadNotOwned:
        pass
    else:
        raise AssertionError("someone else's upload was stored")
    assert TemporaryUpload.objects.filter(pk=theirs).exists()


# --- security.rst -------------------------------------------------------------------------------


@exercise("security.rst", "OwnsStoredUpload")
def _owns_stored_upload(sample: Any, ctx: Context) -> None:
    ctx.settings.FILEPOND_SERVER_PERMISSION_CLASSES = {"GET_LOAD": [sample.OwnsStoredUpload]}
    anonymous_id = ctx.process(b"anonymous")
    api.store_upload(anonymous_id, "s/")
    ada = User.objects.create_user("ada")
    ctx.client.force_login(ada)
    upload_id = ctx.process(b"ada's file", name="ada.txt")
    api.store_upload(upload_id, "s/")
    assert StoredUpload.objects.get(pk=upload_id).owner == ada
    urls = [f"/fp/?load={upload_id}", f"/fp/load/{upload_id}", f"/fp/load/?id={upload_id}"]
    for url in urls:
        response = ctx.client.get(url)
        assert response.status_code == 200, url
        assert body_of(response) == b"ada's file"
    # Nobody loads an upload stored without an owner.
    assert ctx.client.get(f"/fp/?load={anonymous_id}").status_code == 403

    grace = StreamReadingClient()
    grace.force_login(User.objects.create_user("grace"))
    for url in urls:
        response = grace.get(url)
        assert response.status_code == 403, url
        assert response.content.decode() == "You can only load your own files."
    assert StreamReadingClient().get(urls[0]).status_code == 403  # anonymous


# --- validation.rst -----------------------------------------------------------------------------


@exercise("validation.rst", "detected_type")
def _detected_type(sample: Any, ctx: Context) -> None:
    for name, content in (("dot.png", tiny_png()), ("doc.pdf", PDF), ("a.txt", b"words\n")):
        on_disk = ctx.tmp_path / name
        on_disk.write_bytes(content)
        upload = TemporaryUpload.objects.get(pk=ctx.process(content, name=name))
        assert sample.detected_type(str(on_disk)) == upload.detected_type, name


@exercise("validation.rst", "store_avatar")
def _store_avatar(sample: Any, ctx: Context) -> None:
    # The "avatar" rules of the settings sample on the same page.
    ctx.settings.FILEPOND_SERVER_UPLOAD_RULES = {
        "avatar": {
            "max_size": 2 * 1024 * 1024,
            "types": ["image/png", "image/jpeg"],
            "extensions": [".png", ".jpg", ".jpeg"],
            "match_extension": True,
        },
    }
    avatar = ctx.process(tiny_png(), name="me.png")
    stored = ctx.call_in_request(sample.store_avatar, avatar)
    assert isinstance(stored, StoredUpload) and stored.file.name == "avatars/me.png"
    text_as_png = ctx.process(b"not an image", name="me.png")
    png_as_gif = ctx.process(tiny_png(), name="me.gif")
    too_big = ctx.process(tiny_png(padding=3 * 1024 * 1024), name="big.png")
    for upload_id in (text_as_png, png_as_gif, too_big):
        assert ctx.call_in_request(sample.store_avatar, upload_id) is None
        assert TemporaryUpload.objects.filter(pk=upload_id).exists()
    assert stored_names() == ["avatars/me.png"]


@exercise("validation.rst", "SCANS")
def _scans(sample: Any, ctx: Context) -> None:
    assert api.store_upload(ctx.process(PDF, name="scan.pdf"), "scans/", rules=sample.SCANS)
    assert api.store_upload(ctx.process(tiny_png(), name="scan.png"), "scans/", rules=sample.SCANS)
    for content, name in ((b"plain", "scan.txt"), (PDF, "scan.png")):
        try:
            api.store_upload(ctx.process(content, name=name), "scans/", rules=sample.SCANS)
        except UploadRejected:
            pass
        else:
            raise AssertionError(f"{name} was stored against the rules")
    assert stored_names() == ["scans/scan.pdf", "scans/scan.png"]


def _zip(*, encrypted: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("member.txt", b"member")
    data = bytearray(buffer.getvalue())
    if encrypted:  # the "encrypted" flag bit, in the local header and the central directory
        for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            data[data.index(signature) + offset] |= 0x1
    return bytes(data)


@exercise("validation.rst", "no_encrypted_zips")
def _no_encrypted_zips(sample: Any, ctx: Context) -> None:
    ctx.settings.FILEPOND_SERVER_VALIDATORS = [sample.no_encrypted_zips]
    ctx.process(_zip(), name="plain.zip")
    ctx.process(b"not a zip", name="notes.txt")
    damaged = _zip()[:-40]  # the end of the central directory is cut off
    for content, message in (
        (_zip(encrypted=True), "Encrypted ZIP archives are not accepted."),
        (damaged, "The ZIP archive is damaged."),
    ):
        response = ctx.client.post(
            "/fp/", {"filepond": ["{}", SimpleUploadedFile("archive.zip", content)]}
        )
        assert response.status_code == 422
        assert response.content.decode() == message
    assert TemporaryUpload.objects.filter(complete=True, rejected="").count() == 2


# --- checks.rst ---------------------------------------------------------------------------------


@exercise("checks.rst", "SILENCED_SYSTEM_CHECKS")
def _silenced(sample: Any, ctx: Context) -> None:
    ctx.settings.FILEPOND_SERVER_TEMP_DIR = os.path.join(ctx.settings.MEDIA_ROOT, "tmp")
    ctx.settings.SILENCED_SYSTEM_CHECKS = []
    out = StringIO()
    call_command("check", stdout=out, stderr=out)
    assert "django_filepond_server.W001" in out.getvalue()
    ctx.settings.SILENCED_SYSTEM_CHECKS = sample.SILENCED_SYSTEM_CHECKS
    out = StringIO()
    call_command("check", stdout=out, stderr=out)
    assert out.getvalue() == "System check identified no issues (1 silenced).\n"


# --- installation.rst ---------------------------------------------------------------------------


@exercise("installation.rst", "INSTALLED_APPS")
def _installed_apps(sample: Any, ctx: Context) -> None:
    ctx.settings.INSTALLED_APPS = sample.INSTALLED_APPS
    out = StringIO()
    call_command("check", stdout=out)
    assert out.getvalue() == "System check identified no issues (0 silenced).\n"
    upload_id = ctx.process(b"installed")
    assert body_of(ctx.client.get(f"/fp/?restore={upload_id}")) == b"installed"


# --- deployment.rst -----------------------------------------------------------------------------


@exercise(
    "deployment.rst",
    "CORS_ALLOWED_ORIGINS",
    "CORS_ALLOW_CREDENTIALS",
    "CORS_ALLOW_HEADERS",
    "CORS_EXPOSE_HEADERS",
    "CORS_URLS_REGEX",
    "INSTALLED_APPS",
    "MIDDLEWARE",
)
def _cors(sample: Any, ctx: Context) -> None:
    for name, value in vars(sample).items():
        if name.isupper():
            setattr(ctx.settings, name, value)
    ctx.mount()
    page = "https://app.example.com"
    preflight = ctx.client.options(
        "/fp/",
        headers={
            "Origin": page,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "content-type, upload-length, upload-name, "
            "upload-offset, x-csrftoken",
        },
    )
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == page
    assert preflight["Access-Control-Allow-Credentials"] == "true"
    assert "PATCH" in preflight["Access-Control-Allow-Methods"]
    allowed = {name.strip() for name in preflight["Access-Control-Allow-Headers"].split(",")}
    assert {"upload-length", "upload-name", "upload-offset", "x-csrftoken"} <= allowed

    upload_id = ctx.process(b"cross-origin", name="x.txt")
    restored = ctx.client.get(f"/fp/?restore={upload_id}", headers={"Origin": page})
    assert restored["Access-Control-Allow-Origin"] == page
    exposed = {name.strip() for name in restored["Access-Control-Expose-Headers"].split(",")}
    assert exposed == {
        "Content-Disposition",
        "Content-Length",
        "Upload-Offset",
        "X-Content-Transfer-Id",
    }
    assert body_of(restored) == b"cross-origin"
    other = ctx.client.get(f"/fp/?restore={upload_id}", headers={"Origin": "https://else.example"})
    assert "Access-Control-Allow-Origin" not in other


# --- tus.rst ------------------------------------------------------------------------------------


def _tus_upload(ctx: Context, content: bytes, name: str) -> str:
    """An upload sent the way the tus transport sends it; its id."""
    metadata = ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}"
        for key, value in {"filename": name, "fieldname": "video"}.items()
    )
    tus = {"Tus-Resumable": "1.0.0"}
    created = ctx.client.generic(
        "POST",
        "/fp/tus/",
        headers={**tus, "Upload-Length": str(len(content)), "Upload-Metadata": metadata},
    )
    assert created.status_code == 201, created.content
    patched = ctx.client.generic(
        "PATCH",
        created["Location"],
        content,
        content_type="application/offset+octet-stream",
        headers={**tus, "Upload-Offset": "0"},
    )
    assert patched.status_code == 204, patched.content
    return str(created["Location"]).rsplit("/", 1)[1]


@exercise("tus.rst", "VideoForm")
def _tus_form(sample: Any, ctx: Context) -> None:
    ctx.mount()
    video = _tus_upload(ctx, b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" * 8, "clip.mp4")
    text = _tus_upload(ctx, b"not a video\n", "clip.txt")

    def check(request: HttpRequest, upload_id: str) -> Any:
        form = sample.VideoForm({"video": upload_id}, request=request)
        return form.is_valid(), form.errors, form.media.render_js()

    valid, _errors, scripts = ctx.call_in_request(check, video)
    assert valid
    assert any("tus-js-client/dist/tus.min.js" in tag for tag in scripts)
    assert any("django_filepond_server/tus.js" in tag for tag in scripts)
    valid, errors, _scripts = ctx.call_in_request(check, text)
    assert not valid and "video" in errors


@exercise("direct.rst", "VideoForm")
def _video_form(sample: Any, ctx: Context) -> None:
    from tests import direct_client

    def video(request: HttpRequest) -> HttpResponse:
        form = sample.VideoForm(request.POST or None, request=request)
        if request.method == "POST":
            return HttpResponse("valid" if form.is_valid() else form.errors.as_text())
        return HttpResponse(f"{form.media}{form.as_p()}")

    ctx.mount(video=video)
    page = ctx.client.get("/video/").content.decode()
    assert page.index("django_filepond_server/direct.js") < page.index("filepond-widget.js")
    assert "&quot;transport&quot;:&quot;direct&quot;" in page
    # Without S3 the bytes go to the app's own target; the form takes the upload.
    clip = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom\x00\x00\x00\x08free" + bytes(99)
    upload_id = direct_client.upload(
        ctx.client, clip, "clip.mp4", declared_type="video/mp4", field="video"
    )
    assert ctx.client.post("/video/", {"video": upload_id}).content == b"valid"


@exercise("scaling.rst", "local_uploads")
def count_local_uploads(sample: Any, context: Context) -> None:
    """The count sees uploads of the local area, not those of a storage area."""
    assert sample.local_uploads == 0
    context.process(b"local")  # the test settings' area: a local directory
    TemporaryUpload.objects.create(upload_id="S" * 22, file_name="b", area="shared-tmp")
    from tests.test_docs import python_samples

    (code,) = [
        c for page, _, c in python_samples() if page == "scaling.rst" and "local_uploads" in c
    ]
    again: dict[str, Any] = {}
    exec(code, again)  # the sample, run again with the two uploads there
    assert again["local_uploads"] == 1
