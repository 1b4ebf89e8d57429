"""The Python API: store_upload and the stored-upload helpers."""

from __future__ import annotations

import errno
import os
import threading

import pytest
from django.core.exceptions import ObjectDoesNotExist, SuspiciousFileOperation
from django.core.files.storage import InMemoryStorage, storages

from django_filepond_server import api
from django_filepond_server.exceptions import (
    StorageFailed,
    UploadIncomplete,
    UploadNotFound,
    UploadRejected,
)
from django_filepond_server.models import StoredUpload, TemporaryUpload
from django_filepond_server.temporary import get_temporary_area

pytestmark = pytest.mark.django_db


def test_store_keeps_the_name_when_the_path_ends_with_a_slash(
    process, upload_dirs, django_capture_on_commit_callbacks
):
    upload_id = process(b"content", name="résumé 東京 100%.pdf")
    with django_capture_on_commit_callbacks(execute=True):
        stored = api.store_upload(upload_id, "docs/2026/")
    assert stored.file.name == "docs/2026/résumé 東京 100%.pdf"
    assert (upload_dirs["media"] / "docs/2026/résumé 東京 100%.pdf").read_bytes() == b"content"
    assert stored.original_name == "résumé 東京 100%.pdf"
    assert stored.size == 7
    assert stored.upload_id == upload_id
    assert not TemporaryUpload.objects.filter(pk=upload_id).exists()
    assert not get_temporary_area().exists(upload_id)


def test_store_keeps_a_long_name_in_a_non_latin_script(process, upload_dirs):
    """150 characters of Japanese are 450 bytes; the stored file's name must still fit the
    filesystem (255 bytes), not fail the store."""
    upload_id = process(b"content", name="写真" * 75 + ".txt")
    stored = api.store_upload(upload_id, "docs/")
    assert (upload_dirs["media"] / stored.file.name).read_bytes() == b"content"
    assert stored.original_name.startswith("写真写真") and stored.original_name.endswith(".txt")


def test_store_under_a_new_name_dropping_a_leading_slash(process, upload_dirs):
    upload_id = process(b"content", name="a.txt")
    stored = api.store_upload(upload_id, "/people/42/avatar.txt")
    assert stored.file.name == "people/42/avatar.txt"
    assert (upload_dirs["media"] / "people/42/avatar.txt").exists()


def test_store_on_one_filesystem_is_a_move(process, upload_dirs):
    upload_id = process(b"moved, not copied")
    inode = os.stat(get_temporary_area().local_path(upload_id)).st_ino
    stored = api.store_upload(upload_id, "m/")
    assert os.stat(upload_dirs["media"] / stored.file.name).st_ino == inode


def test_store_respects_file_upload_permissions(process, upload_dirs, settings):
    settings.FILE_UPLOAD_PERMISSIONS = 0o640
    stored = api.store_upload(process(), "p/")
    assert os.stat(upload_dirs["media"] / stored.file.name).st_mode & 0o777 == 0o640


def test_colliding_names_get_distinct_files(process, upload_dirs):
    first = api.store_upload(process(b"first", name="same.txt"), "c/")
    second = api.store_upload(process(b"second", name="same.txt"), "c/")
    assert first.file.name == "c/same.txt"
    assert second.file.name != first.file.name
    assert second.file.name.startswith("c/same_") and second.file.name.endswith(".txt")
    assert (upload_dirs["media"] / first.file.name).read_bytes() == b"first"
    assert (upload_dirs["media"] / second.file.name).read_bytes() == b"second"
    assert StoredUpload.objects.get(pk=second.pk).file.name == second.file.name


