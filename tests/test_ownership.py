"""Uploads belong to a user or a session; nobody else can touch them, and owners have limits."""

from __future__ import annotations

import http.cookiejar
import urllib.error
import urllib.request

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from django_filepond_server import api
from django_filepond_server.exceptions import UploadNotOwned
from django_filepond_server.models import StoredUpload, TemporaryUpload
from django_filepond_server.temporary import get_temporary_area
from tests.conftest import StreamReadingClient
from tests.helpers import NOT_FOUND_WITHOUT_SESSION, body_of

pytestmark = pytest.mark.django_db


class Browser:
    """One visitor over real HTTP, with its own cookie jar (its own session)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def send(self, method: str, path: str, body: bytes | None = None, **headers: str):
        request = urllib.request.Request(self.base + path, data=body, method=method)
        for name, value in headers.items():
            request.add_header(name.replace("_", "-"), value)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read(), error.headers

    def upload(self, content: bytes, name: str = "a.txt") -> str:
        boundary = "b0undary"
        part = f'--{boundary}\r\nContent-Disposition: form-data; name="filepond"'
        head = f'{part}\r\n\r\n{{}}\r\n{part}; filename="{name}"\r\n\r\n'.encode()
        body = head + content + f"\r\n--{boundary}--\r\n".encode()
        status, text, _ = self.send(
            "POST", "/fp/", body, Content_Type=f"multipart/form-data; boundary={boundary}"
        )
        assert status == 200, text
        return text.decode()

    def start(self, length: int) -> str:
        boundary = "b0undary"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="filepond"\r\n\r\n{{}}\r\n'
            f"--{boundary}--\r\n"
        ).encode()
        status, text, _ = self.send(
            "POST",
            "/fp/",
            body,
            Content_Type=f"multipart/form-data; boundary={boundary}",
            Upload_Length=str(length),
        )
        assert status == 200, text
        return text.decode()

    def patch(self, upload_id: str, body: bytes, offset: int, length: int):
        return self.send(
            "PATCH",
            f"/fp/?patch={upload_id}",
            body,
            Content_Type="application/offset+octet-stream",
            Upload_Offset=str(offset),
            Upload_Length=str(length),
            Upload_Name="part.bin",
        )


@pytest.mark.django_db(transaction=True)
def test_one_visitor_cannot_touch_anothers_uploads_over_http(live_server):
    alice, mallory = Browser(live_server.url), Browser(live_server.url)
    finished = alice.upload(b"alice's file")
    transfer = alice.start(20)
    assert alice.patch(transfer, b"0123456789", 0, 20)[0] == 204

    not_found = NOT_FOUND_WITHOUT_SESSION.encode()  # mallory has no session yet
    assert mallory.patch(transfer, b"XXXXXXXXXX", 10, 20)[:2] == (404, not_found)
    assert mallory.send("HEAD", f"/fp/?patch={transfer}")[0] == 404
    assert mallory.send("GET", f"/fp/?restore={finished}")[:2] == (404, not_found)
    assert mallory.send("DELETE", "/fp/", finished.encode())[:2] == (404, not_found)
    assert mallory.send("DELETE", "/fp/", transfer.encode())[0] == 404

    # Alice's uploads are untouched and still hers.
    status, _, headers = alice.send("HEAD", f"/fp/?patch={transfer}")
    assert (status, headers["Upload-Offset"]) == (200, "10")
    assert alice.patch(transfer, b"abcdefghij", 10, 20)[0] == 204
    assert alice.send("GET", f"/fp/?restore={finished}")[:2] == (200, b"alice's file")
    with get_temporary_area().open(transfer) as f:
        assert f.read() == b"0123456789abcdefghij"
    assert alice.send("DELETE", "/fp/", finished.encode())[0] == 204


def test_users_own_their_uploads(process):
    ada, bob = StreamReadingClient(), StreamReadingClient()
    ada.force_login(User.objects.create_user("ada"))
    bob.force_login(User.objects.create_user("bob"))
    response = ada.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("a.txt", b"ada")]})
    upload_id = response.content.decode()
    assert TemporaryUpload.objects.get(pk=upload_id).owner.username == "ada"
    assert bob.get(f"/fp/?restore={upload_id}").status_code == 404
    assert body_of(ada.get(f"/fp/?restore={upload_id}")) == b"ada"


def test_uploads_made_before_logging_in_stay_yours(client, process):
    upload_id = process(b"mine")
    User.objects.create_user("carol", password="pw")
    assert client.login(username="carol", password="pw")
    assert body_of(client.get(f"/fp/?restore={upload_id}")) == b"mine"


def test_the_check_can_be_relaxed_for_cross_device_flows(process, settings):
    upload_id = process(b"shared")
    settings.FILEPOND_SERVER_CHECK_OWNER = False
    other = StreamReadingClient()
    assert body_of(other.get(f"/fp/?restore={upload_id}")) == b"shared"


def test_without_sessions_anonymous_uploads_are_refused(client, settings):
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if not any(w in m for w in ("session", "auth", "messages"))
    ]
    response = client.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("a.txt", b"x")]})
    assert response.status_code == 403
    assert response.content.decode() == (
        "Uploads need a session or a logged-in user; enable cookies and try again."
    )
    assert not TemporaryUpload.objects.exists()


class FakeRequest:
    """What store_upload reads from a request: its user and session."""

    def __init__(self, client) -> None:
        from django.contrib.auth.models import AnonymousUser
        from django.contrib.sessions.backends.db import SessionStore

        self.session = SessionStore(client.cookies["sessionid"].value)
        self.user = AnonymousUser()
        self.POST = None


def test_store_upload_checks_the_request(client, process):
    upload_id = process(b"x")
    stranger = StreamReadingClient()
    stranger.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("b.txt", b"y")]})
    with pytest.raises(UploadNotOwned, match="does not belong to the user or session"):
        api.store_upload(upload_id, "x/", request=FakeRequest(stranger))
    assert TemporaryUpload.objects.filter(pk=upload_id).exists()
    stored = api.store_upload(upload_id, "x/", request=FakeRequest(client))
    assert stored.upload_id == upload_id


def test_store_upload_checks_the_user():
    ada, bob = User.objects.create_user("ada"), User.objects.create_user("bob")
    client = StreamReadingClient()
    client.force_login(ada)
    upload_id = client.post(
        "/fp/", {"filepond": ["{}", SimpleUploadedFile("a.txt", b"x")]}
    ).content.decode()
    with pytest.raises(UploadNotOwned, match="does not belong to bob"):
        api.store_upload(upload_id, "x/", user=bob)
    stored = api.store_upload(upload_id, "x/", user=ada)
    assert stored.owner == ada


def test_store_submitted_uploads_stores_all_or_nothing(client, process, rf):
    mine = [process(b"1", name="one.txt"), process(b"2", name="two.txt")]
    stranger = StreamReadingClient()
    theirs = stranger.post(
        "/fp/", {"filepond": ["{}", SimpleUploadedFile("t.txt", b"t")]}
    ).content.decode()

    def form_request(ids):
        request = rf.post("/form/", {"filepond": ids})
        own = FakeRequest(client)
        request.session, request.user = own.session, own.user
        return request

    with pytest.raises(UploadNotOwned):
        api.store_submitted_uploads(form_request([*mine, theirs]), "filepond", "docs/")
    assert not StoredUpload.objects.exists()

    stored = api.store_submitted_uploads(form_request([mine[0], "", mine[1]]), "filepond", "docs/")
    assert [s.original_name for s in stored] == ["one.txt", "two.txt"]


def test_limit_on_open_uploads_per_owner(client, process, settings):
    settings.FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER = 2
    process()
    process()
    response = client.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("c.txt", b"c")]})
    assert response.status_code == 429
    assert response.content.decode() == (
        "You already have 2 temporary uploads, the most allowed; submit or remove some first."
    )
    # Another visitor is not affected.
    other = StreamReadingClient()
    response = other.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("d.txt", b"d")]})
    assert response.status_code == 200


def test_limit_on_temporary_bytes_per_owner(client, process, settings):
    settings.FILEPOND_SERVER_MAX_BYTES_PER_OWNER = 100
    process(b"x" * 60)
    response = client.post("/fp/", {"filepond": "{}"}, headers={"Upload-Length": "50"})
    assert response.status_code == 413
    assert response.content.decode() == (
        "This file would take your temporary uploads past the limit of 100 bytes; submit or "
        "remove some first."
    )
    assert (
        client.post("/fp/", {"filepond": "{}"}, headers={"Upload-Length": "40"}).status_code == 200
    )


def test_store_submitted_uploads_undoes_earlier_stores_when_a_later_one_fails(
    client, process, rf, settings, upload_dirs
):
    from django_filepond_server.exceptions import UploadRejected
    from tests.helpers import tiny_png

    png, text = process(tiny_png(), name="a.png"), process(b"plain", name="b.png")
    request = rf.post("/form/", {"filepond": [png, text]})
    own = FakeRequest(client)
    request.session, request.user = own.session, own.user
    with pytest.raises(UploadRejected, match="text/plain"):
        api.store_submitted_uploads(request, "filepond", "docs/", rules={"types": ["image/*"]})
    assert not StoredUpload.objects.exists()
    assert not (upload_dirs["media"] / "docs" / "a.png").exists()
    assert set(TemporaryUpload.objects.values_list("pk", flat=True)) == {png, text}
    with get_temporary_area().open(png) as f:
        assert f.read() == tiny_png()


def test_a_file_that_cannot_be_undone_is_reported_not_hidden(
    client, process, rf, settings, caplog, monkeypatch
):
    """All or nothing fails half-way and removing the file already stored fails too: the
    caller's exception and the log say which file is left behind."""
    from django.core.files.storage import FileSystemStorage

    from django_filepond_server.exceptions import UploadRejected
    from tests.helpers import tiny_png

    png, text = process(tiny_png(), name="a.png"), process(b"plain", name="b.png")
    request = rf.post("/form/", {"filepond": [png, text]})
    own = FakeRequest(client)
    request.session, request.user = own.session, own.user

    def refuse(self, name):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(FileSystemStorage, "delete", refuse)
    with pytest.raises(UploadRejected) as caught:
        api.store_submitted_uploads(request, "filepond", "docs/", rules={"types": ["image/*"]})
    (note,) = caught.value.__notes__
    assert note.startswith("The file 'docs/a.png' written before the failure could not be removed")
    assert "left behind" in note
    assert note in caplog.text
    assert not StoredUpload.objects.exists()


