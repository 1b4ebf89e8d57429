"""Uploads and revert from the real widget, in both URL layouts (scenarios 1, 2 and 5)."""

from __future__ import annotations

from typing import Any

import pytest

from django_filepond_server.models import TemporaryUpload
from django_filepond_server.temporary import get_temporary_area
from tests.browser.support import MB, URL_STYLES, Pond, assert_temporary, eventually
from tests.browser.wire import wire

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

styles = pytest.mark.parametrize("server", URL_STYLES.values(), ids=URL_STYLES.keys())


@styles
def test_a_small_file_a_chunked_file_and_an_exact_multiple_of_the_chunk_size(
    pond: Pond, make_file: Any, server: Any
) -> None:
    small = make_file("notes.txt", 20_000)
    chunked = make_file("big.bin", 3_500_000)
    exact = make_file("exact.bin", 2 * MB)
    pond.open(server, chunkUploads=True, chunkSize=MB)
    pond.add(small, chunked, exact)

    items = pond.wait_for_states(*["processing-complete"] * 3)
    for sample in (small, chunked, exact):
        item = pond.item(sample.name)
        assert item["label"] == sample.name
        assert item["status"] == "Upload complete"
        # The hidden input the form submits holds the server's id.
        assert item["hidden"] == item["serverId"]
        assert len(item["serverId"]) == 22
        assert_temporary(item["serverId"], sample)
    assert len({item["serverId"] for item in items}) == 3

    posts = wire.of("POST")
    ids = {item["name"]: item["serverId"] for item in items}
    whole = [p for p in posts if not p.chunk_start]
    assert len(whole) == 1 and whole[0].body_length > small.path.stat().st_size
    assert sum(p.chunk_start for p in posts) == 2

    def patches(upload_id: str) -> list[tuple[int | None, int, int]]:
        return [
            (p.offset, p.body_length, p.status)
            for p in wire.of("PATCH")
            if p.upload_id == upload_id
        ]

    assert patches(ids["big.bin"]) == [
        (0, MB, 204),
        (MB, MB, 204),
        (2 * MB, MB, 204),
        (3 * MB, 500_000, 204),
    ]
    # 2 MB in 1 MB chunks: FilePond ends with an empty PATCH at offset == length.
    assert patches(ids["exact.bin"]) == [(0, MB, 204), (MB, MB, 204), (2 * MB, 0, 204)]
    chunked_ids = {ids["big.bin"], ids["exact.bin"]}
    if isinstance(server, dict):
        assert {p.path for p in posts} == {"/fp/process/"}
        assert {p.path for p in wire.of("PATCH")} == {f"/fp/patch/{i}" for i in chunked_ids}
    else:
        assert {p.path for p in wire.exchanges} == {"/fp/"}
        assert {p.query["patch"] for p in wire.of("PATCH")} == chunked_ids


@styles
def test_instant_upload_off_waits_for_the_process_button(
    pond: Pond, make_file: Any, server: Any
) -> None:
    sample = make_file("later.txt", 5_000)
    pond.open(server, instantUpload=False)
    pond.add(sample)
    (item,) = pond.wait_for_states("idle")
    assert item["hidden"] == "" and wire.exchanges == []

    pond.button(sample.name, "process-item").click()
    (item,) = pond.wait_for_states("processing-complete")
    assert item["hidden"] == item["serverId"]
    upload_id = item["serverId"]
    assert_temporary(upload_id, sample)

    # Without instantUpload, undo reverts on the server and the item waits again.
    pond.button(sample.name, "revert-item-processing").click()
    (item,) = pond.wait_for_states("idle")
    assert item["hidden"] == ""
    deletes = eventually(lambda: wire.of("DELETE"))
    assert [(e.upload_id, e.status) for e in deletes] == [(upload_id, 204)]
    assert not TemporaryUpload.objects.filter(pk=upload_id).exists()


@styles
def test_the_undo_button_removes_the_temporary_upload(
    pond: Pond, make_file: Any, server: Any
) -> None:
    whole = make_file("undo-me.txt", 5_000)
    chunked = make_file("undo-me.bin", 1_500_000)
    pond.open(server, chunkUploads=True, chunkSize=MB)
    pond.add(whole, chunked)
    items = pond.wait_for_states("processing-complete", "processing-complete")
    ids = {item["name"]: item["serverId"] for item in items}
    assert_temporary(ids[whole.name], whole)
    assert_temporary(ids[chunked.name], chunked)

    # With instantUpload (the default), undo reverts on the server and removes the item.
    pond.button(whole.name, "revert-item-processing").click()
    (item,) = pond.wait_for_states("processing-complete")
    assert item["name"] == chunked.name
    pond.button(chunked.name, "revert-item-processing").click()
    assert pond.wait_for_states() == []
    assert pond.page.locator('input[type="hidden"][name="filepond"]').count() == 0

    deletes = eventually(lambda: len(wire.of("DELETE")) == 2 and wire.of("DELETE"))
    assert [(e.upload_id, e.status) for e in deletes] == [
        (ids[whole.name], 204),
        (ids[chunked.name], 204),
    ]
    assert {e.path for e in deletes} == {"/fp/revert/" if isinstance(server, dict) else "/fp/"}
    for upload_id in ids.values():
        assert not TemporaryUpload.objects.filter(pk=upload_id).exists()
        assert not get_temporary_area().exists(upload_id)