def test_concurrent_stores_of_one_name_never_overwrite(process, upload_dirs, monkeypatch):
    # Every store is told the name is free, as happens when two stores race.
    ids = [process(f"body {i}".encode(), name="race.txt") for i in range(2)]
    storage = storages["default"]
    real = type(storage).get_available_name
    calls = {"n": 0}

    def stale_available_name(self, name, max_length=None):
        calls["n"] += 1
        return name if calls["n"] <= 2 else real(self, name, max_length)

    monkeypatch.setattr(type(storage), "get_available_name", stale_available_name)
    first = api.store_upload(ids[0], "r/")
    second = api.store_upload(ids[1], "r/")
    assert first.file.name != second.file.name
    assert (upload_dirs["media"] / first.file.name).read_bytes() == b"body 0"
    assert (upload_dirs["media"] / second.file.name).read_bytes() == b"body 1"


@pytest.mark.parametrize(
    "destination", ["../escape.txt", "a/../../escape/", "x/../../../etc/passwd", "a\\..\\b", "a\0b"]
)
def test_store_refuses_a_path_that_escapes(process, destination, upload_dirs):
    upload_id = process()
    with pytest.raises(SuspiciousFileOperation):
        api.store_upload(upload_id, destination)
    assert TemporaryUpload.objects.filter(pk=upload_id).exists()
    assert get_temporary_area().exists(upload_id)
    assert not StoredUpload.objects.exists()


@pytest.mark.parametrize("destination", ["", "   ", ".", "./."])
def test_store_refuses_an_empty_destination(process, destination):
    with pytest.raises(ValueError, match="destination_file_path must"):
        api.store_upload(process(), destination)


@pytest.mark.parametrize("destination", ["/", "./"])
def test_store_at_the_top_of_the_store(process, destination):
    assert api.store_upload(process(name="top.txt"), destination).file.name == "top.txt"


def test_store_sanitises_an_explicit_file_name(process):
    stored = api.store_upload(process(), "d/ ..hidden. ")
    assert stored.file.name == "d/hidden"


@pytest.mark.parametrize("destination", ["d/\x07bell.txt", "d\x1f/x.txt", "d/x\x7f"])
def test_store_refuses_control_characters(process, destination):
    with pytest.raises(SuspiciousFileOperation, match="control characters"):
        api.store_upload(process(), destination)


def test_store_of_an_unknown_upload(process):
    with pytest.raises(UploadNotFound, match="No temporary upload has the id"):
        api.store_upload("D" * 22, "x/")
    with pytest.raises(UploadNotFound, match="is not a valid upload id"):
        api.store_upload("../etc", "x/")


def test_store_of_an_incomplete_transfer(start_chunked, patch):
    upload_id = start_chunked(10)
    patch(upload_id, b"12345", 0, 10)
    with pytest.raises(UploadIncomplete, match="has 5 of 10 bytes"):
        api.store_upload(upload_id, "x/")
    assert TemporaryUpload.objects.get(pk=upload_id).received == 5


def test_store_twice_fails_the_second_time(process):
    upload_id = process()
    api.store_upload(upload_id, "x/")
    with pytest.raises(UploadNotFound):
        api.store_upload(upload_id, "x/")


def test_a_failed_store_leaves_the_temporary_upload_intact(process, upload_dirs, monkeypatch):
    upload_id = process(b"precious")

    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(StoredUpload.objects, "create", fail)
    with pytest.raises(RuntimeError, match="database went away"):
        api.store_upload(upload_id, "f/")
    assert TemporaryUpload.objects.filter(pk=upload_id).exists()
    with get_temporary_area().open(upload_id) as f:
        assert f.read() == b"precious"
    assert not StoredUpload.objects.exists()
    assert not (upload_dirs["media"] / "f").exists() or not any(
        (upload_dirs["media"] / "f").iterdir()
    )


