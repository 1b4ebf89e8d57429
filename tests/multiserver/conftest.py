"""Fixtures of the multi-server tests: three gunicorn app servers behind nginx, on the test
database (PostgreSQL) and one S3 bucket reached through a relay the tests can cut.

Without nginx, gunicorn or (for the tests with FilePond) Chromium the tests are skipped,
unless ``FILEPOND_REQUIRE_NGINX`` is set (as CI does), so a missing install cannot pass
quietly. On SQLite they are always skipped: app servers that share uploads need a database
they share (check ``W005``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser import conftest as browser_fixtures
from tests.multiserver.cluster import (
    AppServer,
    FaultProxy,
    Gate,
    LoadBalancer,
    Request,
    start_all,
    stop_all,
    unavailable,
)

# The browser tests' sample files, as a fixture of this package too.
make_file = browser_fixtures.make_file

#: The STORAGES aliases of the temporary area and the permanent store, in every server.
TMP, STORE = "shared-tmp", "shared-store"
#: Longest wait for the widget; a 30 MB upload through three servers and moto, on a busy
#: two-core machine, takes seconds, not minutes.
TIMEOUT_MS = 120_000


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "multiserver: several app servers behind nginx")


@pytest.fixture(scope="session")
def multiserver_ready(django_db_setup: None) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip(
            "several app servers need a database they share: run with "
            "FILEPOND_TEST_DB=postgresql (SQLite is a file on one machine, check W005)"
        )
    reason = unavailable()
    if reason is not None:
        if required():
            pytest.fail(reason)
        pytest.skip(reason)


def required() -> bool:
    return bool(os.environ.get("FILEPOND_REQUIRE_NGINX"))


@pytest.fixture(scope="package")
def browser(multiserver_ready: None) -> Iterator[Any]:
    """The browser tests' headless Chromium; required when nginx is."""
    needed = required() or bool(os.environ.get("FILEPOND_REQUIRE_BROWSER"))
    with browser_fixtures.headless_chromium(required=needed) as chromium:
        yield chromium


class Cluster:
    """Three app servers ``a``, ``b`` and ``c`` behind nginx, sharing the test database and a
    prefix of the S3 bucket, each with an empty directory of its own."""

    names = ("a", "b", "c")

    def __init__(self, root: Path, s3: Any, database: dict[str, Any], temp_storage: bool):
        self.root = root
        self.s3 = s3
        self.prefix = f"filepond-tests/multiserver-{secrets.token_hex(4)}"
        endpoint = urlsplit(s3.endpoint)
        tunnel = endpoint.scheme == "https"
        port = endpoint.port or (443 if tunnel else 80)
        # The app servers reach S3 only through the relay; the test process goes direct.
        self.proxy = FaultProxy(None if tunnel else (endpoint.hostname or "", port), tunnel=tunnel)
        client: dict[str, Any] = {
            # Fail fast while S3 is unreachable, so a chunk is answered 503 within seconds.
            "connect_timeout": 2,
            "read_timeout": 20,
            "retries": {"max_attempts": 2, "mode": "standard"},
        }
        server_endpoint = s3.endpoint
        if tunnel:
            client["proxies"] = {"https": f"http://127.0.0.1:{self.proxy.port}"}
        else:
            server_endpoint = f"http://127.0.0.1:{self.proxy.port}"
        storages = {
            alias: s3.storage_options(
                location=f"{self.prefix}/{place}", endpoint_url=server_endpoint, client=client
            )
            for alias, place in ((TMP, "tmp"), (STORE, "store"))
        }
        self.gate = Gate(root / "gate")
        config = {
            "database": database,
            "storages": storages,
            "temp_storage": TMP if temp_storage else None,
            "store": STORE,
            "gate_dir": str(self.gate.directory),
        }
        self.servers = {name: AppServer(name, root / name, config) for name in self.names}
        self.balancer = LoadBalancer(root / "nginx", self.servers.values())

    def start(self) -> None:
        self.proxy.start()
        start_all(self.servers.values())
        self.balancer.start()

    def stop(self) -> None:
        self.balancer.stop()
        stop_all(self.servers.values())
        self.proxy.stop()
        self.empty_bucket()

    @property
    def url(self) -> str:
        return self.balancer.url

    def storage_options(self, place: str) -> dict[str, Any]:
        """``STORAGES`` entry of the test process for ``tmp`` or ``store``: straight to S3."""
        return self.s3.storage_options(location=f"{self.prefix}/{place}")  # type: ignore[no-any-return]

    def truncate_logs(self) -> None:
        # The servers and nginx append (O_APPEND), so they go on writing from the new end.
        for log in [s.access_log for s in self.servers.values()] + [self.balancer.access_log]:
            if log.exists():
                log.write_bytes(b"")

    def requests(self, upload_id: str, *methods: str) -> dict[str, list[Request]]:
        """Per server, the requests of ``methods`` that named ``upload_id`` in ``?patch=``."""
        return {
            name: [
                r for r in server.requests() if r.method in methods and r.upload_id() == upload_id
            ]
            for name, server in self.servers.items()
        }

    def served(self, method: str) -> dict[str, list[Request]]:
        """Per server, every request of ``method`` it answered."""
        return {
            name: [r for r in server.requests() if r.method == method]
            for name, server in self.servers.items()
        }

    def empty_bucket(self) -> None:
        """Remove the run's objects and abort its multipart uploads (a real, persistent bucket
        is left as it was found)."""
        client = self.s3.client()
        bucket = self.s3.bucket
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=self.prefix + "/"
        ):
            for entry in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=entry["Key"])
        uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=self.prefix + "/")
        for upload in uploads.get("Uploads", []):
            client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )

    def keys(self, place: str) -> list[str]:
        """Object names under ``tmp`` or ``store``, relative to it."""
        root = f"{self.prefix}/{place}/"
        client = self.s3.client()
        return sorted(
            entry["Key"][len(root) :]
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=self.s3.bucket, Prefix=root
            )
            for entry in page.get("Contents", [])
        )


