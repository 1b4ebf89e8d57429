"""Who owns the first uploads of a visitor without a session."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.support import MB, Pond
from tests.browser.wire import wire

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_two_files_picked_at_once_by_a_visitor_without_a_session_both_upload(
    pond: Pond, make_file: Any
) -> None:
    first = make_file("first.bin", 1_500_000)
    second = make_file("second.bin", 1_500_000)
    cookies: list[str | None] = []

    def keep_cookie(response: Any) -> None:
        if response.request.method == "POST":
            cookies.append(response.header_value("set-cookie"))

    pond.page.on("response", keep_cookie)
    # FilePond sends both chunk-start POSTs at once (maxParallelUploads is 2). Holding them
    # until both arrived, and answering them together, makes sure neither carries a session
    # cookie and that both cookies are set before any PATCH: what happens by chance on a real
    # page whose view did not start a session, made certain.
    gathering = wire.gather("POST", 2)
    pond.open("/fp/", session=False, chunkUploads=True, chunkSize=MB, chunkRetryDelays=[])
    pond.add(first, second)

    items = pond.wait_until_settled(2)
    # Without the two POSTs really held together the test would prove nothing.
    assert gathering.held, f"the POSTs were not in flight together: {gathering.timeouts}"
    assert [item["state"] for item in items] == ["processing-complete"] * 2, (
        f"items {items}; exchanges {wire.exchanges}; POST Set-Cookie headers {cookies}"
    )
