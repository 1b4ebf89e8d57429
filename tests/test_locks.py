"""Nothing slow happens under a lock other visitors need, and limits hold under concurrency.

Real HTTP against the live server (several requests at once, real SQLite locking on a file,
or PostgreSQL), run on both databases.
"""

from __future__ import annotations

import threading
import time

import pytest

from django_filepond_server import ownership
from django_filepond_server.models import TemporaryUpload
from django_filepond_server.temporary import get_temporary_area
from tests.test_concurrency import connect, patch_headers
from tests.test_ownership import Browser

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

#: How long the slow client takes to send its chunk.
TRICKLE_SECONDS = 20


class Trickle(threading.Thread):
    """A client that sends one chunk a byte at a time, ``seconds`` long: the whole upload, or
    the bytes from ``offset`` on of an upload of ``length``."""

    def __init__(
        self,
        live_server,
        visitor: Browser,
        upload_id: str,
        body: bytes,
        offset: int = 0,
        length: int | None = None,
        seconds: float = TRICKLE_SECONDS,
    ) -> None:
        super().__init__()
        self.connection = connect(live_server)
        self.connection.putrequest("PATCH", f"/fp/?patch={upload_id}")
        cookie = "; ".join(f"{c.name}={c.value}" for c in _cookie_jar(visitor))
        headers = patch_headers(offset, length or len(body), len(body), cookie)
        for name, value in headers.items():
            self.connection.putheader(name, value)
        self.connection.endheaders()
        self.body, self.seconds = body, seconds
        self.sent = threading.Event()  # the last byte is on its way
        self.status: int | None = None

    def run(self) -> None:
        pause = self.seconds / len(self.body)
        for number, byte in enumerate(self.body, 1):
            if number == len(self.body):
                self.sent.set()
            self.connection.send(bytes([byte]))
            time.sleep(pause)
        self.status = self.connection.getresponse().status
        self.connection.close()


def _cookie_jar(visitor: Browser):
    for handler in visitor.opener.handlers:
        if hasattr(handler, "cookiejar"):
            return handler.cookiejar
    raise AssertionError("no cookie jar")


def test_a_trickling_chunk_holds_up_no_other_visitor(live_server):
    """A phone on a bad network sends a chunk for 20 s; meanwhile another visitor uploads a
    whole file and a chunked one, restores and reverts, all answered while the chunk is still
    arriving."""
    slow, other = Browser(live_server.url), Browser(live_server.url)
    body = b"s" * 40
    transfer = slow.start(len(body))
    trickle = Trickle(live_server, slow, transfer, body)
    trickle.start()
    time.sleep(1)  # the slow chunk is now being received

    finished = other.upload(b"quick", name="quick.txt")
    chunked = other.start(6)
    assert other.patch(chunked, b"abc", 0, 6)[0] == 204
    assert other.patch(chunked, b"def", 3, 6)[0] == 204
    assert other.send("GET", f"/fp/?restore={chunked}")[:2] == (200, b"abcdef")
    assert other.send("DELETE", "/fp/", finished.encode())[0] == 204
    assert trickle.is_alive(), "the other visitor was held up until the slow chunk ended"

    trickle.join(TRICKLE_SECONDS + 30)
    assert trickle.status == 204
    with get_temporary_area().open(transfer) as f:
        assert f.read() == body
    assert TemporaryUpload.objects.get(pk=transfer).complete


def test_a_resume_head_during_a_chunk_reports_where_that_chunk_ends(live_server):
    """The file of a transfer in the local area is ahead of its row: a resume HEAD that
    comes while a chunk arrives waits for that chunk, so it never reports less than the
    server has acknowledged (a tus client would then be refused the bytes it sends)."""
    visitor = Browser(live_server.url)
    transfer = visitor.start(100)
    assert visitor.patch(transfer, b"a" * 10, 0, 100)[0] == 204
    assert visitor.patch(transfer, b"b" * 10, 10, 100)[0] == 204  # written, no row update
    trickle = Trickle(live_server, visitor, transfer, b"c" * 20, offset=20, length=100, seconds=3)
    trickle.start()
    time.sleep(1)  # the chunk is now being received, for 2 s more
    status, _, headers = visitor.send("HEAD", f"/fp/?patch={transfer}")
    assert trickle.sent.is_set(), "the HEAD did not wait for the chunk"
    assert (status, headers["Upload-Offset"]) == (200, "40")
    trickle.join(10)
    assert trickle.status == 204
    assert TemporaryUpload.objects.get(pk=transfer).received == 10  # the row lags


