"""The temporary area on S3, proven with three app servers behind nginx.

The real FilePond in Chromium uploads through nginx, which spreads the requests round-robin
over three gunicorn servers that share nothing but PostgreSQL and an S3 bucket; each has its
own empty directory. Then the faults: a server killed with SIGKILL in the middle of a chunk,
S3 unreachable in the middle of an upload, and one chunk sent to two servers at once.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import Any

import pytest

from django_filepond_server.cleanup import cleanup
from django_filepond_server.models import StoredUpload, TemporaryUpload, UploadPart
from tests.browser.support import Pond, eventually
from tests.multiserver.client import call, send_patch, start_transfer, whole_file
from tests.multiserver.conftest import TMP, Cluster

pytestmark = [pytest.mark.multiserver, pytest.mark.django_db(transaction=True)]

MB = 1_000_000
#: About 30 MB, not a multiple of the 1 MB chunks.
BIG = 30 * MB + 123_457
STORAGE_DOWN = "The server could not read or write the file storage. Try again later."


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(context: Any, url: str) -> bytes:
    """GET ``url`` through nginx with the browser's cookies; the body."""
    response = context.request.get(url)
    assert response.status == 200, response.text()
    return response.body()  # type: ignore[no-any-return]


def process(context: Any, content: bytes) -> str:
    """Upload ``content`` whole through nginx, as FilePond's process request; the id."""
    note = {"name": "note.txt", "mimeType": "text/plain", "buffer": content}
    response = context.request.post("/fp/", multipart={"filepond": note})
    assert response.status == 200, response.text()
    return response.text()  # type: ignore[no-any-return]


def parts(upload_id: str) -> list[tuple[int, int]]:
    return list(
        UploadPart.objects.filter(upload_id=upload_id)
        .order_by("offset")
        .values_list("offset", "length")
    )


def objects_of(cluster: Cluster, upload_id: str) -> list[str]:
    return [key for key in cluster.keys("tmp") if key.startswith(upload_id + "/")]


def logged(check: Any) -> Any:
    """``check()`` once it holds: gunicorn and nginx write a request's log line after they
    sent its answer, so the client may see the answer first."""
    return eventually(check, timeout=10)


def offsets_accepted(cluster: Cluster, upload_id: str) -> list[int | None]:
    """The offsets of the upload's chunks answered 204, in order."""
    return sorted(
        offset for _n, _m, offset, status in chunk_log(cluster, upload_id) if status == 204
    )


def chunk_log(cluster: Cluster, upload_id: str) -> list[tuple[str, str, int | None, int]]:
    """``(server, method, offset, status)`` of every PATCH and HEAD of the upload, in no
    particular order across servers; for a HEAD the offset is the one it answered."""
    return [
        (name, r.method, r.offset if r.method == "PATCH" else r.answered, r.status)
        for name, seen in cluster.requests(upload_id, "PATCH", "HEAD").items()
        for r in seen
    ]


