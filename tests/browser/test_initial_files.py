"""Initial files: ``limbo`` ones come back through restore, ``local`` ones through load after a
form submit stored them (scenarios 4 and 5)."""

from __future__ import annotations

from typing import Any

import pytest

from django_filepond_server.models import StoredUpload, TemporaryUpload
from tests.browser.support import (
    MB,
    URL_STYLES,
    Pond,
    assert_temporary,
    eventually,
    sha256,
    stored_bytes,
)
from tests.browser.wire import wire

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAME = "résumé 東京 100%.pdf"
LARGE_NAME = "résumé 東京 100% (large).pdf"

#: FilePond's ``item.origin`` values.
LIMBO, LOCAL = 2, 3


@pytest.mark.parametrize("server", URL_STYLES.values(), ids=URL_STYLES.keys())
def test_limbo_files_restore_and_stored_files_load_with_their_real_names(
    pond: Pond, make_file: Any, server: Any
) -> None:
    # One name travels in the multipart filename, the other in the PATCH Upload-Name header.
    small = make_file(NAME, data=b"%PDF-1.4\n" + bytes(range(256)) * 40)
    large = make_file(LARGE_NAME, data=b"%PDF-1.4\n" + bytes(range(256)) * 6000)
    samples = {s.name: s for s in (small, large)}
    options = {"chunkUploads": True, "chunkSize": MB}
    pond.open(server, **options)
    pond.add(small, large)
    uploaded = pond.wait_for_states("processing-complete", "processing-complete")
    ids = {item["name"]: item["serverId"] for item in uploaded}
    for name, sample in samples.items():
        assert_temporary(ids[name], sample)

    # The form came back (say it failed validation): the uploads are shown again as limbo.
    wire.reset()
    limbo = [{"source": ids[name], "options": {"type": "limbo"}} for name in (NAME, LARGE_NAME)]
    pond.open(server, files=limbo, **options)
    restored = pond.wait_for_states("processing-complete", "processing-complete")
    for item in restored:
        sample = samples[item["label"]]
        assert item["name"] == sample.name and item["origin"] == LIMBO
        assert item["hidden"] == item["serverId"] == ids[sample.name]
        assert pond.widget_sha256(sample.name) == sample.sha256
    restores = wire.of("GET")
    assert sorted(e.upload_id for e in restores) == sorted(ids.values())
    assert {e.status for e in restores} == {200}
    assert all(("restore" in e.query) != (e.path == "/fp/restore/") for e in restores)
    assert wire.of("POST", "PATCH") == []  # nothing uploaded twice

    submitted = pond.submit()
    assert sorted(submitted["stored"]) == sorted(ids.values())
    assert not TemporaryUpload.objects.exists()
    for name, sample in samples.items():
        stored = StoredUpload.objects.get(pk=ids[name])
        assert stored.original_name == name
        assert stored.file.name == f"browser/{name}"
        assert sha256(stored_bytes(stored)) == sample.sha256

    # The saved document is edited later: its stored files load as local items.
    wire.reset()
    local = [{"source": ids[name], "options": {"type": "local"}} for name in (NAME, LARGE_NAME)]
    pond.open(server, files=local, **options)
    loaded = pond.wait_for_states("idle", "idle")
    for item in loaded:
        sample = samples[item["label"]]
        assert item["name"] == sample.name and item["origin"] == LOCAL
        assert item["hidden"] == ids[sample.name]
        assert pond.widget_sha256(sample.name) == sample.sha256
    loads = wire.of("GET")
    assert sorted(e.upload_id for e in loads) == sorted(ids.values())
    assert all(("load" in e.query) != (e.path == "/fp/load/") for e in loads)

    # Removing a local item larger than chunkSize makes FilePond send a revert with the
    # stored file's id (its chunk rule, protocol notes section 4); the app refuses it, as
    # that id is no temporary upload, and the stored file stays.
    pond.button(LARGE_NAME, "remove-item").click()
    (item,) = pond.wait_for_states("idle")
    assert item["name"] == NAME
    deletes = eventually(lambda: wire.of("DELETE"))
    assert [(e.upload_id, e.status) for e in deletes] == [(ids[LARGE_NAME], 404)]
    stored = StoredUpload.objects.get(pk=ids[LARGE_NAME])
    assert sha256(stored_bytes(stored)) == large.sha256
