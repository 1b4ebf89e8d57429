"""Three app servers with the default local temporary area: what goes wrong is said clearly.

Without ``FILEPOND_SERVER_TEMP_STORAGE`` each server keeps uploads in its own directory, so a
request that reaches another server cannot be answered from the bytes. It must never become a
500, and the server that cannot see the bytes must never delete the upload.
"""

from __future__ import annotations

from typing import Any

import pytest

from django_filepond_server.models import TemporaryUpload
from tests.multiserver.client import call, send_patch, start_transfer
from tests.multiserver.conftest import Cluster

pytestmark = [pytest.mark.multiserver, pytest.mark.django_db(transaction=True)]

ELSEWHERE = b"This upload is held by another server. Try again in a moment."


def test_a_chunk_reaching_another_server_is_a_503_and_cleanup_there_keeps_the_upload(
    local_cluster: Cluster,
) -> None:
    a, b = local_cluster.servers["a"], local_cluster.servers["b"]
    upload_id, cookie = start_transfer(a, 20)
    assert send_patch(a, upload_id, cookie, b"x" * 10, 0, 20)[:2] == (204, "10")
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.area == "" and upload.node.endswith(str(a.directory / "tmp"))

    # Server b has no file of it: a 503 that FilePond retries (and nginx may send elsewhere).
    status, headers, body = call(
        b,
        "PATCH",
        f"/fp/?patch={upload_id}",
        cookie,
        b"y" * 10,
        {
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": "10",
            "Upload-Length": "20",
        },
    )
    assert (status, body, headers["Retry-After"]) == (503, ELSEWHERE, "1")
    assert "is held by" in b.log_tail()
    # The offset is in the database, which every server reads.
    status, headers, _body = call(b, "HEAD", f"/fp/?patch={upload_id}", cookie)
    assert (status, headers["Upload-Offset"]) == (200, "10")

    # b's cleanup does not take a's live upload for a row without a file.
    cleanup = b.manage("filepond_cleanup", "--dry-run")
    assert cleanup.returncode == 0, cleanup.stderr
    assert "0 row(s) without a file" in cleanup.stdout

    # With live uploads on two servers, the system check says what to do.
    start_transfer(b, 5, cookie)
    check = b.manage("check", "--database", "default")
    assert "django_filepond_server.W006" in check.stderr
    assert "FILEPOND_SERVER_TEMP_STORAGE" in check.stderr

    # The server that holds the bytes finishes the upload.
    assert send_patch(a, upload_id, cookie, b"y" * 10, 10, 20)[:2] == (204, "20")
    status, _headers, body = call(a, "GET", f"/fp/?restore={upload_id}", cookie)
    assert (status, body) == (200, b"x" * 10 + b"y" * 10)
    for name, server in local_cluster.servers.items():
        assert [r for r in server.requests() if r.status >= 500 and r.status != 503] == [], name


@pytest.mark.browser
def test_filepond_through_nginx_shows_why_instead_of_a_500(
    local_cluster: Cluster, browser: Any, make_file: Any
) -> None:
    from tests.browser.support import Pond, eventually

    context = browser.new_context(base_url=local_cluster.url)
    context.set_default_timeout(60_000)
    try:
        pond = Pond(context.new_page()).open(
            "/fp/", messages=True, chunkUploads=True, chunkSize=100_000, chunkRetryDelays=[]
        )
        pond.add(make_file("local.bin", 300_000))
        # nginx sends the first chunk to the next server after the one that took the start.
        (item,) = pond.wait_for_states("processing-error")
    finally:
        context.close()
    assert item["status"] == ELSEWHERE.decode()
    eventually(  # gunicorn writes the log line after it sent the answer
        lambda: any(r.status == 503 for s in local_cluster.servers.values() for r in s.requests())
    )
    statuses = [r.status for s in local_cluster.servers.values() for r in s.requests()]
    assert [status for status in statuses if status >= 500] == [503]