def test_store_to_a_non_filesystem_storage_copies(
    process, settings, django_capture_on_commit_callbacks
):
    settings.FILEPOND_SERVER_STORAGE = "memory"
    upload_id = process(b"to memory", name="m.txt")
    with django_capture_on_commit_callbacks(execute=True):
        stored = api.store_upload(upload_id, "mem/")
    storage = storages["memory"]
    assert isinstance(storage, InMemoryStorage)
    with storage.open(stored.file.name) as f:
        assert f.read() == b"to memory"
    assert not get_temporary_area().exists(upload_id)
    # The model's FileField follows the configured alias too.
    with StoredUpload.objects.get(pk=upload_id).file.open("rb") as f:
        assert f.read() == b"to memory"


def test_get_stored_upload_and_its_file_data(process):
    upload_id = process(b"stream me", name="s.txt")
    api.store_upload(upload_id, "s/renamed.txt")
    stored = api.get_stored_upload(upload_id)
    name, f = api.get_stored_upload_file_data(stored)
    with f:
        assert name == "s.txt"
        assert f.read(6) == b"stream"
        assert f.read() == b" me"


def test_get_stored_upload_of_an_unknown_id(process):
    with pytest.raises(UploadNotFound):
        api.get_stored_upload("E" * 22)
    with pytest.raises(ObjectDoesNotExist):
        api.get_stored_upload("not valid")


def test_get_temporary_upload(process):
    upload_id = process(b"abc")
    assert api.get_temporary_upload(upload_id).received == 3
    with pytest.raises(UploadNotFound):
        api.get_temporary_upload("F" * 22)


def test_delete_stored_upload_keeps_the_file_by_default(process, upload_dirs):
    upload_id = process(b"x")
    stored = api.store_upload(upload_id, "k/")
    assert api.delete_stored_upload(upload_id) is True
    assert not StoredUpload.objects.exists()
    assert (upload_dirs["media"] / stored.file.name).exists()


def test_delete_stored_upload_with_its_file(process, upload_dirs):
    upload_id = process(b"x")
    stored = api.store_upload(upload_id, "k/")
    api.delete_stored_upload(upload_id, delete_file=True)
    assert not StoredUpload.objects.exists()
    assert not (upload_dirs["media"] / stored.file.name).exists()


def test_delete_stored_upload_keeps_the_row_when_the_file_cannot_be_deleted(
    process, upload_dirs, monkeypatch
):
    upload_id = process(b"x")
    stored = api.store_upload(upload_id, "k/")

    def refuse(self, name):
        raise PermissionError("read-only storage")

    monkeypatch.setattr(type(storages["default"]), "delete", refuse)
    with pytest.raises(StorageFailed, match="Could not delete .* PermissionError: read-only"):
        api.delete_stored_upload(upload_id, delete_file=True)
    assert StoredUpload.objects.filter(pk=upload_id).exists()
    assert (upload_dirs["media"] / stored.file.name).exists()


def test_delete_of_an_unknown_stored_upload(process):
    with pytest.raises(UploadNotFound):
        api.delete_stored_upload("G" * 22)


@pytest.mark.django_db(transaction=True)
def test_stores_of_one_upload_from_two_threads_store_it_once(process, upload_dirs):
    upload_id = process(b"once")
    start = threading.Barrier(2, timeout=10)
    outcomes: dict[int, object] = {}

    def store(number: int) -> None:
        from django.db import connection as thread_connection

        try:
            start.wait()  # both stores begin together
            outcomes[number] = api.store_upload(upload_id, "t/")
        except BaseException as exc:  # every outcome is recorded, the unexpected ones too
            outcomes[number] = exc
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=store, args=(number,)) for number in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a store did not finish"
    assert len(outcomes) == 2, outcomes
    stored = [o for o in outcomes.values() if isinstance(o, StoredUpload)]
    refused = [o for o in outcomes.values() if not isinstance(o, StoredUpload)]
    assert len(stored) == 1, outcomes
    assert len(refused) == 1 and isinstance(refused[0], UploadNotFound), outcomes
    assert str(refused[0]) == f"No temporary upload has the id {upload_id!r}."
    assert StoredUpload.objects.get().file.name == stored[0].file.name == "t/hello.txt"
    assert sorted(p.name for p in (upload_dirs["media"] / "t").iterdir()) == ["hello.txt"]
    assert (upload_dirs["media"] / "t" / "hello.txt").read_bytes() == b"once"
    assert not TemporaryUpload.objects.filter(pk=upload_id).exists()