def test_store_upload_with_a_request_follows_check_owner(process, settings):
    upload_id = process(b"x")
    other = StreamReadingClient()
    other.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("o.txt", b"o")]})
    settings.FILEPOND_SERVER_CHECK_OWNER = False
    assert api.store_upload(upload_id, "x/", request=FakeRequest(other)).upload_id == upload_id


def test_expired_and_refused_uploads_do_not_count_against_the_limits(client, process, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER = 2
    old = [process(), process()]
    long_ago = timezone.now() - timedelta(days=2)
    TemporaryUpload.objects.filter(pk__in=old).update(created=long_ago, updated=long_ago)
    assert (
        client.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("c.txt", b"c")]}).status_code
        == 200
    )


def test_uploads_made_before_login_count_for_the_user(client, process, settings):
    settings.FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER = 1
    process()
    User.objects.create_user("dora", password="pw")
    assert client.login(username="dora", password="pw")
    response = client.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("d.txt", b"d")]})
    assert response.status_code == 429


def test_first_uploads_sent_at_once_share_an_owner_through_the_csrf_cookie(settings):
    """Several uploads leave before any session cookie comes back: each makes a session, and
    the browser keeps one. The CSRF cookie they all carry gives them the same owner."""
    csrf = "a" * 32
    first, second, stranger = StreamReadingClient(), StreamReadingClient(), StreamReadingClient()
    for client in (first, second):
        client.cookies[settings.CSRF_COOKIE_NAME] = csrf
    stranger.cookies[settings.CSRF_COOKIE_NAME] = "b" * 32
    ids = [
        c.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("f.txt", b"f")]}).content.decode()
        for c in (first, second, stranger)
    ]
    tokens = [TemporaryUpload.objects.get(pk=i).owner_token for i in ids]
    assert tokens[0] == tokens[1] != tokens[2]
    assert first.cookies["sessionid"].value != second.cookies["sessionid"].value
    # The browser kept the second session: it can still restore the first upload.
    assert body_of(second.get(f"/fp/?restore={ids[0]}")) == b"f"
    assert stranger.get(f"/fp/?restore={ids[0]}").status_code == 404


