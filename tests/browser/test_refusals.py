"""A refused upload shows the server's one-sentence message in the widget (scenario 8).

The page does what the form widget's script does: ``process.onerror`` and ``patch.onerror``
return the response body and ``labelFileProcessingError`` shows ``error.body``.
"""

from __future__ import annotations

from typing import Any

import pytest

from django_filepond_server.models import TemporaryUpload
from tests.browser.support import MB, Pond, assert_temporary
from tests.browser.wire import wire
from tests.helpers import tiny_png

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_file_over_the_size_limit_is_refused_with_the_limit(
    pond: Pond, make_file: Any, settings: Any
) -> None:
    settings.FILEPOND_SERVER_MAX_UPLOAD_SIZE = 10_000
    whole = make_file("big.txt", 20_000)
    chunked = make_file("bigger.bin", 1_500_000)
    pond.open("/fp/", messages=True, chunkUploads=True, chunkSize=MB)
    pond.add(whole, chunked)

    items = pond.wait_for_states("processing-error", "processing-error")
    message = "The file is larger than the maximum upload size of 10000 bytes."
    assert [item["status"] for item in items] == [message, message]
    assert [item["hidden"] for item in items] == ["", ""]
    # The whole file's POST and the chunked transfer's start were both refused.
    assert sorted((e.method, e.chunk_start, e.status) for e in wire.exchanges) == [
        ("POST", False, 413),
        ("POST", True, 413),
    ]
    assert not TemporaryUpload.objects.exists()


def test_a_file_of_a_refused_type_is_refused_by_its_content(
    pond: Pond, make_file: Any, settings: Any
) -> None:
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"default": {"types": ["image/png"]}}
    line = b"This is plain text and not a picture at all.\n"
    text = make_file("notes.png", data=line * 100)  # a name does not make it a picture
    chunked = make_file("notes-long.txt", data=line * 30_000)
    picture = make_file("picture.png", data=tiny_png(padding=4096))
    pond.open("/fp/", messages=True, chunkUploads=True, chunkSize=MB)
    pond.add(text, chunked, picture)

    # The chunked one is refused by its last PATCH, which FilePond sends four times (its
    # automatic retries after 500, 1000 and 3000 ms) and which gets the same answer each time.
    items = pond.wait_for_states("processing-error", "processing-error", "processing-complete")
    message = "Files of type text/plain are not accepted here."
    assert pond.item(text.name)["status"] == message
    assert pond.item(chunked.name)["status"] == message
    accepted = pond.item(picture.name)
    assert accepted["hidden"] == accepted["serverId"]
    assert_temporary(accepted["serverId"], picture)
    assert TemporaryUpload.objects.count() == 2  # the picture and the refused transfer's record

    assert sum(e.chunk_start for e in wire.of("POST")) == 1
    last = len(chunked.data) // MB * MB
    patches = [(e.offset, e.status) for e in wire.of("PATCH")]
    assert patches == [(0, 204)] + [(last, 415)] * 4
    assert [item["hidden"] for item in items].count("") == 2