def test_store_creates_directories_with_the_configured_mode(process, upload_dirs, settings):
    settings.FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750
    stored = api.store_upload(process(), "deep/er/")
    assert stored.file.name.startswith("deep/er/")
    assert os.stat(upload_dirs["media"] / "deep" / "er").st_mode & 0o777 == 0o750


def test_store_copies_when_the_store_is_on_another_filesystem(process, upload_dirs, monkeypatch):
    upload_id = process(b"across devices")
    source_inode = os.stat(get_temporary_area().local_path(upload_id)).st_ino

    def cross_device(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    stored = api.store_upload(upload_id, "x/")
    target = upload_dirs["media"] / stored.file.name
    assert target.read_bytes() == b"across devices"
    assert os.stat(target).st_ino != source_inode


def test_store_does_not_hide_other_filesystem_errors(process, monkeypatch):
    upload_id = process()

    def denied(src, dst):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "link", denied)
    with pytest.raises(StorageFailed, match="Could not save 'x/hello.txt'") as raised:
        api.store_upload(upload_id, "x/")
    assert isinstance(raised.value.__cause__, PermissionError)
    assert TemporaryUpload.objects.filter(pk=upload_id).exists()
    assert not StoredUpload.objects.exists()


def test_check_upload_answers_what_store_upload_would_refuse(process, start_chunked, client):
    upload_id = process(b"fine", name="ok.txt")
    checked = api.check_upload(upload_id, rules={"extensions": [".txt"]})
    assert checked.upload_id == upload_id and checked.file_name == "ok.txt"
    with pytest.raises(UploadRejected, match="Files ending in .txt are not accepted"):
        api.check_upload(upload_id, rules={"extensions": [".pdf"]})
    with pytest.raises(UploadIncomplete):
        api.check_upload(start_chunked(10))
    with pytest.raises(UploadNotFound):
        api.check_upload("D" * 22)
    # Nothing was stored or removed by checking.
    assert TemporaryUpload.objects.filter(pk=upload_id).exists()
    assert not StoredUpload.objects.exists()


def test_save_upload_puts_the_file_into_any_storage_without_a_stored_record(
    process, django_capture_on_commit_callbacks
):
    from django_filepond_server.signals import upload_saved

    received = []

    def receiver(**kwargs):
        received.append(kwargs)

    upload_saved.connect(receiver)
    storage = InMemoryStorage()
    first = process(b"one", name="photo.txt")
    second = process(b"two", name="photo.txt")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            name = api.save_upload(first, storage, lambda upload: f"avatars/{upload.file_name}")
            other = api.save_upload(second, storage, "avatars/photo.txt")
    finally:
        upload_saved.disconnect(receiver)
    assert name == "avatars/photo.txt"
    assert other != name and other.startswith("avatars/photo_")  # never overwritten
    with storage.open(name) as f:
        assert f.read() == b"one"
    assert not StoredUpload.objects.exists()
    assert not TemporaryUpload.objects.filter(pk__in=[first, second]).exists()
    assert [(r["upload"].upload_id, r["name"], r["storage"]) for r in received] == [
        (first, name, storage),
        (second, other, storage),
    ]


def test_a_failed_save_upload_leaves_nothing_behind(process, monkeypatch):
    storage = InMemoryStorage()
    upload_id = process(b"precious")
    with pytest.raises(UploadRejected):
        api.save_upload(upload_id, storage, "x.txt", rules={"max_size": 3})
    assert TemporaryUpload.objects.filter(pk=upload_id).exists()
    assert storage.listdir("") == ([], [])
