"""fetch: remote files imported through the server, and the SSRF guard around it."""

from __future__ import annotations

import socket
import time
from urllib.parse import quote

import pytest

from django_filepond_server.models import TemporaryUpload
from django_filepond_server.temporary import get_temporary_area
from tests.helpers import body_of
from tests.remote_server import PNG, RemoteServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def remote():
    server = RemoteServer()
    yield server
    server.stop()


@pytest.fixture
def fetch_on(settings):
    settings.FILEPOND_SERVER_FETCH_ENABLED = True
    return settings


@pytest.fixture
def allow_local(fetch_on):
    fetch_on.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    return fetch_on


def fetch(client, url: str, style: str = "single", method: str = "get"):
    path = (
        f"/fp/?fetch={quote(url, safe='')}"
        if style == "single"
        else (f"/fp/fetch/?target={quote(url, safe='')}")
    )
    return getattr(client, method)(path)


def temporary_files(upload_dirs) -> list[str]:
    tmp = upload_dirs["tmp"]
    return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []


# --- behaviour ---------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["single", "path"])
def test_fetch_streams_the_file_into_a_limbo_upload(client, remote, allow_local, style):
    response = fetch(client, f"{remote.base}/files/photo.png", style)
    assert response.status_code == 200
    assert body_of(response) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Content-Length"] == str(len(PNG))
    assert response["Content-Disposition"] == 'inline; filename="photo.png"'
    upload_id = response["X-Content-Transfer-Id"]
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.complete and upload.file_name == "photo.png"
    # The id works like any upload's: FilePond restores or reverts it.
    assert body_of(client.get(f"/fp/?restore={upload_id}")) == PNG
    assert client.delete("/fp/", upload_id).status_code == 204


def test_head_answers_the_same_headers_and_no_body(client, remote, allow_local):
    response = fetch(client, f"{remote.base}/files/photo.png", method="head")
    assert response.status_code == 200
    assert response.content == b""
    assert response["Content-Length"] == str(len(PNG))
    assert response["Content-Disposition"] == 'inline; filename="photo.png"'
    upload_id = response["X-Content-Transfer-Id"]
    with get_temporary_area().open(upload_id) as f:
        assert f.read() == PNG


def test_name_from_content_disposition_is_sanitised(client, remote, allow_local):
    response = fetch(client, f"{remote.base}/download?id=7")
    assert body_of(response) == b"%PDF-1.4 report body"
    assert response["Content-Disposition"] == 'inline; filename="report.pdf"'
    assert response["Content-Type"] == "application/pdf"


def test_filename_star_wins_over_filename(client, remote, allow_local):
    response = fetch(client, f"{remote.base}/download-star")
    upload = TemporaryUpload.objects.get(pk=response["X-Content-Transfer-Id"])
    assert upload.file_name == "résumé.pdf"


def test_name_from_the_url_path_is_unquoted(client, remote, allow_local):
    response = fetch(client, f"{remote.base}/files/r%C3%A9sum%C3%A9%20100%25.pdf")
    upload = TemporaryUpload.objects.get(pk=response["X-Content-Transfer-Id"])
    assert upload.file_name == "résumé 100%.pdf"


def test_fetched_html_is_served_as_an_attachment(client, remote, allow_local):
    response = fetch(client, f"{remote.base}/page.html")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")


def test_fetch_is_off_by_default(client, remote, settings):
    settings.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    response = fetch(client, f"{remote.base}/files/photo.png")
    assert response.status_code == 404
    assert response.content.decode() == "Fetching remote files is not enabled on this server."
    assert remote.requests == []


def test_fetch_has_its_own_permission_key(client, remote, allow_local):
    allow_local.FILEPOND_SERVER_PERMISSION_CLASSES = {
        "GET_FETCH": ["rest_framework.permissions.IsAuthenticated"]
    }
    assert fetch(client, f"{remote.base}/files/photo.png").status_code == 403
    assert remote.requests == []


def test_fetch_without_a_url(client, fetch_on):
    response = client.get("/fp/fetch/")
    assert response.status_code == 400
    assert response.content.decode() == "Say which URL to fetch."


# --- the guard ---------------------------------------------------------------------------------


