"""tus in Chromium: FilePond with the package's tus transport (a form field with
``transport="tus"``), Uppy's Dashboard with its tus plugin, and an upload that survives a page
reload. tus-js-client and Uppy come from demo/node_modules."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from django_filepond_server import api
from django_filepond_server.models import StoredUpload, TemporaryUpload
from tests.browser.forms_support import FormPage
from tests.browser.support import (
    browser_context,
    sha256,
    stored_bytes,
    temporary_bytes,
)
from tests.browser.tus_pages import CHUNK_SIZE
from tests.browser.wire import wire

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MB = 1_000_000


@pytest.fixture
def site_urlconf() -> str:
    return "tests.browser.tus_pages"


@pytest.fixture
def context(browser: Any, site: str) -> Iterator[Any]:
    with browser_context(browser, site, width=900) as ctx:
        yield ctx


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


def sample(tmp_path: Path, name: str, size: int) -> tuple[Path, bytes]:
    data = random.Random(name).randbytes(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def tus_log() -> list[tuple[str, int | None, int]]:
    """``(method, offset, status)`` of what reached the tus endpoints; a HEAD's offset is the
    one the server answered."""
    return [
        (e.method, e.offset, e.status)
        for e in wire.exchanges
        if e.path.startswith("/fp/tus/") and e.method != "OPTIONS"
    ]


def submit(page: Any) -> dict[str, Any]:
    with page.expect_navigation():
        page.click("button[type=submit]")
    return json.loads(page.inner_text("body"))  # type: ignore[no-any-return]


def test_filepond_sends_files_through_the_tus_transport(page: Any, tmp_path: Path) -> None:
    path, data = sample(tmp_path, "report.bin", 5 * MB)
    form = FormPage(page).goto("/document/", ponds=1)
    form.add("document", path)
    (item,) = form.wait_for_states("document", "processing-complete")
    upload = TemporaryUpload.objects.get(pk=item["serverId"])
    assert item["hidden"] == upload.upload_id
    assert (upload.file_name, upload.field_name, upload.complete) == (
        "report.bin",
        "document",
        True,
    )
    assert tus_log() == [
        ("POST", None, 201),
        ("PATCH", 0, 204),
        ("PATCH", CHUNK_SIZE, 204),
        ("PATCH", 2 * CHUNK_SIZE, 204),
    ]
    stored = StoredUpload.objects.get(pk=submit(page)["stored"])
    assert stored.original_name == "report.bin"
    assert sha256(stored_bytes(stored)) == sha256(data)


def test_a_refusal_shows_the_servers_sentence(page: Any, tmp_path: Path, settings: Any) -> None:
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"document": {"extensions": [".pdf"]}}
    path, _data = sample(tmp_path, "notes.exe", 1000)
    form = FormPage(page).goto("/document/", ponds=1)
    form.add("document", path)
    (item,) = form.wait_for_states("document", "processing-error")
    assert item["status"] == "Files ending in .exe are not accepted here; allowed: .pdf."
    assert TemporaryUpload.objects.count() == 0


def test_uppy_dashboard_uploads_with_its_tus_plugin(page: Any, tmp_path: Path) -> None:
    path, data = sample(tmp_path, "uppy photo.bin", 2 * MB + 5)
    page.goto("/uppy/")
    page.locator("input.uppy-Dashboard-input").first.set_input_files(str(path))
    page.wait_for_function("() => window.uppyResult !== undefined")
    result = page.evaluate("window.uppyResult")
    assert result["failed"] == []
    (done,) = result["successful"]
    upload = TemporaryUpload.objects.get(pk=done["url"].rstrip("/").rsplit("/", 1)[1])
    assert upload.complete and upload.file_name == "uppy photo.bin"
    assert sha256(temporary_bytes(upload.upload_id)) == sha256(data)
    assert [(m, o) for m, o, _s in tus_log()] == [
        ("POST", None),
        ("PATCH", 0),
        ("PATCH", MB),
        ("PATCH", 2 * MB),
    ]
    # The field named in Uppy's meta chose the rules; what else Uppy sent stays.
    assert upload.field_name == "attachments"
    assert upload.metadata["name"] == "uppy photo.bin"


def test_filepond_with_the_transport_in_plain_javascript(page: Any, tmp_path: Path) -> None:
    path, data = sample(tmp_path, "plain.bin", 2 * MB + 1)
    page.goto("/plain/")
    page.set_input_files(".filepond--browser", str(path))
    page.wait_for_function(
        "() => window.pond.getFiles().length === 1 && window.pond.getFiles()[0].serverId"
    )
    upload_id = page.evaluate("window.pond.getFiles()[0].serverId")
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.complete and upload.field_name == "filepond"
    assert sha256(temporary_bytes(upload_id)) == sha256(data)
    assert [o for m, o, _s in tus_log() if m == "PATCH"] == [0, MB, 2 * MB]


def test_cancelling_in_the_pond_removes_the_upload(page: Any, tmp_path: Path) -> None:
    path, _data = sample(tmp_path, "cancel.bin", 6 * MB)
    held = []

    def hold_the_second_chunk(route: Any) -> None:
        if route.request.method == "PATCH" and route.request.headers.get("upload-offset") != "0":
            held.append(route)  # never answered: the upload is under way when cancelled
            return
        route.continue_()

    page.route("**/fp/tus/**", hold_the_second_chunk)
    form = FormPage(page).goto("/document/", ponds=1)
    form.add("document", path)
    # Route handlers run while Playwright waits, so wait in the page, not in time.sleep.
    for _ in range(400):
        if held:
            break
        page.wait_for_timeout(50)
    assert held and api.received_bytes(TemporaryUpload.objects.get()) == CHUNK_SIZE
    page.click(".filepond--action-abort-item-processing")
    page.wait_for_function("() => !document.querySelector('.filepond--item')")
    for _ in range(400):
        if any(m == "DELETE" for m, _o, _s in tus_log()):
            break
        page.wait_for_timeout(50)
    assert tus_log() == [("POST", None, 201), ("PATCH", 0, 204), ("DELETE", None, 204)]
    assert not TemporaryUpload.objects.exists()


def test_an_upload_continues_after_a_reload(page: Any, context: Any, tmp_path: Path) -> None:
    path, data = sample(tmp_path, "video.bin", 20 * MB)
    # A slow uplink (Chromium's own network throttling), so the page can be reloaded while
    # the upload is under way.
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 4 * MB},
    )
    form = FormPage(page).goto("/document/", ponds=1)
    form.add("document", path)
    # Wait in the page (a Playwright call) until the server holds two chunks or more.
    for _ in range(600):
        upload = TemporaryUpload.objects.first()
        if upload is not None and api.received_bytes(upload) >= 2 * CHUNK_SIZE:
            break
        page.wait_for_timeout(50)
    assert upload is not None and api.received_bytes(upload) >= 2 * CHUNK_SIZE

    page.reload()  # mid-upload: the chunk on the way is lost with the page
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    form.wait_for_ponds(1)
    seen = api.received_bytes(upload)
    before_reload = len(tus_log())
    form.add("document", path)  # the same file, picked again
    (item,) = form.wait_for_states("document", "processing-complete")
    assert item["serverId"] == upload.upload_id

    after = tus_log()[before_reload:]
    # The chunk the reload cut short, if the server noticed only now, was never recorded.
    cut = [e for e in after if e[2] == 400]
    after = [e for e in after if e[2] != 400]
    # No new upload: the server said where it stood, and the bytes went on from there.
    method, held, _status = after[0]
    assert method == "HEAD" and held >= seen and held % CHUNK_SIZE == 0 and held < len(data)
    assert cut in ([], [("PATCH", held, 400)])
    assert after[1] == ("PATCH", held, 204)
    assert [e for e in after if e[0] == "POST"] == []
    assert [o for m, o, _s in after if m == "PATCH"] == list(range(held, 20 * MB, CHUNK_SIZE))
    stored = StoredUpload.objects.get(pk=submit(page)["stored"])
    assert sha256(stored_bytes(stored)) == sha256(data)
