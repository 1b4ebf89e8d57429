"""Requests racing on one upload over real HTTP (run on SQLite and on PostgreSQL)."""

from __future__ import annotations

import http.client
import threading
import time
from urllib.parse import urlsplit

import pytest

from django_filepond_server.models import TemporaryUpload
from django_filepond_server.temporary import get_temporary_area

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

N = 256 * 1024
CHUNK_A = b"A" * N
CHUNK_B = b"B" * N


def connect(live_server) -> http.client.HTTPConnection:
    parts = urlsplit(live_server.url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)


def start(live_server, length: int) -> tuple[str, str]:
    """Start a transfer; returns its id and the session cookie that owns it."""
    conn = connect(live_server)
    boundary = "xyzzy"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="filepond"\r\n\r\n{{}}\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    conn.request(
        "POST",
        "/fp/",
        body,
        {"Content-Type": f"multipart/form-data; boundary={boundary}", "Upload-Length": str(length)},
    )
    response = conn.getresponse()
    assert response.status == 200
    upload_id = response.read().decode()
    cookie = response.getheader("Set-Cookie").split(";", 1)[0]
    conn.close()
    return upload_id, cookie


def patch_headers(offset: int, length: int, size: int, cookie: str) -> dict[str, str]:
    return {
        "Cookie": cookie,
        "Content-Type": "application/offset+octet-stream",
        "Content-Length": str(size),
        "Upload-Offset": str(offset),
        "Upload-Length": str(length),
        "Upload-Name": "race.bin",
    }


def send_patch(live_server, upload, offset: int, length: int, body: bytes):
    upload_id, cookie = upload
    conn = connect(live_server)
    headers = patch_headers(offset, length, len(body), cookie)
    conn.request("PATCH", f"/fp/?patch={upload_id}", body, headers)
    response = conn.getresponse()
    result = (response.status, response.getheader("Upload-Offset"), response.read())
    conn.close()
    return result


def test_a_retry_racing_a_slow_chunk_neither_corrupts_nor_drops_data(live_server):
    """A slow chunk is still streaming when the client (having timed out) retries it and goes
    on to the next chunk. The retry must wait for the slow one, be acknowledged without a
    second write, and the next chunk must land after it."""
    length = 2 * N
    upload = start(live_server, length)
    upload_id = upload[0]

    slow = connect(live_server)
    slow.putrequest("PATCH", f"/fp/?patch={upload_id}")
    for name, value in patch_headers(0, length, N, upload[1]).items():
        slow.putheader(name, value)
    slow.endheaders()
    slow.send(CHUNK_A[: N // 2])
    time.sleep(0.5)  # the server is now inside the slow chunk, holding the upload

    results: dict[str, tuple] = {}

    def retry_then_next() -> None:
        results["retry"] = send_patch(live_server, upload, 0, length, CHUNK_A)
        results["next"] = send_patch(live_server, upload, N, length, CHUNK_B)

    worker = threading.Thread(target=retry_then_next)
    worker.start()
    time.sleep(1.5)
    assert "retry" not in results, "the retry should wait while the slow chunk holds the lock"
    slow.send(CHUNK_A[N // 2 :])
    slow_response = slow.getresponse()
    assert slow_response.status == 204
    slow.close()
    worker.join(timeout=60)

    assert results["retry"][0] == 204
    assert results["retry"][1] == str(N)
    assert results["next"][0] == 204
    assert results["next"][1] == str(2 * N)
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.received == 2 * N
    assert upload.complete
    with get_temporary_area().open(upload_id) as f:
        assert f.read() == CHUNK_A + CHUNK_B


def test_two_identical_patches_at_once_write_the_chunk_once(live_server):
    length = N
    upload = start(live_server, length)
    upload_id = upload[0]
    results: list[tuple] = []

    def send() -> None:
        results.append(send_patch(live_server, upload, 0, length, CHUNK_A))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [r[0] for r in results] == [204, 204], results
    assert [r[1] for r in results] == [str(N), str(N)]
    assert get_temporary_area().size(upload_id) == N
    assert TemporaryUpload.objects.get(pk=upload_id).received == N


def test_a_client_that_goes_away_mid_chunk_leaves_nothing_behind(live_server):
    length = 2 * N
    upload = start(live_server, length)
    upload_id = upload[0]
    assert send_patch(live_server, upload, 0, length, CHUNK_A)[0] == 204

    broken = connect(live_server)
    broken.putrequest("PATCH", f"/fp/?patch={upload_id}")
    for name, value in patch_headers(N, length, N, upload[1]).items():
        broken.putheader(name, value)
    broken.endheaders()
    broken.send(CHUNK_B[:1000])
    broken.close()

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and get_temporary_area().size(upload_id) != N:
        time.sleep(0.05)
    time.sleep(0.2)
    assert TemporaryUpload.objects.get(pk=upload_id).received == N
    assert get_temporary_area().size(upload_id) == N
    # The resumed chunk completes the file.
    assert send_patch(live_server, upload, N, length, CHUNK_B)[1] == str(2 * N)
    with get_temporary_area().open(upload_id) as f:
        assert f.read() == CHUNK_A + CHUNK_B