@pytest.mark.browser
def test_filepond_uploads_through_three_servers(
    cluster: Cluster, context: Any, page: Any, make_file: Any, shared_settings: Any
) -> None:
    sample = make_file("thirty.bin", BIG)
    pond = Pond(page).open("/fp/", chunkUploads=True, chunkSize=MB)
    pond.add(sample)
    (item,) = pond.wait_for_states("processing-complete")
    upload_id = item["serverId"]
    assert item["hidden"] == upload_id

    # Every server took chunks of this one upload, and together they took each chunk once.
    logged(lambda: offsets_accepted(cluster, upload_id) == list(range(0, BIG, MB)))
    patches = cluster.requests(upload_id, "PATCH")
    for name, seen in patches.items():
        assert seen, f"server {name} took no chunk of {upload_id}"
        assert {r.status for r in seen} == {204}, (name, seen)
    offsets = sorted(r.offset for seen in patches.values() for r in seen)
    assert offsets == list(range(0, BIG, MB))

    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert (upload.complete, upload.area, upload.node) == (True, TMP, "")
    assert (upload.file_name, upload.received) == (sample.name, BIG)
    assert [offset for offset, _length in parts(upload_id)] == offsets
    assert len(objects_of(cluster, upload_id)) == len(offsets)
    for name, server in cluster.servers.items():  # no server kept a byte on its own disk
        assert list(server.directory.glob("tmp/**/*")) == [], name

    assert sha256(fetch(context, f"/fp/?restore={upload_id}")) == sample.sha256

    # The form's view (on whichever server nginx picks) stores it into the permanent store
    # on S3, and load streams it back.
    (stored_id,) = pond.submit()["stored"]
    assert stored_id == upload_id
    stored = StoredUpload.objects.get(pk=upload_id)
    assert stored.size == BIG
    assert cluster.keys("store") == [stored.file.name]
    assert sha256(fetch(context, f"/fp/?load={upload_id}")) == sample.sha256
    assert not TemporaryUpload.objects.filter(pk=upload_id).exists()
    eventually(lambda: objects_of(cluster, upload_id) == [])

    for name, server in cluster.servers.items():
        failed = [r for r in server.requests() if r.status >= 500]
        assert failed == [], f"server {name} answered {failed}"


@pytest.mark.browser
def test_revert_by_another_server_removes_the_upload_and_its_objects(
    cluster: Cluster, page: Any, make_file: Any, shared_settings: Any
) -> None:
    sample = make_file("revert.bin", 3 * MB + 17)
    # The chunk start goes to server a and the revert to server b; the chunks round-robin.
    server = {
        "url": "/fp/",
        "process": {"headers": {"X-Route-To": "a"}},
        "revert": {"headers": {"X-Route-To": "b"}},
    }
    pond = Pond(page).open(server, chunkUploads=True, chunkSize=MB)
    pond.add(sample)
    (item,) = pond.wait_for_states("processing-complete")
    upload_id = item["serverId"]
    assert len(objects_of(cluster, upload_id)) == 4

    pond.button(sample.name, "revert-item-processing").click()
    pond.wait_for_states("idle")
    eventually(lambda: not TemporaryUpload.objects.filter(pk=upload_id).exists())
    eventually(lambda: objects_of(cluster, upload_id) == [])

    starts = [r for r in cluster.servers["a"].requests() if r.method == "POST"]
    assert [(r.route, r.status) for r in starts] == [("a", 200)]
    logged(lambda: cluster.served("DELETE")["b"])
    reverts = cluster.served("DELETE")
    assert [(r.route, r.status) for r in reverts["b"]] == [("b", 204)]
    assert reverts["a"] == reverts["c"] == []


#: FilePond's process headers as a function: the chunk start (called with the file) goes to
#: server a, the resume HEAD (called with the transfer id) to server b.
ROUTE_START_AND_RESUME = """() => {
  window.pond.server = {
    url: '/fp/',
    process: {
      headers: (fileOrId) => typeof fileOrId === 'string'
        ? { 'X-Route-To': 'b' }
        : { 'X-Route-To': 'a', 'Upload-Length': String(fileOrId.size) },
      onerror: (body) => body,
    },
    patch: { onerror: (body) => body },
  };
}"""


