"""restore and load through Debian's nginx with X-Accel-Redirect: what the client gets is
what it gets when the app sends the bytes itself.

Two gunicorn servers share the test database, the temporary directory and the media root:
``offload`` hands files to nginx, ``plain`` sends them itself. nginx routes a request by its
``X-Route-To`` header, so one request goes to each and the answers are compared: status,
bytes and the headers FilePond and the browser read. The internal locations map file
extensions to other types on purpose, to show that the app's ``Content-Type`` is the one the
client sees.

Without nginx or gunicorn the tests are skipped, unless ``FILEPOND_REQUIRE_NGINX`` is set.
"""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.multiserver.client import whole_file
from tests.multiserver.cluster import AppServer, LoadBalancer, start_all, stop_all, unavailable

pytestmark = [pytest.mark.nginx, pytest.mark.django_db(transaction=True)]

COMPARED = (
    "Content-Type",
    "Content-Disposition",
    "Content-Length",
    "Content-Range",
    "X-Content-Type-Options",
    "Cache-Control",
    "Accept-Ranges",
)

#: The internal location of the deployment documentation, for one directory. Its ``types``
#: contradict the app for .html, .txt and .bin files.
INTERNAL = """
        location {prefix} {{
            internal;
            alias {directory}/;
            types {{ text/html html; application/x-nginx-guess txt bin; }}
            default_type application/x-nginx-default;
            etag off;
            if_modified_since off;
            add_header X-Content-Type-Options nosniff always;
        }}"""


