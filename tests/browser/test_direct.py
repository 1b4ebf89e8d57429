"""Direct uploads from the real FilePond in Chromium, with the package's ``direct.js``: a form
field with ``transport="direct"`` sends a file of about 20 MB straight to S3 (moto, with the
bucket's CORS rules taken from docs/direct.rst; see tests/direct_s3.py) in parallel parts,
and the app's access log shows only small requests. The same page works without S3, the
app's own target standing in for the bucket."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from django_filepond_server.models import StoredUpload, TemporaryUpload
from tests.browser.direct_pages import AccessLog
from tests.browser.forms_support import FormPage
from tests.browser.support import TIMEOUT_MS, browser_context, eventually, sha256
from tests.browser.wire import wire

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOCS = Path(__file__).resolve().parent.parent.parent / "docs" / "direct.rst"
#: "A few kilobytes": the largest request body the app may see while the bytes go to S3.
SMALL_BODY = 4096
SIZE = 20_000_000


def documented_cors(origin: str) -> dict[str, Any]:
    """The bucket CORS configuration of docs/direct.rst, for ``origin``."""
    text = DOCS.read_text()
    block = text.split(":caption: cors.json", 1)[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line.strip() and not line.startswith("   "):
            break
        lines.append(line)
    config = json.loads("\n".join(lines))
    for rule in config["CORSRules"]:
        rule["AllowedOrigins"] = [
            origin if o == "https://www.example.com" else o for o in rule["AllowedOrigins"]
        ]
    return config  # type: ignore[no-any-return]


@pytest.fixture
def site_urlconf() -> str:
    return "tests.browser.direct_pages"


@pytest.fixture
def access_log(site: str) -> Iterator[AccessLog]:
    """Every request the app server handles during the test, the page and its scripts
    included."""
    with AccessLog() as log:
        yield log


@pytest.fixture
def page(browser: Any, site: str, access_log: AccessLog) -> Iterator[FormPage]:
    with browser_context(browser, site, timeout_ms=TIMEOUT_MS * 3) as context:
        yield FormPage(context.new_page()).goto("/", ponds=1)


@pytest.fixture
def cors_bucket(direct_s3: Any, direct_area: Any, site: str) -> Iterator[Any]:
    """The bucket with the CORS rules the docs give, for the live server's origin; the
    temporary area and the permanent store in it (``direct_area``)."""
    client = direct_s3.client()
    try:
        previous = client.get_bucket_cors(Bucket=direct_s3.bucket)
    except Exception:
        previous = None
    try:
        client.put_bucket_cors(Bucket=direct_s3.bucket, CORSConfiguration=documented_cors(site))
    except Exception as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") != "NotImplemented":
            raise
        # MinIO: it has no bucket CORS rules (it answers every origin), so these cannot be
        # the docs' rules at work.
        pytest.skip(f"{direct_s3.endpoint} does not take bucket CORS rules")
    if direct_s3.gateway is not None:
        direct_s3.gateway.reset()
    yield SimpleNamespace(s3=direct_s3, gateway=direct_s3.gateway, **vars(direct_area))
    if previous is None:
        client.delete_bucket_cors(Bucket=direct_s3.bucket)
    else:
        client.put_bucket_cors(
            Bucket=direct_s3.bucket, CORSConfiguration={"CORSRules": previous["CORSRules"]}
        )


@pytest.fixture
def film(tmp_path: Path) -> tuple[Path, bytes]:
    import random

    data = random.Random("film").randbytes(SIZE)
    path = tmp_path / "film.bin"
    path.write_bytes(data)
    return path, data


def browser_sha256(page: FormPage, url: str) -> str:
    """sha256 of what ``url`` answers to the page (a GET with the page's cookies)."""
    return page.page.evaluate(  # type: ignore[no-any-return]
        """async (url) => {
          const response = await fetch(url);
          if (!response.ok) throw new Error(`${url}: ${response.status}`);
          const digest = await crypto.subtle.digest('SHA-256', await response.arrayBuffer());
          return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
        }""",
        url,
    )


def submit(page: FormPage) -> dict[str, Any]:
    with page.page.expect_response("**/submit/") as response:
        page.page.click("button[type=submit]")
    assert response.value.status == 200, response.value.text()
    return response.value.json()  # type: ignore[no-any-return]


def test_a_20_mb_file_goes_straight_to_s3_and_the_app_sees_only_small_requests(
    page: FormPage, cors_bucket: Any, film: tuple[Path, bytes], caplog: Any, access_log: AccessLog
) -> None:
    path, data = film
    gateway = cors_bucket.gateway
    if gateway is not None:
        gateway.failures[2] = 1  # the first try of part 2 fails: only it is sent again
    caplog.set_level(logging.DEBUG, logger="django_filepond_server.api")
    page.add("document", path)
    (item,) = page.wait_for_states("document", "processing-complete")
    upload_id = item["serverId"]
    assert item["hidden"] == upload_id
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert (upload.complete, upload.received, upload.field_name) == (True, SIZE, "document")
    assert upload.file_name == "film.bin" and upload.area == "direct-tmp"

    assert browser_sha256(page, f"/fp/?restore={upload_id}") == sha256(data)
    stored = submit(page)
    assert browser_sha256(page, f"/fp/?load={stored['stored']}") == sha256(data)

    # The bytes went to S3, the app's requests (the page and its scripts included) were all
    # small.
    largest = access_log.largest()
    assert largest.body_length is not None and largest.body_length <= SMALL_BODY, largest
    direct = [e.path for e in wire.exchanges if e.path.startswith("/fp/direct")]
    if gateway is not None:
        # Begin signed the three parts; the retry of part 2 asked for a fresh URL.
        assert direct == ["/fp/direct/", "/fp/direct/parts/", "/fp/direct/complete/"]
        assert sorted(gateway.parts) == [(1, 200), (2, 200), (2, 500), (3, 200)], gateway.parts
        assert gateway.most_in_flight >= 2  # parts in parallel
    # Stored in the same bucket by S3 itself, and byte for byte the same.
    assert any(r.getMessage().endswith("; 0 bytes passed through the app") for r in caplog.records)
    s3 = cors_bucket.s3
    name = StoredUpload.objects.get(pk=stored["stored"]).file.name
    key = f"{s3.run_prefix}/{cors_bucket.store}/{name}"
    assert sha256(s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read()) == sha256(data)


def test_a_small_file_goes_in_one_form_post_and_cancel_aborts_a_large_one(
    page: FormPage, cors_bucket: Any, tmp_path: Path, film: tuple[Path, bytes]
) -> None:
    small = tmp_path / "notes.txt"
    small.write_bytes(b"Minutes of the meeting.\n" * 300)
    page.add("document", small)
    (item,) = page.wait_for_states("document", "processing-complete")
    assert browser_sha256(page, f"/fp/?restore={item['serverId']}") == sha256(small.read_bytes())
    assert TemporaryUpload.objects.get(pk=item["serverId"]).detected_type == "text/plain"

    gateway = cors_bucket.gateway
    if gateway is None:
        return  # the parts cannot be held on their way to a real S3
    gateway.hold = hold = threading.Event()
    page.add("document", film[0])  # replaces the small file
    eventually(lambda: gateway.in_flight >= 2)  # parts are on their way, held
    begun = TemporaryUpload.objects.get(complete=False)
    assert len(cors_bucket.s3.multipart_uploads(cors_bucket.tmp)) == 1
    page.page.locator(".filepond--action-abort-item-processing").click()
    hold.set()
    eventually(lambda: not TemporaryUpload.objects.filter(pk=begun.pk).exists())
    eventually(lambda: cors_bucket.s3.multipart_uploads(cors_bucket.tmp) == [])
    assert page.items("document") == []


def test_without_s3_the_same_page_sends_the_bytes_to_the_apps_own_target(
    page: FormPage, film: tuple[Path, bytes], access_log: AccessLog
) -> None:
    path, data = film
    page.add("document", path)
    (item,) = page.wait_for_states("document", "processing-complete")
    upload_id = item["serverId"]
    assert browser_sha256(page, f"/fp/?restore={upload_id}") == sha256(data)
    stored = submit(page)
    assert browser_sha256(page, f"/fp/?load={stored['stored']}") == sha256(data)
    # Every large body went to the signed target, one part per request.
    large = [e for e in access_log.entries if (e.body_length or 0) > SMALL_BODY]
    assert len(large) == 3
    assert all(
        e.method == "PUT" and re.match(r"^/fp/direct/target/[\w:-]+/?$", e.path) for e in large
    )
    assert TemporaryUpload.objects.count() == 0  # stored: the temporary upload is gone


def test_without_the_buckets_cors_rules_the_browser_cannot_send_the_bytes(
    page: FormPage, cors_bucket: Any, film: tuple[Path, bytes]
) -> None:
    """The CORS rules are what lets the page reach the bucket: with rules for another origin
    the parts never leave the browser, the upload fails, and it is aborted."""
    s3 = cors_bucket.s3
    s3.client().put_bucket_cors(
        Bucket=s3.bucket, CORSConfiguration=documented_cors("https://elsewhere.example.com")
    )
    page.add("document", film[0])
    (item,) = page.wait_for_states("document", "processing-error")
    assert item["status"] == "The connection to the storage failed."
    eventually(lambda: not TemporaryUpload.objects.exists())  # aborted
    eventually(lambda: s3.multipart_uploads(cors_bucket.tmp) == [])
    if cors_bucket.gateway is not None:
        assert cors_bucket.gateway.parts == []  # refused at the preflight: no part reached S3