def _database() -> dict[str, Any]:
    from django.db import connection

    given = connection.settings_dict
    return {
        "ENGINE": given["ENGINE"],
        "NAME": given["NAME"],  # the test database pytest-django created
        "USER": given["USER"],
        "PASSWORD": given["PASSWORD"],
        "HOST": given["HOST"],
        "PORT": given["PORT"],
    }


def start_cluster(
    tmp_path_factory: pytest.TempPathFactory, s3_server: Any, *, temp_storage: bool
) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("cluster"), s3_server, _database(), temp_storage)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def cluster(
    multiserver_ready: None, tmp_path_factory: pytest.TempPathFactory, s3_server: Any
) -> Iterator[Cluster]:
    """Three app servers with the temporary area on S3."""
    yield from start_cluster(tmp_path_factory, s3_server, temp_storage=True)


@pytest.fixture(scope="module")
def local_cluster(
    multiserver_ready: None, tmp_path_factory: pytest.TempPathFactory, s3_server: Any
) -> Iterator[Cluster]:
    """Three app servers, each with the temporary area in its own local directory."""
    yield from start_cluster(tmp_path_factory, s3_server, temp_storage=False)


@pytest.fixture
def shared_settings(settings: Any, cluster: Cluster) -> Any:
    """This test process configured as one more app server (straight to S3): for cleanup and
    for reading what the servers wrote."""
    settings.STORAGES = {
        **settings.STORAGES,
        TMP: cluster.storage_options("tmp"),
        STORE: cluster.storage_options("store"),
    }
    settings.FILEPOND_SERVER_TEMP_STORAGE = TMP
    settings.FILEPOND_SERVER_STORAGE = STORE
    return settings


@pytest.fixture
def context(browser: Any, cluster: Cluster) -> Iterator[Any]:
    """A fresh browser profile, on the site nginx serves."""
    from tests.browser.support import browser_context

    with browser_context(browser, cluster.url, timeout_ms=TIMEOUT_MS) as ctx:
        yield ctx


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


@pytest.fixture(autouse=True)
def fresh_logs_and_gate(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test reads only its own requests in the logs, and finds no gate armed."""
    names = [name for name in ("cluster", "local_cluster") if name in request.fixturenames]
    if not names:
        yield
        return
    cluster: Cluster = request.getfixturevalue(names[0])
    cluster.truncate_logs()
    yield
    cluster.gate.reset()
