"""Expiry, filepond_cleanup, signals, the admin, and per-endpoint throttles and authentication."""

from __future__ import annotations

import base64
import os
import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone
from rest_framework.throttling import AnonRateThrottle

from django_filepond_server import api, signals
from django_filepond_server.cleanup import cleanup
from django_filepond_server.exceptions import UploadNotFound
from django_filepond_server.models import StoredUpload, TemporaryUpload
from django_filepond_server.temporary import get_temporary_area
from tests.conftest import StreamReadingClient
from tests.helpers import body_of

pytestmark = pytest.mark.django_db


def age(upload_id: str, **delta) -> None:
    """Make an upload look older (update() bypasses auto_now)."""
    then = timezone.now() - timedelta(**delta)
    TemporaryUpload.objects.filter(pk=upload_id).update(created=then, updated=then)


# --- expiry ------------------------------------------------------------------------------------


def test_an_expired_upload_is_gone_for_every_endpoint_and_the_api(client, process):
    upload_id = process(b"old")
    age(upload_id, hours=25)
    assert client.get(f"/fp/?restore={upload_id}").status_code == 404
    assert client.delete("/fp/", upload_id).status_code == 404
    with pytest.raises(UploadNotFound, match="expired"):
        api.store_upload(upload_id, "x/")


def test_an_idle_transfer_is_abandoned_sooner(client, start_chunked, patch, settings):
    upload_id = start_chunked(10)
    patch(upload_id, b"12345", 0, 10)
    age(upload_id, minutes=30)
    assert client.head(f"/fp/?patch={upload_id}").status_code == 200
    age(upload_id, minutes=61)
    assert client.head(f"/fp/?patch={upload_id}").status_code == 404
    assert patch(upload_id, b"67890", 5, 10).status_code == 404


def test_lifetimes_are_settings(client, process, settings):
    upload_id = process(b"x")
    age(upload_id, minutes=10)
    settings.FILEPOND_SERVER_TEMPORARY_LIFETIME = timedelta(minutes=5)
    assert client.get(f"/fp/?restore={upload_id}").status_code == 404
    settings.FILEPOND_SERVER_TEMPORARY_LIFETIME = 3600
    assert client.get(f"/fp/?restore={upload_id}").status_code == 200


# --- cleanup -----------------------------------------------------------------------------------


@pytest.fixture
def mess(process, start_chunked, patch, upload_dirs):
    """One of each: fresh, expired, abandoned, refused-and-idle, fresh transfer, orphan file,
    young orphan file, row without file."""
    ids = {
        "fresh": process(b"fresh"),
        "expired": process(b"expired!"),
        "abandoned": start_chunked(100),
        "transfer": start_chunked(100),
        "missing": process(b"gone"),
    }
    patch(ids["abandoned"], b"x" * 30, 0, 100)
    patch(ids["transfer"], b"y" * 30, 0, 100)
    age(ids["expired"], hours=30)
    age(ids["abandoned"], hours=2)
    get_temporary_area().delete(ids["missing"])
    orphan = upload_dirs["tmp"] / "AAAAAAAAAAAAAAAAAAAAAA.upload"
    orphan.write_bytes(b"o" * 11)
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    young = upload_dirs["tmp"] / "BBBBBBBBBBBBBBBBBBBBBB.upload"
    young.write_bytes(b"y")
    ids["orphan"], ids["young"] = orphan, young
    return ids


def test_cleanup_dry_run_reports_and_removes_nothing(mess):
    out = StringIO()
    call_command("filepond_cleanup", "--dry-run", stdout=out)
    assert out.getvalue().strip() == (
        "Would remove 4 item(s), 49 bytes: 1 expired upload(s), 1 abandoned transfer(s), "
        "0 refused upload(s), 1 row(s) without a file, 1 file(s) without a row, "
        "0 interrupted store(s)."
    )
    assert TemporaryUpload.objects.count() == 5
    assert mess["orphan"].exists()


def test_cleanup_removes_what_is_expired_and_keeps_the_rest(
    mess, django_capture_on_commit_callbacks
):
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("filepond_cleanup", stdout=out)
    assert out.getvalue().startswith("Removed 4 item(s), 49 bytes:")
    remaining = set(TemporaryUpload.objects.values_list("pk", flat=True))
    assert remaining == {mess["fresh"], mess["transfer"]}
    area = get_temporary_area()
    assert not area.exists(mess["expired"]) and not area.exists(mess["abandoned"])
    assert area.exists(mess["fresh"]) and area.exists(mess["transfer"])
    assert not mess["orphan"].exists()
    assert mess["young"].exists()  # may be a file whose row is being created right now
    assert cleanup().total == 0


