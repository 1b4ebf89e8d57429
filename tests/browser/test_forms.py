"""FilePond form fields in the real browser: a ModelForm with two ponds, its round trips, the
edit page with stored files, the admin with an inline row added in the browser, and an
HttpOnly CSRF cookie. The pages are ordinary Django views and the admin (tests/formsapp)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from django_filepond_server.models import StoredUpload, TemporaryUpload, new_upload_id
from django_filepond_server.storage import get_permanent_storage
from tests.browser.forms_support import LIMBO, LOCAL, FormPage
from tests.browser.support import browser_context, eventually, sha256, stored_bytes
from tests.formsapp.models import Album, Photo
from tests.helpers import tiny_png

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parent.parent.parent
SCREENSHOT_DIR = Path(os.environ.get("FILEPOND_SCREENSHOT_DIR") or REPO / ".ci" / "out")
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40


@pytest.fixture
def site_urlconf() -> str:
    return "tests.formsapp.urls"


@pytest.fixture
def memory() -> Any:
    # The field's own storage object: Django calls a storage callable once, at import.
    storage = Album._meta.get_field("cover").storage
    storage._root._children.clear()  # type: ignore[attr-defined]
    return storage


@pytest.fixture
def context(browser: Any, site: str) -> Iterator[Any]:
    with browser_context(browser, site, width=1000, height=1100) as ctx:
        yield ctx


@pytest.fixture
def page(context: Any) -> FormPage:
    return FormPage(context.new_page())


@pytest.fixture
def files(tmp_path: Path) -> Any:
    folder = tmp_path / "client"
    folder.mkdir()

    def make(name: str, data: bytes) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return make


def log_in(context: Any, site: str, settings: Any, *, staff: bool = False) -> Any:
    """A user logged in in the browser through the session cookie of a test client."""
    users = get_user_model().objects
    if staff:
        user = users.create_superuser("admin", "admin@example.com", "not-used")
    else:
        user = users.create_user("ada", password="not-used")
    client = Client()
    client.force_login(user)
    session_id = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session_id, "url": site}])
    return user


def upload_both_ponds(page: FormPage, files: Any) -> tuple[Path, Path, Path]:
    cover = files("cover.png", tiny_png(padding=20_000))
    report = files("report.pdf", PDF)
    notes = files("notes.txt", b"Minutes of the meeting.\n" * 200)
    # The images-only pond refuses a text file in the browser (FilePond's type plugin,
    # handed the field's rules), before anything is sent.
    page.add("cover", notes)
    (refused,) = page.wait_for_states("cover", "load-invalid")
    assert refused["status"] == "File is of invalid type"
    assert not TemporaryUpload.objects.exists()
    page.add("cover", cover)
    page.wait_for_states("cover", "processing-complete")
    page.add("documents", report, notes)
    page.wait_for_states("documents", "processing-complete", "processing-complete")
    return cover, report, notes


def test_a_validation_error_gives_the_files_back_and_the_fixed_submit_stores_them(
    page: FormPage, files: Any, memory: Any
) -> None:
    page.goto("/albums/new/", ponds=2)
    cover, report, notes = upload_both_ponds(page, files)
    uploaded = {item["name"]: item["serverId"] for item in page.items("documents")}
    (cover_id,) = [item["serverId"] for item in page.items("cover")]
    assert TemporaryUpload.objects.filter(pk__in=[cover_id, *uploaded.values()]).count() == 3

    # No title: the form comes back with its error, and the files as limbo items.
    page.page.click("button[type=submit]")
    page.page.wait_for_load_state()
    page.wait_for_ponds(2)
    assert "This field is required." in page.page.inner_text("form")
    limbo_cover = page.wait_for_states("cover", "processing-complete")
    limbo_docs = page.wait_for_states("documents", "processing-complete", "processing-complete")
    assert [(i["name"], i["origin"], i["hidden"]) for i in limbo_cover] == [
        ("cover.png", LIMBO, cover_id)
    ]
    assert sorted((i["name"], i["origin"], i["hidden"]) for i in limbo_docs) == sorted(
        (name, LIMBO, upload_id) for name, upload_id in uploaded.items()
    )
    page.page.wait_for_timeout(400)  # FilePond's completion animation
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.page.screenshot(path=str(SCREENSHOT_DIR / "forms-limbo.png"), full_page=True)

    page.page.fill("input[name=title]", "Site visit")
    page.page.click("button[type=submit]")
    page.page.wait_for_url("**/albums/*/")

    album = Album.objects.get()
    assert album.title == "Site visit"
    assert album.cover.name == "covers/cover.png"
    with memory.open(album.cover.name) as f:
        assert sha256(f.read()) == sha256(cover.read_bytes())
    stored = {row.original_name: row for row in album.documents.all()}
    assert set(stored) == {"report.pdf", "notes.txt"}
    # The very uploads of the first visit were stored: nothing was uploaded twice.
    assert {name: row.upload_id for name, row in stored.items()} == uploaded
    assert stored_bytes(stored["report.pdf"]) == report.read_bytes()
    assert stored_bytes(stored["notes.txt"]) == notes.read_bytes()
    assert not TemporaryUpload.objects.exists()


def stored_document(name: str, data: bytes) -> StoredUpload:
    saved = get_permanent_storage().save(f"albums/{name}", ContentFile(data))
    return StoredUpload.objects.create(
        upload_id=new_upload_id(),
        file=saved,
        original_name=name,
        size=len(data),
        content_type="application/pdf",
        uploaded=timezone.now(),
    )


def test_the_edit_page_shows_stored_files_removes_one_adds_one_and_saves(
    page: FormPage, files: Any, memory: Any, settings: Any
) -> None:
    # Chunks of 100 kB: the removed file is larger, the case where FilePond would revert.
    settings.FILEPOND_SERVER_WIDGET_CHUNK_SIZE = 100_000
    memory.save("covers/old-cover.png", ContentFile(tiny_png()))
    kept = stored_document("kept.pdf", PDF)
    dropped = stored_document("dropped.pdf", PDF * 10)
    album = Album.objects.create(title="Trip", cover="covers/old-cover.png")
    album.documents.set([kept, dropped])

    deletes: list[str] = []
    page.page.on("request", lambda r: deletes.append(r.url) if r.method == "DELETE" else None)
    page.goto(f"/albums/{album.pk}/", ponds=2)
    (cover,) = page.wait_for_states("cover", "idle")
    assert (cover["name"], cover["origin"]) == ("old-cover.png", LOCAL)
    documents = page.wait_for_states("documents", "idle", "idle")
    assert sorted((d["name"], d["origin"], d["hidden"]) for d in documents) == sorted(
        [("kept.pdf", LOCAL, kept.pk), ("dropped.pdf", LOCAL, dropped.pk)]
    )
    # The bytes FilePond loaded are the stored ones.
    assert page.page.evaluate(
        """async () => {
          const widget = document.querySelector('.filepond-widget[data-name="cover"]');
          const item = FilePond.find(widget.querySelector('.filepond--root')).getFiles()[0];
          return (await item.file.arrayBuffer()).byteLength;
        }"""
    ) == len(tiny_png())

    page.remove("documents", "dropped.pdf")
    page.wait_for_states("documents", "idle")
    # Removed in the widget, still attached until the form is saved.
    page.page.wait_for_timeout(300)
    assert deletes == []  # the widget answers FilePond's remove: no revert is sent
    assert set(album.documents.values_list("pk", flat=True)) == {kept.pk, dropped.pk}
    assert get_permanent_storage().exists(dropped.file.name)

    added = files("added.pdf", PDF + b"added")
    page.add("documents", added)
    page.wait_for_states("documents", "idle", "processing-complete")
    page.page.click("button[type=submit]")
    page.page.wait_for_url(f"**/albums/{album.pk}/")
    page.wait_for_ponds(2)

    album.refresh_from_db()
    assert album.cover.name == "covers/old-cover.png"
    names = sorted(album.documents.values_list("original_name", flat=True))
    assert names == ["added.pdf", "kept.pdf"]
    assert stored_bytes(album.documents.get(original_name="added.pdf")) == added.read_bytes()
    # Detached, not deleted: the field does not delete removed files unless told to.
    assert StoredUpload.objects.filter(pk=dropped.pk).exists()
    assert get_permanent_storage().exists(dropped.file.name)
    # The saved page shows the new set as local files.
    shown = page.wait_for_states("documents", "idle", "idle")
    assert sorted(item["name"] for item in shown) == ["added.pdf", "kept.pdf"]


def test_admin_add_and_change_pages_with_an_inline_row_added_in_the_browser(
    page: FormPage, context: Any, site: str, files: Any, memory: Any, settings: Any
) -> None:
    log_in(context, site, settings, staff=True)
    first = files("first.png", tiny_png(padding=5_000))
    second = files("second.png", tiny_png(padding=9_000))
    report = files("report.pdf", PDF)

    page.goto("/admin/formsapp/album/add/", ponds=2)  # the inline's template row has none
    page.page.fill("input[name=title]", "Admin album")
    page.add("documents", report)
    page.page.click("text=Add another Photo")
    page.wait_for_ponds(3)
    page.page.fill("input[name=photos-0-caption]", "First photo")
    page.add("photos-0-image", first)
    page.wait_for_states("documents", "processing-complete")
    page.wait_for_states("photos-0-image", "processing-complete")
    page.page.click("input[name=_continue]")
    page.page.wait_for_url("**/admin/formsapp/album/*/change/")

    album = Album.objects.get()
    assert album.title == "Admin album"
    assert [row.original_name for row in album.documents.all()] == ["report.pdf"]
    (photo,) = Photo.objects.filter(album=album)
    assert (photo.caption, photo.image.name) == ("First photo", "photos/first.png")
    with photo.image.open("rb") as f:
        assert f.read() == first.read_bytes()

    # The change page shows what was saved, and takes another row added in the browser.
    page.wait_for_ponds(3)
    (shown,) = page.wait_for_states("photos-0-image", "idle")
    assert (shown["name"], shown["origin"]) == ("first.png", LOCAL)
    page.page.click("text=Add another Photo")
    page.wait_for_ponds(4)
    page.page.fill("input[name=photos-1-caption]", "Second photo")
    page.add("photos-1-image", second)
    page.add("cover", first)
    page.wait_for_states("photos-1-image", "processing-complete")
    page.wait_for_states("cover", "processing-complete")
    page.page.wait_for_timeout(400)
    page.page.screenshot(path=str(SCREENSHOT_DIR / "forms-admin-change.png"), full_page=True)
    page.page.click("input[name=_continue]")
    page.page.wait_for_selector("ul.messagelist li.success")

    photos = {p.caption: p for p in Photo.objects.filter(album=album)}
    assert set(photos) == {"First photo", "Second photo"}
    assert photos["First photo"].image.name == "photos/first.png"
    with photos["Second photo"].image.open("rb") as f:
        assert f.read() == second.read_bytes()
    album.refresh_from_db()
    assert album.cover.name == "covers/first.png"
    assert memory.exists("covers/first.png")
    assert not TemporaryUpload.objects.exists()


def test_the_form_works_with_an_httponly_csrf_cookie(
    page: FormPage, context: Any, site: str, files: Any, settings: Any
) -> None:
    settings.CSRF_COOKIE_HTTPONLY = True
    user = log_in(context, site, settings)  # DRF checks CSRF for logged-in users
    page.goto("/albums/new/", ponds=2)
    # The page's scripts cannot read the cookie: the token comes from the rendered options.
    assert "csrftoken" not in page.page.evaluate("() => document.cookie")
    assert any(c["name"] == "csrftoken" and c["httpOnly"] for c in context.cookies())

    page.page.fill("input[name=title]", "HttpOnly")
    cover, report, notes = upload_both_ponds(page, files)
    ids = [item["serverId"] for name in ("cover", "documents") for item in page.items(name)]
    owners = eventually(lambda: set(TemporaryUpload.objects.values_list("owner_id", flat=True)))
    assert owners == {user.pk}

    page.page.click("button[type=submit]")
    page.page.wait_for_url("**/albums/*/")
    album = Album.objects.get()
    assert album.cover.name == "covers/cover.png"
    assert sorted(album.documents.values_list("upload_id", flat=True)) == sorted(ids[1:])


def test_labels_are_in_the_active_language(page: FormPage, settings: Any) -> None:
    settings.LANGUAGE_CODE = "de"
    page.goto("/albums/new/", ponds=2)
    labels = page.page.locator(".filepond-widget .filepond--drop-label").all_inner_texts()
    assert [" ".join(label.split()) for label in labels] == ["Dateien ablegen oder auswählen"] * 2


def test_a_submit_while_a_file_is_uploading_is_stopped(page: FormPage, files: Any) -> None:
    held: list[Any] = []

    def hold(route: Any) -> None:  # the upload waits until the test lets it go
        held.append(route)

    page.page.route("**/fp/", hold)
    page.goto("/albums/new/", ponds=2)
    page.page.fill("input[name=title]", "Busy")
    page.add("documents", files("slow.pdf", PDF))
    for _ in range(200):  # Playwright calls the route handler while it waits
        if held:
            break
        page.page.wait_for_timeout(50)
    assert held, "the upload never started"

    page.page.click("button[type=submit]")
    busy = page.page.locator('.filepond-widget[data-name="documents"] .filepond-widget-busy')
    busy.wait_for(state="visible")
    assert busy.inner_text() == "Wait until every file has finished uploading."
    assert page.page.url.endswith("/albums/new/")
    assert not Album.objects.exists()

    held[0].continue_()
    page.page.unroute("**/fp/")
    page.wait_for_states("documents", "processing-complete")
    page.page.click("button[type=submit]")
    page.page.wait_for_url("**/albums/*/")
    assert [row.original_name for row in Album.objects.get().documents.all()] == ["slow.pdf"]