@pytest.fixture
def no_connections(monkeypatch):
    """Fail the test if anything tries to open a connection."""

    from django_filepond_server import fetch as fetch_module

    def refuse(*args, **kwargs):
        raise AssertionError(f"a connection was attempted: {args}")

    monkeypatch.setattr(fetch_module, "_connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://LOCALHOST./",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0x7f000001/",
        "http://017700000001/",
        "http://127.1/",
        "http://127.0.0.1:8000/admin/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[::127.0.0.1]/",
        "http://[2002:7f00:1::]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://100.64.0.1/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[fd12:3456::1]/",
        "http://224.0.0.1/",
        "http://[ff02::1]/",
        "http://0.0.0.0/",
        "http://0/",
        "http://[::]/",
        "http://240.0.0.1/",
        "http://255.255.255.255/",
        "https://127.0.0.1/",
    ],
)
def test_internal_addresses_are_refused(client, fetch_on, no_connections, url):
    response = fetch(client, url)
    assert response.status_code == 403, url
    assert response.content.decode() == (
        "The server is not allowed to fetch files from that address."
    )


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.txt",
        "gopher://127.0.0.1:25/",
        "data:text/plain,hello",
        "javascript:alert(1)",
        "dict://127.0.0.1:11211/",
        "//127.0.0.1/",
        "not a url",
    ],
)
def test_other_schemes_are_refused(client, fetch_on, no_connections, url):
    response = fetch(client, url)
    assert response.status_code == 400
    assert response.content.decode() == "Only http and https URLs can be fetched."


@pytest.mark.parametrize("url", ["http://user:pw@example.com/", "http://[::1/", "http://a:99999/"])
def test_malformed_urls_are_refused(client, fetch_on, no_connections, url):
    response = fetch(client, url)
    assert response.status_code == 400
    assert response.content.decode() == "That is not a valid URL."


def test_the_deny_list_wins_over_the_allow_list(client, remote, allow_local):
    allow_local.FILEPOND_SERVER_FETCH_DENIED_HOSTS = ["127.0.0.0/8"]
    assert fetch(client, f"{remote.base}/files/photo.png").status_code == 403
    assert remote.requests == []


def test_allow_list_by_network(client, remote, fetch_on):
    fetch_on.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = ["127.0.0.0/24"]
    assert fetch(client, f"{remote.base}/files/photo.png").status_code == 200


def test_the_connection_goes_to_the_checked_address(client, remote, fetch_on, monkeypatch):
    """The host is resolved once; a second lookup (DNS rebinding) never happens."""
    fetch_on.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = [".pinned.test"]
    port = remote.server_address[1]
    lookups = []

    def resolve_once(host, port_, *args, **kwargs):
        lookups.append(host)
        if len(lookups) > 1:
            raise AssertionError("resolved twice")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port_))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve_once)
    response = fetch(client, f"http://files.pinned.test:{port}/files/photo.png")
    assert response.status_code == 200
    assert lookups == ["files.pinned.test"]
    assert remote.requests[-1][1]["Host"] == f"files.pinned.test:{port}"


def test_every_resolved_address_is_checked(client, fetch_on, monkeypatch, no_connections):
    def public_then_private(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", public_then_private)
    assert fetch(client, "http://mixed.example/").status_code == 403


def test_redirects_are_followed(client, remote, allow_local):
    response = fetch(client, f"{remote.base}/hops/3")
    assert response.status_code == 200
    assert body_of(response) == PNG


def test_too_many_redirects(client, remote, allow_local):
    response = fetch(client, f"{remote.base}/hops/4")
    assert response.status_code == 502
    assert response.content.decode() == "The remote server redirected too many times."


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("http://169.254.169.254/latest/meta-data/", 403),
        ("http://10.0.0.8/", 403),
        ("http://[::1]:22/", 403),
        ("file:///etc/passwd", 400),
        ("gopher://example.com/", 400),
    ],
)
def test_each_redirect_is_checked_again(client, remote, allow_local, target, status):
    allow_local.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]  # not ::1, not 169.254.x
    response = fetch(client, f"{remote.base}/redirect?to={quote(target, safe='')}")
    assert response.status_code == status
    assert len(remote.requests) == 1


# --- time, size and failures -------------------------------------------------------------------


def test_a_dripping_server_is_cut_off_at_the_deadline(client, remote, allow_local, upload_dirs):
    allow_local.FILEPOND_SERVER_FETCH_DEADLINE = 1.5
    started = time.monotonic()
    response = fetch(client, f"{remote.base}/drip")
    elapsed = time.monotonic() - started
    assert response.status_code == 502
    assert response.content.decode() == "The remote server took too long to send the file."
    assert elapsed < 4
    assert temporary_files(upload_dirs) == []
    assert not TemporaryUpload.objects.exists()