class Front:
    def __init__(self, root: Path, database: dict[str, Any]) -> None:
        shared = {"temp_dir": str(root / "tmp"), "media_root": str(root / "media")}
        locations = {shared["temp_dir"]: "/_fp/tmp/", shared["media_root"]: "/_fp/store/"}
        self.servers = {
            name: AppServer(
                name,
                root / name,
                {
                    "database": database,
                    "file_offload": offload,
                    "file_offload_locations": locations,
                },
                workers=1,
            )
            for name, offload in (("offload", "x-accel-redirect"), ("plain", None))
        }
        for server in self.servers.values():
            server.config.update(shared)
        self.nginx = LoadBalancer(
            root / "nginx",
            self.servers.values(),
            locations="".join(
                INTERNAL.format(prefix=prefix, directory=directory)
                for directory, prefix in locations.items()
            ),
        )
        self.cookie = ""
        self.last_headers: list[tuple[str, str]] = []

    def request(
        self, route: str, method: str, url: str, body: bytes | None = None, **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        """``(status, headers, body)`` of a request through nginx to the server ``route``."""
        conn = http.client.HTTPConnection("127.0.0.1", self.nginx.port, timeout=60)
        try:
            sent = {"X-Route-To": route, **({"Cookie": self.cookie} if self.cookie else {})}
            conn.request(method, url, body, {**sent, **headers})
            response = conn.getresponse()
            self.last_headers = response.getheaders()
            answer = dict(self.last_headers), response.read()
        finally:
            conn.close()
        if "Set-Cookie" in answer[0] and not self.cookie:
            self.cookie = answer[0]["Set-Cookie"].split(";", 1)[0]
        return response.status, *answer

    def direct(self, url: str) -> tuple[int, dict[str, str], bytes]:
        """What the offloading server itself answers, bypassing nginx."""
        conn = http.client.HTTPConnection("127.0.0.1", self.servers["offload"].port, timeout=60)
        try:
            conn.request("GET", url, headers={"Cookie": self.cookie})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def upload(self, content: bytes, name: str) -> str:
        body, headers = whole_file(content, name)
        status, _headers, upload_id = self.request("plain", "POST", "/fp/", body, **headers)
        assert status == 200, upload_id
        return upload_id.decode()

    def store(self, upload_id: str) -> str:
        status, _headers, stored = self.request("plain", "POST", "/store/", upload_id.encode())
        assert status == 200, stored
        return stored.decode()

    def both(self, url: str, **headers: str) -> tuple[Any, Any]:
        """The answers of ``plain`` and ``offload`` through nginx: status, the compared
        headers (as a dict, and as a sorted list of every value), body."""
        answers = []
        for route in ("plain", "offload"):
            status, _got, body = self.request(route, "GET", url, **headers)
            # Every compared header with each of its values, so a repeated one shows.
            got = [(k, v) for k, v in self.last_headers if k in COMPARED]
            answers.append((status, dict(got), body, sorted(got)))
        return answers[0], answers[1]


def _database() -> dict[str, Any]:
    from django.db import connection

    given = connection.settings_dict
    keys = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    return {key: given[key] for key in keys}  # NAME: the test database pytest-django made


@pytest.fixture(scope="module")
def servers(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    reason = unavailable()
    if reason is not None:
        if os.environ.get("FILEPOND_REQUIRE_NGINX"):
            pytest.fail(reason)
        pytest.skip(reason)
    front = Front(tmp_path_factory.mktemp("offload"), _database())
    try:
        start_all(front.servers.values())
        front.nginx.start()
        yield front
    finally:
        front.nginx.stop()
        stop_all(front.servers.values())


@pytest.fixture
def front(servers: Front) -> Front:
    """The servers, with a new session: each test's database starts empty."""
    servers.cookie = ""
    return servers


FILES = [
    (os.urandom(3 * 1024 * 1024 + 17), "data.bin"),
    ("Grüße aus Köln\n".encode() * 100, "résumé 東京.txt"),
    (b"50% off, see\n" * 10, "it's 50% off & more.txt"),
    (b"<html><body><script>alert(1)</script></body></html>", "page.html"),
]


@pytest.mark.parametrize(("content", "name"), FILES, ids=[name for _, name in FILES])
def test_restore_and_load_through_nginx_match_the_app(front: Front, content, name):
    upload_id = front.upload(content, name)
    stored_id = front.store(front.upload(content, name))
    for url in (f"/fp/?restore={upload_id}", f"/fp/?load={stored_id}"):
        # The offloading server answers with an empty body and the internal URI...
        status, headers, body = front.direct(url)
        assert (status, body) == (200, b"")
        assert headers["X-Accel-Redirect"].startswith(("/_fp/tmp/", "/_fp/store/"))
        # ...and through nginx the client cannot tell the difference.
        plain, offloaded = front.both(url)
        assert plain[2] == content
        assert offloaded == plain
        assert plain[1]["Content-Length"] == str(len(content))
    if name == "page.html":
        assert plain[1]["Content-Type"] == "application/octet-stream"
        assert plain[1]["Content-Disposition"] == 'attachment; filename="page.html"'
        assert plain[1]["X-Content-Type-Options"] == "nosniff"


def test_ranges_and_conditional_requests_match_the_app(front: Front):
    content = bytes(range(256)) * 40
    upload_id = front.upload(content, "ranges.bin")
    stored_id = front.store(front.upload(content, "ranges.bin"))
    for url in (f"/fp/?restore={upload_id}", f"/fp/?load={stored_id}"):
        for headers in (
            {"Range": "bytes=100-199"},
            {"Range": "bytes=10000-"},
            {"Range": "bytes=-5"},
            {"Range": "bytes=0-99999999"},
            {"Range": "bytes=0-99999999999999999999"},  # too large for nginx: the app answers
            {"Range": "bytes=9-3"},  # ignored by the app, refused by nginx: the app answers
            {"Range": "bytes=0-1,5-6"},  # one range at most, as the app serves
            {"Range": "bytes=20000-"},  # 416 from the app itself
            {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
        ):
            plain, offloaded = front.both(url, **headers)
            assert offloaded == plain, headers
        status, headers, body, _all = front.both(url, Range="bytes=100-199")[1]
        assert (status, body) == (206, content[100:200])
        headers.pop("Content-Type")  # whatever libmagic makes of these bytes, as compared above
        assert headers == (
            {
                "Content-Disposition": 'inline; filename="ranges.bin"',
                "Content-Length": "100",
                "Content-Range": f"bytes 100-199/{len(content)}",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
                "Accept-Ranges": "bytes",
            }
        )