def test_a_slow_validator_holds_up_no_other_visitor(live_server, settings):
    started, release = threading.Event(), threading.Event()

    def slow_validator(upload, f):
        if upload.file_name == "slow.bin":
            started.set()
            release.wait(10)

    settings.FILEPOND_SERVER_VALIDATORS = [slow_validator]
    checked, other = Browser(live_server.url), Browser(live_server.url)
    transfer = checked.start(4)
    results = {}
    last = threading.Thread(
        target=lambda: results.setdefault(
            "last",
            checked.send(
                "PATCH",
                f"/fp/?patch={transfer}",
                b"data",
                Content_Type="application/offset+octet-stream",
                Upload_Offset="0",
                Upload_Length="4",
                Upload_Name="slow.bin",
            ),
        )
    )
    last.start()
    assert started.wait(10)
    # The checks run: the upload is not restorable yet, and others go on as usual.
    status, text, headers = checked.send("GET", f"/fp/?restore={transfer}")
    assert (status, text) == (503, b"The file is still being checked. Try again in a moment.")
    assert headers["Retry-After"] == "2"
    assert other.upload(b"meanwhile") and other.start(10)
    assert last.is_alive()
    release.set()
    last.join(10)
    assert results["last"][0] == 204
    assert checked.send("GET", f"/fp/?restore={transfer}")[:2] == (200, b"data")


def test_a_retried_last_chunk_waits_for_the_checks_and_gets_their_outcome(live_server, settings):
    calls = []
    started, release = threading.Event(), threading.Event()

    def refusing_validator(upload, f):
        from django.core.exceptions import ValidationError

        calls.append(upload.upload_id)
        started.set()
        release.wait(10)
        raise ValidationError("Infected with a test signature.")

    settings.FILEPOND_SERVER_VALIDATORS = [refusing_validator]
    visitor = Browser(live_server.url)
    transfer = visitor.start(4)
    answers = []

    def send_last_chunk():
        answers.append(visitor.patch(transfer, b"data", 0, 4)[:2])

    first = threading.Thread(target=send_last_chunk)
    first.start()
    assert started.wait(10)
    retry = threading.Thread(target=send_last_chunk)
    retry.start()
    time.sleep(0.5)
    release.set()
    first.join(15)
    retry.join(15)
    assert answers == [(422, b"Infected with a test signature.")] * 2
    assert calls == [transfer]  # checked once
    assert not get_temporary_area().exists(transfer)


def test_checks_whose_server_died_are_taken_over_by_a_retry(live_server, settings):
    visitor = Browser(live_server.url)
    transfer = visitor.start(4)
    assert visitor.patch(transfer, b"da", 0, 4)[0] == 204
    with open(get_temporary_area().local_path(transfer), "ab") as f:
        f.write(b"ta")  # the last chunk arrived, then the server died during the checks
    TemporaryUpload.objects.filter(pk=transfer).update(
        received=4, checking_since="2000-01-01T00:00:00Z"
    )
    assert visitor.patch(transfer, b"ta", 2, 4)[0] == 204
    upload = TemporaryUpload.objects.get(pk=transfer)
    assert upload.complete and upload.checking_since is None
    assert visitor.send("GET", f"/fp/?restore={transfer}")[:2] == (200, b"data")


@pytest.mark.parametrize("batched", [True, False], ids=["one-message", "statement-by-statement"])
def test_simultaneous_starts_never_pass_the_owner_limit(
    live_server, settings, monkeypatch, batched
):
    """Eight chunk starts of one visitor at the same moment, with room for two. On PostgreSQL
    the locks and the insert go in one message with psycopg 3's client-side cursors, and one
    by one in a transaction otherwise (psycopg 2, server-side binding): both must hold."""
    if not batched:
        monkeypatch.setattr(ownership, "_sends_statements_together", lambda cursor: False)
    settings.FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER = 2
    visitor = Browser(live_server.url)
    visitor.upload(b"first")  # the session exists before the race
    TemporaryUpload.objects.all().delete()
    barrier = threading.Barrier(8, timeout=30)
    statuses: list[int] = []

    def start() -> None:
        barrier.wait()
        boundary = "b0undary"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="filepond"\r\n\r\n{{}}\r\n'
            f"--{boundary}--\r\n"
        ).encode()
        statuses.append(
            visitor.send(
                "POST",
                "/fp/",
                body,
                Content_Type=f"multipart/form-data; boundary={boundary}",
                Upload_Length="10",
            )[0]
        )

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert sorted(statuses) == [200, 200] + [429] * 6
    assert TemporaryUpload.objects.count() == 2
