"""fetch: remote files imported through the server, and the SSRF guard around it."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from urllib.parse import quote

import pytest
import trustme
from django.core.exceptions import ImproperlyConfigured

from django_filepond_server import fetch as fetch_module
from django_filepond_server import guard
from django_filepond_server.checks import check_settings
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
    assert response.status_code == 504
    assert response.content.decode() == "The remote server took too long to send the file."
    assert elapsed < 4
    assert temporary_files(upload_dirs) == []
    assert not TemporaryUpload.objects.exists()


def test_a_server_that_never_answers_hits_the_read_timeout(client, remote, allow_local):
    allow_local.FILEPOND_SERVER_FETCH_READ_TIMEOUT = 0.5
    started = time.monotonic()
    response = fetch(client, f"{remote.base}/slow-headers")
    assert response.status_code == 504
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


@pytest.mark.parametrize("status", [401, 403, 404, 410, 451])
def test_a_missing_remote_file_is_the_users_mistake_422(client, remote, allow_local, status):
    """A dead or private link is a 4xx, so alerts on 5xx do not fire for typos."""
    response = fetch(client, f"{remote.base}/status/{status}")
    assert response.status_code == 422
    assert response.content.decode() == (
        f"The remote server answered with an error (HTTP {status})."
    )


@pytest.mark.parametrize("status", [500, 502, 503, 400, 429])
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


@pytest.mark.parametrize("error", [socket.EAI_NONAME, socket.EAI_NODATA])
def test_an_unknown_host_is_422(client, fetch_on, monkeypatch, error):
    def nxdomain(*args, **kwargs):
        raise socket.gaierror(error, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nxdomain)
    response = fetch(client, "http://no-such-host.invalid/")
    assert response.status_code == 422
    assert response.content.decode() == "The remote host could not be found."


def test_a_failing_resolver_is_502(client, fetch_on, monkeypatch):
    def resolver_down(*args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", resolver_down)
    response = fetch(client, "http://example.com/")
    assert response.status_code == 502
    assert response.content.decode() == "The remote host could not be looked up."


@pytest.mark.parametrize("url", ["http://a..b/", "http://" + "x" * 64 + ".example/"])
def test_a_host_name_that_cannot_be_encoded_is_400(client, fetch_on, url):
    response = fetch(client, url)
    assert response.status_code == 400
    assert response.content.decode() == "That is not a valid URL."


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


# --- allow-list and deny-list entries with a scheme, a port or a path ---------------------------


@pytest.fixture
def other_remote():
    server = RemoteServer()
    yield server
    server.stop()


def test_an_origin_entry_opens_one_scheme_and_port(client, remote, other_remote, fetch_on):
    fetch_on.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = [remote.base]
    assert fetch(client, f"{remote.base}/files/photo.png").status_code == 200
    # The same host on another port, or with another scheme, stays closed.
    for url in (
        f"{other_remote.base}/files/photo.png",
        f"https://127.0.0.1:{remote.port}/files/photo.png",
        "http://127.0.0.1/",
    ):
        response = fetch(client, url)
        assert response.status_code == 403, url
        assert response.content.decode() == (
            "The server is not allowed to fetch files from that address."
        )
    assert len(remote.requests) == 1 and other_remote.requests == []


def test_an_origin_entry_without_a_port_means_the_schemes_default(client, fetch_on, no_connections):
    fetch_on.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = ["https://10.0.0.5"]
    for url in ("http://10.0.0.5/", "https://10.0.0.5:8443/", "http://10.0.0.5:443/"):
        assert fetch(client, url).status_code == 403, url


def test_an_origin_entry_by_host_name(client, remote, fetch_on, monkeypatch):
    fetch_on.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = [f"http://images.internal.test:{remote.port}"]

    def internal(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", internal)
    assert (
        fetch(client, f"http://images.internal.test:{remote.port}/files/photo.png").status_code
        == 200
    )
    assert (
        fetch(client, f"http://other.internal.test:{remote.port}/files/photo.png").status_code
        == 403
    )


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/files/photo.png", 200),
        ("/files/r%C3%A9sum%C3%A9%20100%25.pdf", 200),
        ("/download?id=7", 403),
        ("/filesystem", 403),
        ("/", 403),
        # Paths that a server could resolve to outside the prefix cannot be judged: refused.
        ("/files/../download", 403),
        ("/files/%2e%2e/download", 403),
        ("/files/%2E%2E%2Fdownload", 403),
        ("/files/..;/download", 403),
        ("/files/..%5cdownload", 403),
        ("/files/%252e%252e/download", 403),
    ],
)
def test_a_prefix_entry_opens_the_paths_below_it(client, remote, fetch_on, path, status):
    fetch_on.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = [f"{remote.base}/files/"]
    response = fetch(client, f"{remote.base}{path}")
    assert response.status_code == status, path
    assert len(remote.requests) == (1 if status == 200 else 0)


def test_a_prefix_without_a_trailing_slash_is_a_whole_segment(client, remote, fetch_on):
    fetch_on.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = [f"{remote.base}/files"]
    assert fetch(client, f"{remote.base}/files/photo.png").status_code == 200
    fetch_on.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = [f"{remote.base}/fil"]
    assert fetch(client, f"{remote.base}/files/photo.png").status_code == 403


def test_redirects_are_matched_against_the_entries_too(client, remote, other_remote, fetch_on):
    fetch_on.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = [
        f"{remote.base}/redirect",
        f"{remote.base}/files/",
    ]
    inside = quote(f"{remote.base}/files/photo.png", safe="")
    assert fetch(client, f"{remote.base}/redirect?to={inside}").status_code == 200
    remote.requests.clear()
    for target in (f"{remote.base}/download?id=7", f"{other_remote.base}/files/photo.png"):
        response = fetch(client, f"{remote.base}/redirect?to={quote(target, safe='')}")
        assert response.status_code == 403, target
    assert [path.split("?")[0] for path, _headers in remote.requests] == ["/redirect"] * 2
    assert other_remote.requests == []


def test_a_deny_list_prefix_closes_paths_and_whatever_it_cannot_judge(client, remote, allow_local):
    allow_local.FILEPOND_SERVER_FETCH_DENIED_HOSTS = [f"{remote.base}/download"]
    assert fetch(client, f"{remote.base}/files/photo.png").status_code == 200
    assert fetch(client, f"{remote.base}/download?id=7").status_code == 403
    assert fetch(client, f"{remote.base}/files/../download").status_code == 403
    assert fetch(client, f"{remote.base}/files/%2e%2e/download").status_code == 403


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("files.intranet.example", guard.HostRule(name="files.intranet.example")),
        ("Files.Intranet.Example.", guard.HostRule(name="files.intranet.example")),
        (".intranet.example", guard.HostRule(name=".intranet.example")),
        ("bücher.example", guard.HostRule(name="bücher.example")),
        ("10.0.0.5", guard.HostRule(network=ipaddress.ip_network("10.0.0.5/32"))),
        ("10.20.1.2/16", guard.HostRule(network=ipaddress.ip_network("10.20.0.0/16"))),
        ("fd00::/8", guard.HostRule(network=ipaddress.ip_network("fd00::/8"))),
        (
            "https://images.internal:8443",
            guard.HostRule(name="images.internal", scheme="https", port=8443),
        ),
        ("HTTP://Images.Internal/", guard.HostRule(name="images.internal", scheme="http", port=80)),
        (
            "http://[fd00::5]:8080/a%20b/",
            guard.HostRule(
                network=ipaddress.ip_network("fd00::5/128"), scheme="http", port=8080, path="/a b/"
            ),
        ),
        (
            "https://.cdn.example/public",
            guard.HostRule(name=".cdn.example", scheme="https", port=443, path="/public"),
        ),
    ],
)
def test_host_entries_that_are_understood(entry, expected):
    assert guard.parse_host_entry(entry) == expected


BAD_ENTRIES = [
    "",
    "   ",
    42,
    "ftp://files.example",
    "https://",
    "https://host:99999",
    "https://host:port",
    "https://user:pw@host",
    "https://host/path?query=1",
    "https://host/#fragment",
    "https://host/a/../b",
    "https://[::1",
    "files.example:8080",
    "two words.example",
    "host/path",
    "*.example.com",
]


@pytest.mark.parametrize("entry", BAD_ENTRIES)
def test_host_entries_that_are_refused(entry):
    with pytest.raises(ValueError, match=r"."):
        guard.parse_host_entry(entry)


def check_ids() -> list[str]:
    return sorted(message.id for message in check_settings() if message.id)


def test_the_check_accepts_every_entry_form(settings):
    settings.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = [
        "intranet.example",
        ".corp.example",
        "10.0.0.0/8",
        "fd00::5",
        "https://images.internal:8443",
        "https://cdn.example/public/",
        "http://[fd00::5]:8080",
    ]
    settings.FILEPOND_SERVER_FETCH_DENIED_HOSTS = ["https://cdn.example/public/private/"]
    assert check_ids() == []


@pytest.mark.parametrize("name", ["ALLOWED_HOSTS", "DENIED_HOSTS"])
@pytest.mark.parametrize("entry", BAD_ENTRIES)
def test_the_check_refuses_malformed_entries(settings, name, entry):
    setattr(settings, f"FILEPOND_SERVER_FETCH_{name}", ["10.0.0.0/8", entry])
    assert check_ids() == ["django_filepond_server.E010"]
    (message,) = check_settings()
    assert repr(entry) in message.msg


def test_a_malformed_entry_left_in_place_is_a_configuration_error(client, fetch_on, no_connections):
    fetch_on.FILEPOND_SERVER_FETCH_DENIED_HOSTS = ["ftp://files.example"]
    with pytest.raises(ImproperlyConfigured, match="FILEPOND_SERVER_FETCH_DENIED_HOSTS"):
        fetch_module.resolve("http://93.184.216.34/")


# --- name resolution within the deadline ---------------------------------------------------------


@pytest.fixture
def silent_resolver(monkeypatch):
    """A resolver that does not answer: each lookup waits until the test ends (or, were the
    deadline not kept, 60 seconds, then fails as no name would)."""
    release = threading.Event()
    lookups = []

    def never_answers(host, *args, **kwargs):
        lookups.append(host)
        release.wait(60)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", never_answers)
    yield lookups
    release.set()


def test_a_resolver_that_never_answers_is_cut_off_at_the_deadline(
    client, fetch_on, silent_resolver
):
    fetch_on.FILEPOND_SERVER_FETCH_DEADLINE = 1
    response = fetch(client, "http://slow-dns.example/file.pdf")
    assert response.status_code == 504
    assert response.content.decode() == "The remote host could not be looked up in time."
    assert silent_resolver == ["slow-dns.example"]


def test_lookups_that_never_end_hold_a_bounded_number_of_threads(
    client, fetch_on, silent_resolver, monkeypatch
):
    fetch_on.FILEPOND_SERVER_FETCH_DEADLINE = 0.5
    monkeypatch.setattr(fetch_module, "_lookup_slots", threading.BoundedSemaphore(1))
    for _ in range(3):
        response = fetch(client, "http://slow-dns.example/")
        assert response.status_code == 504
    # The first lookup still holds the only slot: the others never started one.
    assert silent_resolver == ["slow-dns.example"]


# --- URLs and answers that used to raise ---------------------------------------------------------


def test_a_url_with_non_ascii_characters_is_encoded(client, remote, allow_local):
    response = fetch(client, f"{remote.base}/files/résumé 100%.pdf")
    assert response.status_code == 200
    assert body_of(response) == b"%PDF-1.4"
    assert remote.requests[-1][0] == "/files/r%C3%A9sum%C3%A9%20100%25.pdf"
    upload = TemporaryUpload.objects.get(pk=response["X-Content-Transfer-Id"])
    assert upload.file_name == "résumé 100%.pdf"


def test_a_query_with_non_ascii_characters_and_controls_is_encoded(client, remote, allow_local):
    response = fetch(client, f"{remote.base}/status/404?q=東京 a\u0085b&x=%zz")
    assert response.status_code == 422
    assert remote.requests[-1][0] == "/status/404?q=%E6%9D%B1%E4%BA%AC%20a%C2%85b&x=%25zz"


def test_a_location_in_utf8_is_followed(client, remote, allow_local):
    to = quote("/files/résumé 100%.pdf", safe="")
    response = fetch(client, f"{remote.base}/redirect?utf8=1&to={to}")
    assert response.status_code == 200
    assert remote.requests[-1][0] == "/files/r%C3%A9sum%C3%A9%20100%25.pdf"


def test_an_international_host_name_is_sent_as_idna(client, remote, fetch_on, monkeypatch):
    fetch_on.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = ["bücher.test"]
    lookups = []

    def resolve(host, port, *args, **kwargs):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    response = fetch(client, f"http://Bücher.test:{remote.port}/files/photo.png")
    assert response.status_code == 200
    assert remote.requests[-1][1]["Host"] == f"xn--bcher-kva.test:{remote.port}"


def test_a_content_length_that_is_not_ascii_digits_is_ignored(client, remote, allow_local):
    response = fetch(client, f"{remote.base}/superscript-length")
    assert response.status_code == 200
    assert body_of(response) == b"superscript body"
    assert response["Content-Length"] == "16"


# --- HTTPS: the checked address, the original host name for SNI and the certificate ------------


@pytest.fixture(scope="module")
def test_ca():
    return trustme.CA()


@pytest.fixture
def tls_remote(test_ca, tmp_path, monkeypatch, fetch_on):
    """Start an HTTPS server on 127.0.0.1 whose certificate, from ``test_ca``, names
    ``cert_for``. ``files.tls.test`` resolves to it and is allowed, and the system's trusted
    authorities are ``test_ca`` alone."""
    servers = []
    ca_file = tmp_path / "ca.pem"
    test_ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    def resolve(host, port, *args, **kwargs):
        assert host == "files.tls.test"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)

    def start(cert_for: str = "files.tls.test") -> RemoteServer:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        test_ca.issue_cert(cert_for).configure_cert(context)
        server = RemoteServer(tls=context)
        servers.append(server)
        fetch_on.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = [f"https://files.tls.test:{server.port}"]
        return server

    yield start
    for server in servers:
        server.stop()


def test_https_reaches_the_checked_address_under_the_host_name(client, tls_remote):
    tls_remote = tls_remote()
    response = fetch(client, f"https://files.tls.test:{tls_remote.port}/files/photo.png")
    assert response.status_code == 200
    assert body_of(response) == PNG
    assert tls_remote.server_names == ["files.tls.test"]
    assert tls_remote.requests[-1][1]["Host"] == f"files.tls.test:{tls_remote.port}"


def test_https_refuses_a_certificate_for_another_name(client, tls_remote):
    tls_remote = tls_remote(cert_for="other.tls.test")
    response = fetch(client, f"https://files.tls.test:{tls_remote.port}/files/photo.png")
    assert response.status_code == 502
    assert response.content.decode() == "The remote server's certificate could not be verified."
    assert tls_remote.requests == []


def test_https_refuses_a_certificate_from_an_unknown_authority(
    client, tls_remote, tmp_path, monkeypatch
):
    tls_remote = tls_remote()
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    monkeypatch.setenv("SSL_CERT_FILE", str(other_ca))
    response = fetch(client, f"https://files.tls.test:{tls_remote.port}/files/photo.png")
    assert response.status_code == 502
    assert response.content.decode() == "The remote server's certificate could not be verified."
    assert tls_remote.server_names == ["files.tls.test"]  # the handshake did start
    assert tls_remote.requests == []


@pytest.mark.parametrize("value", ["\u00b2", "5000 digits", "-1", "1e3"])
def test_a_content_length_that_is_no_number_is_read_to_the_end(client, remote, allow_local, value):
    """Remote servers may send any Content-Length; "²" passes str.isdigit() and 5,000 digits
    pass Python's limit for int(), and both once answered 500."""
    response = fetch(client, f"{remote.base}/odd-length?value={quote(value)}")
    assert response.status_code == 200
    assert body_of(response) == b"odd length"