def test_cleanup_removes_refused_uploads_once_idle(settings, start_chunked, patch):
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"default": {"extensions": [".pdf"]}}
    upload_id = start_chunked(10)
    assert patch(upload_id, b"1", 0, 10, name="x.exe").status_code == 415
    assert cleanup().total == 0
    age(upload_id, hours=2)
    report = cleanup()
    assert report.rejected == 1
    assert not TemporaryUpload.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_cleanup_never_removes_a_transfer_being_written(live_server, settings):
    """A chunk is still streaming when the transfer's idle time runs out and cleanup runs:
    cleanup waits for the chunk's lock, sees the fresh activity and leaves the transfer."""
    from tests.test_concurrency import connect, patch_headers, start

    settings.FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT = 1
    upload_id, cookie = start(live_server, 2000)
    slow = connect(live_server)
    slow.putrequest("PATCH", f"/fp/?patch={upload_id}")
    for name, value in patch_headers(0, 2000, 1000, cookie).items():
        slow.putheader(name, value)
    slow.endheaders()
    slow.send(b"z" * 500)
    time.sleep(1.5)  # the chunk holds the upload's lock, and the transfer now looks idle
    assert TemporaryUpload.objects.filter(pk=upload_id).exists()

    reports = []

    def run_cleanup() -> None:
        from django.db import connection

        try:
            reports.append(cleanup())
        finally:
            connection.close()  # this thread's own connection

    worker = threading.Thread(target=run_cleanup)
    worker.start()
    time.sleep(1)
    slow.send(b"z" * 500)
    assert slow.getresponse().status == 204
    slow.close()
    worker.join(timeout=30)

    assert reports[0].abandoned == 0
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.received == 1000
    assert get_temporary_area().size(upload_id) == 1000


# --- signals -----------------------------------------------------------------------------------


@pytest.fixture
def received():
    events: list[tuple[str, str]] = []
    receivers = {}
    for name in (
        "upload_started",
        "upload_completed",
        "upload_reverted",
        "upload_stored",
        "upload_expired",
    ):

        def receiver(sender, upload, name=name, **kwargs):
            events.append((name, upload.upload_id, sender.__name__))

        receivers[name] = receiver
        getattr(signals, name).connect(receiver)
    yield events
    for name, receiver in receivers.items():
        getattr(signals, name).disconnect(receiver)


def test_signals_follow_the_lifecycle_after_commit(
    client, process, start_chunked, patch, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        whole = process(b"whole")
        transfer = start_chunked(3)
        patch(transfer, b"abc", 0, 3)
        client.delete("/fp/", whole)
        api.store_upload(transfer, "s/")
        stale = process(b"stale")
        age(stale, hours=30)
        cleanup()
    assert received == [
        ("upload_completed", whole, "TemporaryUpload"),
        ("upload_started", transfer, "TemporaryUpload"),
        ("upload_completed", transfer, "TemporaryUpload"),
        ("upload_reverted", whole, "TemporaryUpload"),
        ("upload_stored", transfer, "StoredUpload"),
        ("upload_completed", stale, "TemporaryUpload"),
        ("upload_expired", stale, "TemporaryUpload"),
    ]


def test_no_signal_before_the_transaction_commits(process, received):
    # Inside the test's transaction nothing is committed, so nothing has been sent.
    process(b"pending")
    assert received == []


# --- admin -------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_admin_lists_uploads_with_their_details(admin_client, process):
    upload_id = process(b"%PDF-1.4 admin", name="report.pdf")
    page = admin_client.get("/admin/django_filepond_server/temporaryupload/").content.decode()
    assert "report.pdf" in page
    assert "application/pdf" in page
    assert "root" in page  # the owner
    assert f"/admin/django_filepond_server/temporaryupload/{upload_id}/download/" in page
    download = admin_client.get(
        f"/admin/django_filepond_server/temporaryupload/{upload_id}/download/"
    )
    assert body_of(download) == b"%PDF-1.4 admin"
    assert download["Content-Disposition"].startswith("attachment;")

    api.store_upload(upload_id, "docs/")
    page = admin_client.get("/admin/django_filepond_server/storedupload/").content.decode()
    assert "docs/report.pdf" in page
    download = admin_client.get(f"/admin/django_filepond_server/storedupload/{upload_id}/download/")
    assert body_of(download) == b"%PDF-1.4 admin"


def test_admin_names_the_owner_of_each_upload(admin_client, process):
    other = StreamReadingClient()
    response = other.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("anon.txt", b"a")]})
    anonymous = response.content.decode()
    ownerless = TemporaryUpload.objects.create(
        upload_id="0wnerless0000000000000", file_name="nobody.txt", complete=True
    )
    mine = process(b"root's", name="root.txt")
    page = admin_client.get("/admin/django_filepond_server/temporaryupload/").content.decode()
    rows = {
        upload_id: page[page.index(f"/{upload_id}/change/") :].split("</tr>", 1)[0]
        for upload_id in (anonymous, ownerless.pk, mine)
    }
    assert '<td class="field-owner_display">a session</td>' in rows[anonymous]
    assert '<td class="field-owner_display">-</td>' in rows[ownerless.pk]
    assert '<td class="field-owner_display">root</td>' in rows[mine]


