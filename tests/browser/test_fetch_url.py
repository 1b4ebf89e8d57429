"""A URL added to the widget is fetched by the server and ends as a limbo item, never uploaded
back (scenarios 7 and 5)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from django_filepond_server.models import TemporaryUpload
from tests.browser.support import URL_STYLES, Pond, sha256, temporary_bytes
from tests.browser.wire import wire
from tests.remote_server import PNG, RemoteServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIMBO = 2
PDF_PATH = "/files/r%C3%A9sum%C3%A9%20100%25.pdf"


@pytest.fixture
def remote() -> Iterator[RemoteServer]:
    server = RemoteServer()
    yield server
    server.stop()


@pytest.fixture
def fetch_allowed(settings: Any) -> None:
    settings.FILEPOND_SERVER_FETCH_ENABLED = True
    settings.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.mark.parametrize("server", URL_STYLES.values(), ids=URL_STYLES.keys())
def test_a_remote_url_becomes_a_limbo_item_without_a_second_upload(
    pond: Pond, site: str, remote: RemoteServer, fetch_allowed: None, server: Any
) -> None:
    # FilePond sends only URLs of another host than the page's to the fetch endpoint.
    assert urlsplit(site).hostname != "127.0.0.1"
    photo_url = f"{remote.base}/files/photo.png"
    pdf_url = f"{remote.base}{PDF_PATH}"
    pond.open(server)
    pond.add_source(photo_url)
    pond.add_source(pdf_url)

    items = pond.wait_for_states("processing-complete", "processing-complete")
    expected = {"photo.png": PNG, "résumé 100%.pdf": b"%PDF-1.4"}
    assert sorted(item["label"] for item in items) == sorted(expected)
    for item in items:
        assert item["origin"] == LIMBO
        assert item["hidden"] == item["serverId"]
        upload = TemporaryUpload.objects.get(pk=item["serverId"])
        assert upload.complete and upload.file_name == item["name"]
        assert sha256(temporary_bytes(upload.upload_id)) == sha256(expected[item["name"]])
        assert pond.widget_sha256(item["name"]) == sha256(expected[item["name"]])

    # One fetch per URL (the id in X-Content-Transfer-Id), and no process or chunk request.
    key, path = ("target", "/fp/fetch/") if isinstance(server, dict) else ("fetch", "/fp/")
    fetches = wire.of("GET")
    assert sorted(e.query[key] for e in fetches) == sorted([photo_url, pdf_url])
    assert {(e.path, e.status) for e in fetches} == {(path, 200)}
    assert wire.of("POST", "PATCH", "HEAD") == []
    assert sorted(path for path, _headers in remote.requests) == sorted(
        ["/files/photo.png", PDF_PATH]
    )