@pytest.mark.browser
def test_resume_by_another_server_after_s3_was_unreachable(
    cluster: Cluster, context: Any, page: Any, make_file: Any, shared_settings: Any
) -> None:
    sample = make_file("resume.bin", 6 * MB + 1)
    # No automatic retries: the failed chunk ends the transfer, and the retry button resumes.
    pond = Pond(page).open("/fp/", chunkUploads=True, chunkSize=MB, chunkRetryDelays=[])
    page.evaluate(ROUTE_START_AND_RESUME)
    cluster.gate.arm(min_offset=3 * MB)
    pond.add(sample)
    cluster.gate.wait_held()
    cluster.proxy.stop()  # S3 is unreachable while the held chunk is read
    try:
        cluster.gate.release()
        (item,) = pond.wait_for_states("processing-error")
        assert item["status"] == STORAGE_DOWN
    finally:
        cluster.proxy.start()
    upload_id = TemporaryUpload.objects.get().upload_id
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.received == 3 * MB
    assert parts(upload_id) == [(0, MB), (MB, MB), (2 * MB, MB)]

    pond.button(sample.name, "retry-item-processing").click()
    (item,) = pond.wait_for_states("processing-complete")
    assert item["serverId"] == upload_id

    logged(lambda: offsets_accepted(cluster, upload_id) == list(range(0, 7 * MB, MB)))
    log = chunk_log(cluster, upload_id)
    assert [entry for entry in log if entry[1] == "HEAD"] == [("b", "HEAD", 3 * MB, 200)]
    failed = [entry for entry in log if entry[3] != 204 and entry[1] == "PATCH"]
    assert [(method, offset, status) for _name, method, offset, status in failed] == [
        ("PATCH", 3 * MB, 503)
    ]
    # After the HEAD only the chunks from 3 MB on were sent again, each once.
    sent = sorted(offset for _name, method, offset, status in log if status == 204)
    assert sent == [0, MB, 2 * MB, 3 * MB, 4 * MB, 5 * MB, 6 * MB]
    starts = [r for r in cluster.servers["a"].requests() if r.method == "POST"]
    assert [(r.route, r.status) for r in starts] == [("a", 200)]
    assert sha256(fetch(context, f"/fp/?restore={upload_id}")) == sample.sha256


@pytest.mark.browser
def test_s3_unreachable_mid_upload_answers_503_and_loses_nothing(
    cluster: Cluster, context: Any, page: Any, make_file: Any, shared_settings: Any
) -> None:
    sample = make_file("outage.bin", 8 * MB + 5)
    delays = [500, 1000, 2000, 4000, 8000]
    pond = Pond(page).open("/fp/", chunkUploads=True, chunkSize=MB, chunkRetryDelays=delays)
    whole = process(context, b"a whole file, uploaded before the outage")
    cluster.gate.arm(min_offset=4 * MB)
    pond.add(sample)
    cluster.gate.wait_held()
    upload_id = TemporaryUpload.objects.exclude(pk=whole).get().upload_id
    cluster.proxy.stop()
    try:
        cluster.gate.release()
        eventually(lambda: [entry for entry in chunk_log(cluster, upload_id) if entry[3] == 503])
        # Nothing of the chunk was recorded, and nothing before it was lost.
        assert TemporaryUpload.objects.get(pk=upload_id).received == 4 * MB
        assert parts(upload_id) == [(offset, MB) for offset in range(0, 4 * MB, MB)]
        # The other requests that need S3 are answered 503 too, by every server.
        cookie = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
        for server in cluster.servers.values():
            status, _headers, body = call(server, "GET", f"/fp/?restore={whole}", cookie)
            assert (status, body.decode()) == (503, STORAGE_DOWN)
            status, _headers, body = call(server, "POST", "/fp/", cookie, *whole_file(b"x"))
            assert (status, body.decode()) == (503, STORAGE_DOWN)
        time.sleep(1)  # FilePond tries again meanwhile, and is refused again
    finally:
        cluster.proxy.start()
    pond.wait_for_states("processing-complete")
    assert fetch(context, f"/fp/?restore={whole}") == b"a whole file, uploaded before the outage"

    logged(lambda: offsets_accepted(cluster, upload_id) == list(range(0, 9 * MB, MB)))
    log = chunk_log(cluster, upload_id)
    refused = {(method, offset, status) for _n, method, offset, status in log if status != 204}
    assert refused == {("PATCH", 4 * MB, 503)}
    retry_after = {
        r.retry_after
        for seen in cluster.requests(upload_id, "PATCH").values()
        for r in seen
        if r.status == 503
    }
    assert retry_after == {"1"}
    assert sorted(offset for _n, _m, offset, status in log if status == 204) == list(
        range(0, 9 * MB, MB)
    )
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.complete and upload.received == sample.path.stat().st_size
    assert sha256(fetch(context, f"/fp/?restore={upload_id}")) == sample.sha256
    # Cleanup from another machine (this process), allowing no idle time at all, finds no
    # object of the upload to remove: every one is a recorded part.
    shared_settings.FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT = 0
    cleanup()
    assert objects_of(cluster, upload_id) == sorted(
        UploadPart.objects.filter(upload_id=upload_id).values_list("name", flat=True)
    )
    assert sha256(fetch(context, f"/fp/?restore={upload_id}")) == sample.sha256


