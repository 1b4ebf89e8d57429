"""Both URL styles, no redirects, and the single URL's dispatch."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/fp/process/", "/fp/process"])
def test_process_urls_answer_without_redirect(client, url):
    response = client.post(url, {"filepond": ["{}", SimpleUploadedFile("a.txt", b"a")]})
    assert response.status_code == 200


@pytest.mark.parametrize("template", ["/fp/patch/{id}", "/fp/patch/{id}/", "/fp/?patch={id}"])
def test_patch_urls(client, start_chunked, patch, template):
    upload_id = start_chunked(3)
    url = template.format(id=upload_id)
    assert patch(upload_id, b"abc", 0, 3, url=url).status_code == 204
    assert client.head(url)["Upload-Offset"] == "3"


@pytest.mark.parametrize("url", ["/fp/revert/", "/fp/revert", "/fp/"])
def test_revert_urls(client, process, url):
    assert client.delete(url, process()).status_code == 204


@pytest.mark.parametrize(
    "template", ["/fp/load/{id}", "/fp/load/?id={id}", "/fp/load?id={id}", "/fp/load/{id}/"]
)
def test_load_urls(client, process, template):
    from django_filepond_server.api import store_upload

    upload_id = process()
    store_upload(upload_id, "u/")
    assert client.get(template.format(id=upload_id)).status_code == 200


def test_get_on_the_single_url_without_a_key_is_400(client):
    response = client.get("/fp/")
    assert response.status_code == 400
    assert response.content.decode() == (
        "Say what to get with one of the query keys restore, load or fetch."
    )


def test_fetch_is_off(client):
    response = client.get("/fp/?fetch=https%3A%2F%2Fexample.com%2Fa.jpg")
    assert response.status_code == 404
    assert response.content.decode() == "Fetching remote files is not enabled on this server."


def test_patch_without_a_key_on_the_single_url_is_405(client):
    response = client.generic("PATCH", "/fp/", b"x")
    assert response.status_code == 405
    assert response["Allow"] == "POST, PATCH, HEAD, DELETE, GET"
    assert response["Content-Type"].startswith("text/plain")


def test_patch_endpoint_without_an_id_is_400(client, patch):
    response = client.head("/fp/patch/")
    assert response.status_code == 400


def test_put_is_405_plain_text(client):
    response = client.put("/fp/", b"x")
    assert response.status_code == 405
    assert response.content.decode() == "PUT is not a FilePond request on this URL."


def test_any_accept_header_is_answered(client, process):
    upload_id = process()
    response = client.get(f"/fp/?restore={upload_id}", headers={"Accept": "application/xml"})
    assert response.status_code == 200
    response = client.get("/fp/restore/", headers={"Accept": "application/xml"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("HEAD", "/fp/patch/abc%0A"),
        ("PATCH", "/fp/patch/abc%0A/"),
        ("GET", "/fp/restore/abc%0A"),
        ("GET", "/fp/load/a%0Ab"),
        ("GET", "/fp/load/%0A"),
    ],
)
def test_an_id_with_a_line_break_in_the_path_gets_the_apps_answer(client, method, url):
    """Ids in the path may hold any character: a line break once fell through to Django's
    HTML 404 page (a body even for HEAD, which gunicorn drops with a warning)."""
    response = client.generic(method, url)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    if method != "HEAD":
        assert response.content.decode() == "That is not a valid upload id."
