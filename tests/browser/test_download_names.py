"""The name Chromium saves a loaded file under is the name FilePond shows for it, for every
awkward name the sanitiser lets through (names with header syntax, quotes, percent signs,
scripts, emoji, combining marks, invisible characters, names cut to the byte cap)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from django_filepond_server import api
from django_filepond_server.models import StoredUpload
from django_filepond_server.names import safe_name
from tests.browser.support import URL_STYLES, Pond
from tests.name_corpus import AWKWARD_NAMES, generated_names

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: The hand-picked names and 100 random ones, as the sanitiser keeps them.
NAMES = list(dict.fromkeys(safe_name(raw) for raw in AWKWARD_NAMES + generated_names(100)))
#: Bytes libmagic calls application/octet-stream, a type no browser adds an extension for.
DATA = bytes(range(256))
#: Chromium holds back a page's downloads after ten in a row; a reload lets it go on.
DOWNLOADS_PER_PAGE = 10

_LINK_JS = """(url) => {
  let link = document.getElementById('download-link');
  if (!link) {
    link = document.createElement('a');
    link.id = 'download-link';
    link.textContent = 'download';
    link.download = '';
    document.body.prepend(link);
  }
  link.href = url;
}"""


def store(client: Client, name: str) -> str:
    """Upload a file called ``name`` as FilePond does in chunks (the name travels in
    ``Upload-Name``, as raw UTF-8) and store it, as a project's form view would."""
    length = str(len(DATA))
    response = client.post("/fp/", {"filepond": "{}"}, headers={"Upload-Length": length})
    assert response.status_code == 200, response.content
    upload_id = response.content.decode()
    headers = {
        "Upload-Offset": "0",
        "Upload-Length": length,
        "Upload-Name": name.encode().decode("latin-1"),
    }
    response = client.generic(
        "PATCH",
        f"/fp/?patch={upload_id}",
        DATA,
        content_type="application/offset+octet-stream",
        headers=headers,
    )
    assert response.status_code == 204, response.content
    api.store_upload(upload_id, "names/")
    return upload_id


def suggested_name(page: Any, url: str) -> str:
    """The file name Chromium picks when it downloads ``url``."""
    page.evaluate(_LINK_JS, url)
    with page.expect_download() as info:
        page.click("#download-link")
    download = info.value
    name: str = download.suggested_filename
    download.cancel()
    return name


def test_chromium_saves_a_loaded_file_under_the_name_filepond_shows(pond: Pond) -> None:
    client = Client()
    ids = {store(client, name): name for name in NAMES}
    assert {s.upload_id: s.original_name for s in StoredUpload.objects.all()} == ids

    server = URL_STYLES["per-endpoint"]
    local = [{"source": upload_id, "options": {"type": "local"}} for upload_id in ids]
    pond.open(server, files=local)
    shown = {item["hidden"]: item["name"] for item in pond.wait_for_states(*["idle"] * len(ids))}
    assert shown == ids

    pond.open(server)  # an empty widget: the page reloads quickly
    saved = {}
    for count, upload_id in enumerate(ids):
        if count and count % DOWNLOADS_PER_PAGE == 0:
            pond.page.reload()
        saved[upload_id] = suggested_name(pond.page, f"/fp/load/?id={upload_id}")
    assert saved == shown
    assert len(saved) == len(NAMES) > 150