def test_admin_downloads_need_staff(client, process):
    upload_id = process(b"secret")
    response = client.get(f"/admin/django_filepond_server/temporaryupload/{upload_id}/download/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize("model", ["temporaryupload", "storedupload"])
def test_admin_downloads_need_the_view_permission(client, process, model):
    upload_id = process(b"staff only")
    if model == "storedupload":
        api.store_upload(upload_id, "v/")
    url = f"/admin/django_filepond_server/{model}/{upload_id}/download/"
    staff = User.objects.create_user("clerk", is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename=f"view_{model}"))
    client.force_login(User.objects.get(pk=staff.pk))  # a fresh user object, no cached perms
    response = client.get(url)
    assert response.status_code == 200
    assert body_of(response) == b"staff only"


def test_admin_delete_action_removes_files(admin_client, process, upload_dirs):
    temporary = [process(b"1"), process(b"2")]
    stored_id = process(b"3")
    stored = api.store_upload(stored_id, "d/")
    response = admin_client.post(
        "/admin/django_filepond_server/temporaryupload/",
        {"action": "delete_selected", "_selected_action": temporary, "post": "yes"},
    )
    assert response.status_code == 302
    assert not TemporaryUpload.objects.filter(pk__in=temporary).exists()
    assert not any(get_temporary_area().exists(i) for i in temporary)
    admin_client.post(
        f"/admin/django_filepond_server/storedupload/{stored_id}/delete/", {"post": "yes"}
    )
    assert not StoredUpload.objects.exists()
    assert not (upload_dirs["media"] / stored.file.name).exists()


# --- per-endpoint throttles and authentication -------------------------------------------------


class OnePerMinute(AnonRateThrottle):
    rate = "1/min"


def test_throttle_classes_per_endpoint(client, process, settings):
    from django.core.cache import cache

    cache.clear()
    settings.FILEPOND_SERVER_THROTTLE_CLASSES = {
        "POST_PROCESS": ["tests.test_lifecycle.OnePerMinute"]
    }
    process(b"first")
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("b.txt", b"b")]})
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/plain")
    assert "Retry-After" in response
    # Other endpoints are not throttled.
    upload_id = TemporaryUpload.objects.get().pk
    assert client.get(f"/fp/?restore={upload_id}").status_code == 200
    assert client.get(f"/fp/?restore={upload_id}").status_code == 200
    cache.clear()


def test_authentication_classes_per_endpoint(client, process, settings):
    User.objects.create_user("api", password="secret")
    upload_id = process(b"stored")
    api.store_upload(upload_id, "a/")
    settings.FILEPOND_SERVER_PERMISSION_CLASSES = {
        "GET_LOAD": ["rest_framework.permissions.IsAuthenticated"]
    }
    settings.FILEPOND_SERVER_AUTHENTICATION_CLASSES = {
        "GET_LOAD": ["rest_framework.authentication.BasicAuthentication"]
    }
    token = base64.b64encode(b"api:secret").decode()
    response = client.get(f"/fp/?load={upload_id}", headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200
    response = client.get(f"/fp/?load={upload_id}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    # A session login is not an authentication this endpoint accepts.
    client.force_login(User.objects.get(username="api"))
    assert client.get(f"/fp/?load={upload_id}").status_code == 401


def test_admin_download_of_a_refused_upload_is_a_404(admin_client, settings, start_chunked, patch):
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"default": {"extensions": [".pdf"]}}
    upload_id = start_chunked(10)
    patch(upload_id, b"1", 0, 10, name="x.exe")
    url = f"/admin/django_filepond_server/temporaryupload/{upload_id}/download/"
    assert admin_client.get(url).status_code == 404


# --- a local area on several app servers --------------------------------------------------------


def test_an_upload_held_by_another_server_is_a_503_and_survives_cleanup(
    client, process, start_chunked, patch, caplog, django_capture_on_commit_callbacks
):
    """Without a shared temporary area, a request can reach a server that does not hold the
    upload: a clear 503 that FilePond retries, a log line for the operator, and cleanup on
    this server leaves the upload alone."""
    finished = process(b"elsewhere")
    transfer = start_chunked(10)
    get_temporary_area().delete(finished)  # as seen from another machine: no such files
    get_temporary_area().delete(transfer)
    TemporaryUpload.objects.update(node="app-2:/srv/filepond-tmp")

    restore = client.get(f"/fp/?restore={finished}")
    assert restore.status_code == 503
    assert restore["Retry-After"] == "1"
    assert (
        restore.content.decode() == "This upload is held by another server. Try again in a moment."
    )
    chunk = patch(transfer, b"abc", 0, 10)
    assert chunk.status_code == 503
    assert "is held by app-2:/srv/filepond-tmp" in caplog.text
    assert "FILEPOND_SERVER_TEMP_STORAGE" in caplog.text

    with django_capture_on_commit_callbacks(execute=True):
        report = cleanup()
    assert report.missing_files == 0
    assert TemporaryUpload.objects.count() == 2


def test_a_missing_file_on_this_server_is_a_404_and_cleanup_removes_the_row(
    client, process, django_capture_on_commit_callbacks
):
    upload_id = process(b"gone")
    get_temporary_area().delete(upload_id)
    response = client.get(f"/fp/?restore={upload_id}")
    assert (response.status_code, response.content) == (404, b"The file of that upload is missing.")
    assert cleanup().missing_files == 1
    assert not TemporaryUpload.objects.exists()