@pytest.mark.browser
def test_a_server_killed_mid_chunk_is_taken_over_by_the_others(
    cluster: Cluster, context: Any, page: Any, make_file: Any, shared_settings: Any
) -> None:
    sample = make_file("killed.bin", 10 * MB + 3)
    # FilePond's default retries (after 0.5, 1 and 3 s).
    pond = Pond(page).open("/fp/", chunkUploads=True, chunkSize=MB)
    victim = cluster.servers["b"]
    cluster.gate.arm(server="b", min_offset=3 * MB)
    pond.add(sample)
    try:
        cluster.gate.wait_held()  # b has read half of a chunk
        victim.kill()
        (item,) = pond.wait_for_states("processing-complete")
    finally:
        if not victim.alive:
            victim.start()
    upload_id = item["serverId"]

    # nginx answered the chunk b was reading with 502, FilePond sent it again, and a and c
    # took it and every chunk after it.
    logged(lambda: offsets_accepted(cluster, upload_id) == list(range(0, 11 * MB, MB)))
    cut = logged(
        lambda: [
            line
            for line in cluster.balancer.lines()
            if line.startswith("PATCH ") and " 502 " in line
        ]
    )
    assert len(cut) == 1 and f"127.0.0.1:{victim.port}" in cut[0]
    log = chunk_log(cluster, upload_id)
    before_kill = [offset for name, _m, offset, _s in log if name == "b"]
    assert before_kill and max(before_kill) < 3 * MB
    assert sha256(fetch(context, f"/fp/?restore={upload_id}")) == sample.sha256


def test_one_chunk_sent_to_two_servers_at_once_is_recorded_once(
    cluster: Cluster, shared_settings: Any
) -> None:
    content = os.urandom(2 * MB + 321)
    length = len(content)
    a, b = cluster.servers["a"], cluster.servers["b"]
    upload_id, cookie = start_transfer(a, length)
    answers: dict[str, tuple[int, str | None, bytes]] = {}
    for offset in range(0, length, MB):  # the last round races the chunk that completes it
        body = content[offset : offset + MB]
        # Each server holds its copy half read until both copies are in flight.
        cluster.gate.arm(server="a", min_offset=offset)
        cluster.gate.arm(server="b", min_offset=offset)
        answers.clear()

        def send(server: Any, body: bytes = body, offset: int = offset) -> None:
            answers[server.name] = send_patch(server, upload_id, cookie, body, offset, length)

        threads = [threading.Thread(target=send, args=(server,)) for server in (a, b)]
        for thread in threads:
            thread.start()
        assert cluster.gate.wait_held(2) == ["a", "b"]
        cluster.gate.release()
        for thread in threads:
            thread.join(120)
        end = str(offset + len(body))
        assert answers == {"a": (204, end, b""), "b": (204, end, b"")}
        cluster.gate.reset()

    assert parts(upload_id) == [(0, MB), (MB, MB), (2 * MB, 321)]
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.complete and upload.received == length
    # The copy that lost each race was deleted again: one object per part.
    names = sorted(UploadPart.objects.filter(upload_id=upload_id).values_list("name", flat=True))
    assert objects_of(cluster, upload_id) == names
    status, _headers, body = call(cluster.servers["c"], "GET", f"/fp/?restore={upload_id}", cookie)
    assert status == 200
    assert sha256(body) == sha256(content)
