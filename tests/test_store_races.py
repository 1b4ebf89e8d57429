"""Two stores racing for one name on a remote store: neither ever replaces the other.

Both stores are made to believe the name is free (what happens when two stores check at the
same moment): the one that writes second must notice at write time and pick another name.
Into S3 the two stores run in two threads; on PostgreSQL they overlap, while SQLite lets one
write transaction run at a time, so there the second store starts once the first has written.
Into SFTP they run one after the other: django-storages' SFTP backend keeps one connection
per storage object, which two threads cannot share (two app server processes each have
their own).
"""

from __future__ import annotations

import secrets
import threading

import pytest
from django.core.files.storage import storages
from django.db import connection

from django_filepond_server import api, stores
from django_filepond_server.storage import list_files

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.remote_storage]


@pytest.fixture(params=["s3", "sftp"])
def remote(request, settings):
    server = request.getfixturevalue(f"{request.param}_server")
    if request.param == "s3":
        options = server.storage_options(location=f"races-{secrets.token_hex(4)}")
    else:
        options = server.storage_options()
        options["OPTIONS"]["root_path"] = f"{server.root}/races-{secrets.token_hex(4)}"
    settings.STORAGES = {**settings.STORAGES, "remote": options}
    settings.FILEPOND_SERVER_STORAGE = "remote"
    yield storages["remote"]
    for entry in list(list_files(storages["remote"])):
        storages["remote"].delete(entry.name)


def test_racing_stores_of_one_name_never_overwrite(process, remote, monkeypatch):
    ids = [process(f"body {i}".encode(), name="race.txt") for i in range(2)]
    real = stores.free_name
    stale = iter(["race/race.txt", "race/race.txt"])

    def free_name_seen_by_both(storage, name):
        # The first look of each store finds "race/race.txt" free.
        if name == "race/race.txt" and (seen := next(stale, None)):
            return seen
        return real(storage, name)

    monkeypatch.setattr(stores, "free_name", free_name_seen_by_both)
    results: dict[int, object] = {}

    def store(index: int) -> None:
        try:
            results[index] = api.store_upload(ids[index], "race/")
        except BaseException as exc:  # recorded, so the assertions below name it
            results[index] = exc

    def store_in_a_thread(index: int) -> None:
        try:
            store(index)
        finally:
            connection.close()  # the thread's own database connection

    if remote.__class__.__name__ == "SFTPStorage":
        store(0)
        store(1)
    else:
        threads = [threading.Thread(target=store_in_a_thread, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads)
    assert all(hasattr(results[i], "file") for i in range(2)), results
    names = [results[i].file.name for i in range(2)]  # both stored, none raised
    assert len(set(names)) == 2 and "race/race.txt" in names
    for i, name in enumerate(names):
        with remote.open(name, "rb") as f:
            assert f.read() == f"body {i}".encode()