def test_a_server_that_never_answers_hits_the_read_timeout(client, remote, allow_local):
    allow_local.FILEPOND_SERVER_FETCH_READ_TIMEOUT = 0.5
    started = time.monotonic()
    response = fetch(client, f"{remote.base}/slow-headers")
    assert response.status_code == 502
    assert response.content.decode() == "The remote server did not answer in time."
    assert time.monotonic() - started < 3


def test_an_endless_body_is_cut_at_the_byte_cap(client, remote, allow_local, upload_dirs):
    allow_local.FILEPOND_SERVER_FETCH_MAX_SIZE = 1024 * 1024
    response = fetch(client, f"{remote.base}/endless")
    assert response.status_code == 413
    assert response.content.decode() == (
        "The remote file is larger than the limit of 1048576 bytes."
    )
    assert temporary_files(upload_dirs) == []
    assert not TemporaryUpload.objects.exists()


def test_the_byte_cap_defaults_to_the_max_upload_size(client, remote, allow_local):
    allow_local.FILEPOND_SERVER_MAX_UPLOAD_SIZE = 100
    response = fetch(client, f"{remote.base}/files/photo.png")
    assert response.status_code == 413
    assert response.content.decode() == "The remote file is larger than the limit of 100 bytes."


def test_a_declared_length_over_the_cap_is_refused_before_reading(
    client, remote, allow_local, upload_dirs
):
    started = time.monotonic()
    response = fetch(client, f"{remote.base}/huge-declared")
    assert response.status_code == 413
    assert time.monotonic() - started < 3
    assert temporary_files(upload_dirs) == []


@pytest.mark.parametrize("status", [404, 500, 403])
def test_upstream_errors_are_502_without_details(client, remote, allow_local, status):
    response = fetch(client, f"{remote.base}/status/{status}")
    assert response.status_code == 502
    assert response.content.decode() == (
        f"The remote server answered with an error (HTTP {status})."
    )


def test_connection_errors_do_not_echo_the_address(client, allow_local):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    response = fetch(client, f"http://127.0.0.1:{port}/secret")
    assert response.status_code == 502
    text = response.content.decode()
    assert text == "The connection to the remote server failed."
    assert str(port) not in text


def test_an_unknown_host_is_502(client, fetch_on, monkeypatch):
    def nxdomain(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nxdomain)
    response = fetch(client, "http://no-such-host.invalid/")
    assert response.status_code == 502
    assert response.content.decode() == "The remote host could not be found."


def test_a_remote_file_whose_content_contradicts_its_type_is_refused(
    client, remote, allow_local, upload_dirs
):
    response = fetch(client, f"{remote.base}/disguised.png")
    assert response.status_code == 415
    assert response.content.decode() == (
        "The remote file's content (text/html) is not the image/png it claims."
    )
    assert not TemporaryUpload.objects.exists()
    assert temporary_files(upload_dirs) == []


def test_a_body_cut_short_of_its_content_length_is_not_kept(
    client, remote, allow_local, upload_dirs
):
    response = fetch(client, f"{remote.base}/truncated")
    assert response.status_code == 502
    assert response.content.decode() == (
        "The remote server closed the connection before sending the whole file."
    )
    assert not TemporaryUpload.objects.exists()
    assert temporary_files(upload_dirs) == []


def test_a_body_without_length_stops_at_the_owners_byte_limit(
    client, remote, allow_local, upload_dirs
):
    allow_local.FILEPOND_SERVER_MAX_BYTES_PER_OWNER = 512 * 1024
    response = fetch(client, f"{remote.base}/endless")
    assert response.status_code == 413
    assert not TemporaryUpload.objects.exists()
    assert temporary_files(upload_dirs) == []


@pytest.mark.parametrize("value", ["\u00b2", "5000 digits", "-1", "1e3"])
def test_a_content_length_that_is_no_number_is_read_to_the_end(client, remote, allow_local, value):
    """Remote servers may send any Content-Length; "²" passes str.isdigit() and 5,000 digits
    pass Python's limit for int(), and both once answered 500."""
    response = fetch(client, f"{remote.base}/odd-length?value={quote(value)}")
    assert response.status_code == 200
    assert body_of(response) == b"odd length"