def test_an_old_style_masked_csrf_cookie_is_the_same_owner_as_its_secret(settings):
    """Django 4.1+ answers a 64-character (masked) CSRF cookie with its 32-character secret:
    uploads sent before and after that rewrite belong to one visitor."""
    from django.middleware.csrf import _mask_cipher_secret

    secret = "c" * 32
    masked, plain = StreamReadingClient(), StreamReadingClient()
    masked.cookies[settings.CSRF_COOKIE_NAME] = _mask_cipher_secret(secret)
    plain.cookies[settings.CSRF_COOKIE_NAME] = secret
    ids = [
        c.post("/fp/", {"filepond": ["{}", SimpleUploadedFile("f.txt", b"f")]}).content.decode()
        for c in (masked, plain)
    ]
    tokens = {TemporaryUpload.objects.get(pk=i).owner_token for i in ids}
    assert len(tokens) == 1


@pytest.mark.parametrize("shape", ["user", "token", "user and token"])
def test_the_limit_statement_counts_exactly_what_the_owner_queries_count(shape, settings):
    """The insert that enforces the limits is written out by hand for speed: for every kind of
    owner and every state a row can be in, it must count the rows ``check_limits`` counts."""
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from django_filepond_server.ownership import (
        Owner,
        _conditional_insert,
        live_uploads,
    )

    me = User.objects.create_user("me")
    someone = User.objects.create_user("someone")
    owner = Owner(
        user_id=me.pk if "user" in shape else None, token="tok" if "token" in shape else ""
    )
    now = timezone.now()
    stale = now - timedelta(days=30)
    rows, ages = [], {}
    for user in (me, someone, None):
        for token in ("tok", "other", ""):
            for complete, rejected, when in [
                (True, "", now),
                (True, "", stale),
                (False, "", now),
                (False, "", stale),
                (True, "refused", now),
            ]:
                row = TemporaryUpload(
                    upload_id=f"{len(rows):022d}",
                    file_name="f",
                    owner=user,
                    owner_token=token,
                    complete=complete,
                    rejected=rejected,
                    upload_length=len(rows) + 1,
                )
                rows.append(row)
                ages[row.pk] = when
    TemporaryUpload.objects.bulk_create(rows)
    for pk, when in ages.items():  # auto_now fields: set the ages afterwards
        TemporaryUpload.objects.filter(pk=pk).update(created=when, updated=when)
    counted = TemporaryUpload.objects.filter(owner.uploads() & live_uploads())
    expected_count = counted.count()
    expected_bytes = sum(row.upload_length for row in counted)
    assert 0 < expected_count < len(rows)

    new = TemporaryUpload(upload_id="n" * 22, file_name="new", owner_token=owner.token)
    if owner.user_id is not None:
        new.owner_id = owner.user_id
    for limit, room, inserted in [
        (expected_count + 1, expected_bytes + 10, True),
        (expected_count, 10**12, False),  # one upload too many
        (10**6, expected_bytes + 9, False),  # one byte too many
    ]:
        settings.FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER = limit
        settings.FILEPOND_SERVER_MAX_BYTES_PER_OWNER = room
        sql, params = _conditional_insert(new, owner, 10)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            assert cursor.rowcount == int(inserted), (limit, room)
        TemporaryUpload.objects.filter(pk=new.pk).delete()
