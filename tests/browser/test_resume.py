"""An interrupted chunked upload resumes where the server's HEAD says (scenario 3).

A failed PATCH is retried by FilePond on its own after 500, 1000 and 3000 ms
(``chunkRetryDelays``); only when those retries are used up does the item offer its retry
button, and only that button sends the resume HEAD. The tests that reach the button set
``chunkRetryDelays: []``: the same code path as four failures in a row, without waiting
4.5 s per test or depending on the delays' timing. The automatic retry is shown on its own,
with the default delays.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.support import MB, URL_STYLES, Pond, assert_temporary
from tests.browser.wire import wire

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZE = 3_500_000
FAULT = "The chunk was lost on the way (injected by the test)."


def transfer_log(upload_id: str) -> list[tuple[str, int | None, int]]:
    """``(method, offset, status)`` of the PATCH and HEAD requests of one transfer; a HEAD's
    offset is the one the server answered."""
    return [
        (e.method, e.offset, e.status) for e in wire.of("PATCH", "HEAD") if e.upload_id == upload_id
    ]


def only_upload_id() -> str:
    """The id of the one chunked transfer the test made."""
    assert [e.chunk_start for e in wire.of("POST")] == [True]
    (upload_id,) = {e.upload_id for e in wire.of("PATCH", "HEAD")}
    assert upload_id is not None
    return upload_id


@pytest.mark.parametrize("server", URL_STYLES.values(), ids=URL_STYLES.keys())
def test_retry_resumes_at_the_offset_the_server_reports(
    pond: Pond, make_file: Any, server: Any
) -> None:
    sample = make_file("resume.bin", SIZE)
    wire.fail_patch(2 * MB)
    pond.open(server, messages=True, chunkUploads=True, chunkSize=MB, chunkRetryDelays=[])
    pond.add(sample)

    (item,) = pond.wait_for_states("processing-error")
    assert item["status"] == FAULT  # the failed PATCH's body, through patch.onerror
    assert item["hidden"] == ""
    upload_id = only_upload_id()
    assert transfer_log(upload_id) == [
        ("PATCH", 0, 204),
        ("PATCH", MB, 204),
        ("PATCH", 2 * MB, 500),
    ]

    pond.button(sample.name, "retry-item-processing").click()
    (item,) = pond.wait_for_states("processing-complete")
    # One HEAD, answered with the 2 MB the server holds, then only the chunks from there:
    # no second chunk-start POST and no chunk before 2 MB sent again.
    assert transfer_log(upload_id) == [
        ("PATCH", 0, 204),
        ("PATCH", MB, 204),
        ("PATCH", 2 * MB, 500),
        ("HEAD", 2 * MB, 200),
        ("PATCH", 2 * MB, 204),
        ("PATCH", 3 * MB, 204),
    ]
    assert sum(e.chunk_start for e in wire.of("POST")) == 1
    assert item["serverId"] == upload_id and item["hidden"] == upload_id
    assert_temporary(upload_id, sample)


def test_retry_skips_a_chunk_the_server_kept_although_its_answer_was_lost(
    pond: Pond, make_file: Any
) -> None:
    """The app stored the chunk at 2 MB but the browser got a 502 (a proxy that gave up):
    the HEAD says 3 MB and the client goes on from there, trusting the server's offset over
    its own record."""
    sample = make_file("kept.bin", SIZE)
    wire.fail_patch(2 * MB, after=True, status=502)
    pond.open("/fp/", chunkUploads=True, chunkSize=MB, chunkRetryDelays=[])
    pond.add(sample)
    pond.wait_for_states("processing-error")

    pond.button(sample.name, "retry-item-processing").click()
    pond.wait_for_states("processing-complete")
    upload_id = only_upload_id()
    assert transfer_log(upload_id) == [
        ("PATCH", 0, 204),
        ("PATCH", MB, 204),
        ("PATCH", 2 * MB, 502),
        ("HEAD", 3 * MB, 200),
        ("PATCH", 3 * MB, 204),
    ]
    assert_temporary(upload_id, sample)


def test_a_failed_chunk_is_sent_again_by_itself_with_the_default_delays(
    pond: Pond, make_file: Any
) -> None:
    sample = make_file("auto.bin", SIZE)
    wire.fail_patch(MB)
    pond.open("/fp/", chunkUploads=True, chunkSize=MB)
    pond.add(sample)

    (item,) = pond.wait_for_states("processing-complete")
    upload_id = only_upload_id()
    # The same chunk again after 500 ms, without a HEAD and without the user.
    assert transfer_log(upload_id) == [
        ("PATCH", 0, 204),
        ("PATCH", MB, 500),
        ("PATCH", MB, 204),
        ("PATCH", 2 * MB, 204),
        ("PATCH", 3 * MB, 204),
    ]
    assert item["hidden"] == upload_id
    assert_temporary(upload_id, sample)
