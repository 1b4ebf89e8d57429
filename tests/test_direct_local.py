"""Direct uploads without S3: the same client and settings, and the app's own signed target
stands in for the bucket (the local temporary directory, or any other Django storage)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import io
import json
import os
import re
import threading

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from django_filepond_server import direct, direct_target, direct_views
from django_filepond_server.cleanup import cleanup
from django_filepond_server.exceptions import UploadTooLarge
from django_filepond_server.forms import FilePondField, FilePondForm, widgets
from django_filepond_server.models import DirectTransfer, TemporaryUpload, UploadPart
from django_filepond_server.temporary import LocalTemporaryArea, StorageTemporaryArea
from tests import direct_client as dc
from tests.helpers import NOT_FOUND_WITHOUT_SESSION, body_of, tiny_png
from tests.test_ownership import Browser

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def small_parts(settings):
    settings.FILEPOND_SERVER_DIRECT_PART_SIZE = 5 * MiB


@pytest.fixture
def storage_area(settings, tmp_path):
    """The temporary area in a Django storage that is not S3."""
    settings.STORAGES = {
        **settings.STORAGES,
        "shared-tmp": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "shared")},
        },
    }
    settings.FILEPOND_SERVER_TEMP_STORAGE = "shared-tmp"
    return tmp_path / "shared"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload_id_of(answer: dict) -> str:
    return answer["key"].split("/")[0]


# --- the same flow, to the app -----------------------------------------------------------------


def test_a_small_file_posts_to_the_apps_target_in_the_local_directory(client, upload_dirs):
    content = tiny_png(padding=3000)
    answer = dc.begun(client, content, "photo.png", declared_type="image/png")
    upload_id = upload_id_of(answer)
    assert answer["key"] == f"{upload_id}/whole"
    assert answer["post"]["url"].startswith("/fp/direct/target/")
    assert answer["post"]["fields"] == {}
    assert dc.complete(client, answer["key"]).status_code == 409  # nothing sent yet

    dc.send(client, answer, content)
    response = dc.complete(client, answer["key"])
    assert (response.status_code, response.content.decode()) == (200, upload_id)
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert (upload.complete, upload.detected_type, upload.area) == (True, "image/png", "")
    assert not UploadPart.objects.filter(upload=upload).exists()  # a local upload has none
    assert (upload_dirs["tmp"] / f"{upload_id}.upload").read_bytes() == content
    assert body_of(client.get(f"/fp/?restore={upload_id}")) == content


def test_parts_put_in_any_order_are_written_into_the_one_file(client):
    content = os.urandom(11 * MiB + 7)
    answer = dc.begun(client, content)
    assert (answer["parts"], sorted(answer["urls"])) == (3, ["1", "2", "3"])
    dc.send(client, answer, content)  # last part first
    assert dc.complete(client, answer["key"]).status_code == 200
    restored = client.get(f"/fp/?restore={upload_id_of(answer)}")
    assert sha(body_of(restored)) == sha(content)


def test_the_app_target_writes_into_a_storage_area_as_objects(client, storage_area):
    content = os.urandom(11 * MiB)
    answer = dc.begun(client, content)
    upload_id = upload_id_of(answer)
    dc.send(client, answer, content)
    assert dc.complete(client, answer["key"]).status_code == 200
    parts = list(
        UploadPart.objects.filter(upload_id=upload_id).values_list("offset", "length", "skip")
    )
    assert parts == [(0, 5 * MiB, 0), (5 * MiB, 5 * MiB, 0), (10 * MiB, MiB, 0)]
    assert len(list((storage_area / upload_id).iterdir())) == 3
    assert sha(body_of(client.get(f"/fp/?restore={upload_id}"))) == sha(content)

    small = b"one request\n"
    answer = dc.begun(client, small, "a.txt")
    dc.send(client, answer, small)
    assert dc.complete(client, answer["key"]).status_code == 200
    assert body_of(client.get(f"/fp/?restore={upload_id_of(answer)}")) == small


def test_the_app_target_can_be_chosen_on_s3_too(client, settings, direct_s3, direct_area):
    settings.FILEPOND_SERVER_DIRECT_TARGET = "app"
    content = b"through the app, into the bucket\n"
    answer = dc.begun(client, content, "a.txt")
    assert answer["post"]["url"].startswith("/fp/direct/target/")
    dc.send(client, answer, content)
    assert dc.complete(client, answer["key"]).status_code == 200
    assert body_of(client.get(f"/fp/?restore={upload_id_of(answer)}")) == content


# --- the signed target -------------------------------------------------------------------------


def test_a_part_that_arrived_cannot_be_sent_again(client):
    content = os.urandom(6 * MiB)
    answer = dc.begun(client, content)
    first, second = content[: 5 * MiB], content[5 * MiB :]
    assert dc.put_part(client, answer["urls"]["1"], first).status_code == 200
    again = dc.put_part(client, answer["urls"]["1"], os.urandom(5 * MiB))
    assert (again.status_code, again.content.decode()) == (
        409,
        "That part has already arrived; its link cannot be used again.",
    )
    assert dc.put_part(client, answer["urls"]["2"], second).status_code == 200
    assert dc.complete(client, answer["key"]).status_code == 200
    late = dc.put_part(client, answer["urls"]["2"], second)
    assert (late.status_code, late.content.decode()) == (
        409,
        "That upload is already complete; its links cannot be used again.",
    )
    assert sha(body_of(client.get(f"/fp/?restore={upload_id_of(answer)}"))) == sha(content)


def test_a_whole_file_cannot_be_posted_twice(client):
    answer = dc.begun(client, b"first")
    assert dc.post_whole(client, answer["post"], b"first").status_code == 204
    assert dc.post_whole(client, answer["post"], b"other").status_code == 409


def test_an_expired_or_forged_link_is_refused(client, monkeypatch):
    answer = dc.begun(client, b"hello")
    upload_id = upload_id_of(answer)
    with monkeypatch.context() as patched:
        patched.setattr(signing.TimestampSigner, "timestamp", lambda self: "1")  # 1970
        expired = direct_target.url_for(upload_id, 0)
    # The link of another upload, its signature kept: the token no longer matches it.
    other = dc.begun(client, b"other")["post"]["url"]
    payload, timestamp, signature = other.rstrip("/").rsplit("/", 1)[1].split(":")
    swapped = base64.urlsafe_b64encode(json.dumps([upload_id, 0]).encode()).decode().rstrip("=")
    forged = f"/fp/direct/target/{swapped}:{timestamp}:{signature}/"
    for url, message in (
        (expired, "This upload link has expired."),
        (forged, "This upload link is not valid."),
        ("/fp/direct/target/abc/", "This upload link is not valid."),
    ):
        refused = dc.post_whole(client, {"url": url, "fields": {}}, b"hello")
        assert (refused.status_code, refused.content.decode()) == (403, message), url
    assert dc.complete(client, answer["key"]).status_code == 409
    # A valid link of an upload that is gone: unknown.
    gone = dc.post_whole(client, {"url": direct_target.url_for("C" * 22, 0), "fields": {}}, b"x")
    assert gone.status_code == 404


def test_the_target_checks_the_owner_too(client):
    answer = dc.begun(client, b"mine")
    stranger = dc.post_whole(Client(), answer["post"], b"evil")
    assert (stranger.status_code, stranger.content.decode()) == (404, NOT_FOUND_WITHOUT_SESSION)
    assert dc.post_whole(client, answer["post"], b"mine").status_code == 204


def test_the_target_refuses_bodies_of_the_wrong_size_before_or_while_reading(client):
    content = os.urandom(6 * MiB)
    answer = dc.begun(client, content)
    url = answer["urls"]["2"]  # should carry 1 MiB
    longer = dc.put_part(client, url, b"x" * (MiB + 1))
    assert (longer.status_code, longer.content.decode()) == (
        413,
        f"This part has more than the {MiB} bytes it should have.",
    )
    shorter = dc.put_part(client, url, b"x" * 10)
    assert (shorter.status_code, shorter.content.decode()) == (
        400,
        f"This part should have {MiB} bytes, not 10.",
    )
    chunked = client.generic(
        "PUT",
        url,
        b"",
        content_type="application/octet-stream",
        headers={"Transfer-Encoding": "chunked"},
    )
    assert chunked.status_code == 411

    whole = dc.begun(client, b"12345")
    too_large = dc.post_whole(client, whole["post"], b"123456")
    assert (too_large.status_code, too_large.content.decode()) == (
        413,
        "This part has more than the 5 bytes it should have.",
    )
    too_small = dc.post_whole(client, whole["post"], b"1234")
    assert too_small.status_code == 400
    not_a_form = client.post(whole["post"]["url"], b"12345", content_type="text/plain")
    assert not_a_form.status_code == 415
    wrong_field = client.post(whole["post"]["url"], {"other": SimpleUploadedFile("f", b"12345")})
    assert (wrong_field.status_code, wrong_field.content.decode()) == (
        400,
        "Send one file, in the form field named file.",
    )
    # Nothing was recorded: the right bytes still go.
    assert dc.post_whole(client, whole["post"], b"12345").status_code == 204
    assert dc.complete(client, whole["key"]).status_code == 200


def test_a_link_is_for_one_kind_of_request(client):
    parts = dc.begun(client, os.urandom(6 * MiB))
    whole = dc.begun(client, b"small")
    assert dc.post_whole(client, {"url": parts["urls"]["1"], "fields": {}}, b"x").status_code == 400
    assert dc.put_part(client, whole["post"]["url"], b"small").status_code == 400


# --- the app's own requests -----------------------------------------------------------------------


def test_begin_and_complete_need_the_csrf_token_of_a_logged_in_user(django_user_model):
    user = django_user_model.objects.create_user("ada", password="not-used")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    token = _get_new_csrf_string()
    browser.cookies[settings.CSRF_COOKIE_NAME] = token
    refused = dc.begin(browser, 5)
    assert refused.status_code == 403
    assert "CSRF" in refused.content.decode()
    answer = dc.call(
        browser,
        "direct/",
        {"name": "a.txt", "size": 5, "type": "text/plain"},
        **{"X-CSRFToken": token},
    ).json()
    # The target needs no CSRF token: its signed link is its permission.
    assert dc.post_whole(browser, answer["post"], b"hello").status_code == 204
    assert dc.complete(browser, answer["key"]).status_code == 403
    done = dc.call(browser, "direct/complete/", {"key": answer["key"]}, **{"X-CSRFToken": token})
    assert done.status_code == 200
    assert TemporaryUpload.objects.get(pk=done.content.decode()).owner == user


def test_bad_requests_get_one_sentence(client, settings):
    settings.FILEPOND_SERVER_MAX_METADATA_SIZE = 100
    cases = [
        (b"not json", 400, "The request body is not valid JSON."),
        (b"[1, 2]", 400, "The request body must be a JSON object."),
        (b'{"size": 5, "name": "a", "metadata": "' + b"x" * 200 + b'"}', 400, None),
        (b"{" + b" " * 9000 + b"}", 413, "The request body is larger than 8292 bytes."),
    ]
    for body, status, message in cases:
        response = client.post("/fp/direct/", body, content_type="application/json")
        assert response.status_code == status, body[:20]
        if message:
            assert response.content.decode() == message
        assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert client.get("/fp/direct/").status_code == 405
    # A form of another site can send text/plain that reads as JSON; it is refused.
    form = client.post("/fp/direct/", b'{"size": 5, "name": "a.txt"}', content_type="text/plain")
    assert (form.status_code, form.content.decode()) == (
        415,
        "Send the request as application/json.",
    )
    for path in ("direct/complete/", "direct/abort/", "direct/parts/"):
        assert dc.call(client, path, {}).content.decode() == (
            "Say which upload this is for with its key."
        )


def test_simultaneous_begins_never_pass_the_owner_limit(
    live_server, settings, transactional_db, upload_dirs
):
    """Eight begins of one visitor at the same moment, with room for two."""
    settings.FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER = 2
    visitor = Browser(live_server.url)
    first = visitor.upload(b"first")  # the session exists before the race
    TemporaryUpload.objects.all().delete()
    barrier = threading.Barrier(8, timeout=30)
    statuses: list[int] = []
    body = b'{"name": "a.txt", "size": 10, "type": "text/plain"}'

    def begin() -> None:
        barrier.wait()
        statuses.append(
            visitor.send("POST", "/fp/direct/", body, Content_Type="application/json")[0]
        )

    threads = [threading.Thread(target=begin) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [200, 200] + [429] * 6
    assert TemporaryUpload.objects.count() == DirectTransfer.objects.count() == 2
    # The refused begins left no file behind.
    files = {path.stem for path in upload_dirs["tmp"].glob("*.upload")}
    assert files == {first, *DirectTransfer.objects.values_list("pk", flat=True)}


def test_abort_and_cleanup_remove_begun_uploads(
    client, upload_dirs, django_capture_on_commit_callbacks
):
    answer = dc.begun(client, os.urandom(6 * MiB))
    upload_id = upload_id_of(answer)
    assert (upload_dirs["tmp"] / f"{upload_id}.upload").exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert dc.call(client, "direct/abort/", {"key": answer["key"]}).status_code == 204
    assert not TemporaryUpload.objects.filter(pk=upload_id).exists()

    abandoned = dc.begun(client, b"never sent")
    TemporaryUpload.objects.filter(pk=upload_id_of(abandoned)).update(updated="2000-01-01T00:00Z")
    with django_capture_on_commit_callbacks(execute=True):
        report = cleanup()
    assert report.abandoned == 1
    assert not TemporaryUpload.objects.exists()
    assert list(upload_dirs["tmp"].glob("*.upload")) == []


def test_part_math_keeps_within_s3s_ten_thousand_parts(settings):
    settings.FILEPOND_SERVER_DIRECT_PART_SIZE = 5 * MiB
    assert direct.part_size_for(5 * MiB) == 0
    assert direct.part_size_for(5 * MiB + 1) == 5 * MiB
    huge = 100 * 1024 * MiB  # 100 GiB
    size = direct.part_size_for(huge)
    assert direct.part_count(huge, size) <= direct.MAX_PARTS
    assert direct.part_range(huge, size, direct.part_count(huge, size))[1] > 0


def test_begin_takes_the_process_endpoints_throttles_unless_it_has_its_own(client, settings):
    settings.FILEPOND_SERVER_THROTTLE_CLASSES = {"POST_PROCESS": [Closed]}
    response = dc.begin(client, 5)
    assert (response.status_code, response["Retry-After"]) == (429, "60")
    settings.FILEPOND_SERVER_THROTTLE_CLASSES = {"POST_PROCESS": [Closed], "POST_DIRECT": []}
    assert dc.begin(client, 5).status_code == 200


class Closed(BaseThrottle):
    def allow_request(self, request, view):
        return False

    def wait(self):
        return 60


def test_a_field_with_the_direct_transport_loads_the_client_before_the_widget(rf):
    class DocumentForm(FilePondForm):
        document = FilePondField(transport="direct")

    request = rf.get("/")
    request.session = {}
    form = DocumentForm(request=request)
    config = json.loads(
        html.unescape(re.search(r'data-filepond="([^"]*)"', str(form["document"])).group(1))
    )
    assert config["transport"] == "direct"
    assert config["options"]["server"]["url"] == "/fp/"
    scripts = [str(script) for script in form.media._js]
    assert scripts.index(widgets.DIRECT_SCRIPT) < scripts.index(widgets.WIDGET_SCRIPT)
    assert finders.find(widgets.DIRECT_SCRIPT)  # shipped as a static file of the package


# --- what goes wrong on the way -----------------------------------------------------------------


def test_a_declared_type_must_look_like_one(client):
    for declared in ("image/png\x00", "x" * 256):
        response = dc.begin(client, 5, "a.png", declared_type=declared)
        assert (response.status_code, response.content.decode()) == (
            400,
            "The file's declared type is not a content type.",
        )


def test_parts_are_asked_for_only_while_a_multipart_upload_is_open(client):
    whole = dc.begun(client, b"small")
    response = dc.call(client, "direct/parts/", {"key": whole["key"], "parts": [1]})
    assert (response.status_code, response.content.decode()) == (
        400,
        "That upload is sent in one request; it has no parts.",
    )
    content = os.urandom(6 * MiB)
    answer = dc.begun(client, content)
    dc.send(client, answer, content)
    assert dc.complete(client, answer["key"]).status_code == 200
    response = dc.call(client, "direct/parts/", {"key": answer["key"], "parts": [1]})
    assert (response.status_code, response.content.decode()) == (
        409,
        "That upload is already complete.",
    )


def test_a_complete_while_another_runs_the_checks_waits_and_a_dead_one_is_taken_over(client):
    answer = dc.begun(client, b"checked once")
    dc.send(client, answer, b"checked once")
    upload_id = upload_id_of(answer)
    TemporaryUpload.objects.filter(pk=upload_id).update(checking_since=timezone.now())
    busy = dc.complete(client, answer["key"])
    assert (busy.status_code, busy["Retry-After"]) == (503, "2")
    assert busy.content.decode() == "The file is still being checked. Try again in a moment."
    # The request that claimed them is presumed gone after the validation timeout.
    TemporaryUpload.objects.filter(pk=upload_id).update(checking_since="2000-01-01T00:00Z")
    assert dc.complete(client, answer["key"]).status_code == 200


def test_an_upload_aborted_or_taken_over_during_its_checks(client, settings):
    def meddling(upload, f):
        if upload.file_name == "aborted.txt":
            TemporaryUpload.objects.filter(pk=upload.pk).delete()
        else:
            TemporaryUpload.objects.filter(pk=upload.pk).update(checking_since=timezone.now())

    settings.FILEPOND_SERVER_VALIDATORS = [meddling]
    for name, status in (("aborted.txt", 404), ("taken.txt", 503)):
        answer = dc.begun(client, b"text", name)
        dc.send(client, answer, b"text")
        assert dc.complete(client, answer["key"]).status_code == status, name


def test_the_s3_target_without_s3_is_a_configuration_error(client, settings):
    settings.FILEPOND_SERVER_DIRECT_TARGET = "s3"
    with pytest.raises(ImproperlyConfigured, match="FILEPOND_SERVER_DIRECT_TARGET is 's3'"):
        dc.begin(client, 5)


def test_a_signed_token_of_another_shape_is_not_a_link(client):
    token = signing.dumps(["not an id", -1], salt=direct_target.SALT, compress=False)
    response = client.post(f"/fp/direct/target/{token}/")
    assert (response.status_code, response.content.decode()) == (
        403,
        "This upload link is not valid.",
    )


def test_a_part_or_a_complete_for_a_local_file_that_is_gone(client, upload_dirs):
    content = os.urandom(6 * MiB)
    answer = dc.begun(client, content)
    (upload_dirs["tmp"] / f"{upload_id_of(answer)}.upload").unlink()
    response = dc.put_part(client, answer["urls"]["2"], content[5 * MiB :])
    assert (response.status_code, response.content.decode()) == (
        404,
        "The file of that upload is missing.",
    )
    response = dc.complete(client, answer["key"])
    assert (response.status_code, response.content.decode()) == (
        404,
        "The file of that upload is missing.",
    )


def test_a_storage_that_fails_or_an_upload_removed_while_its_part_arrived(
    client, storage_area, monkeypatch
):
    answer = dc.begun(client, b"12345")
    saved = StorageTemporaryArea.save

    def failing(self, name, content):
        raise OSError("the disk is full")

    monkeypatch.setattr(StorageTemporaryArea, "save", failing)
    response = dc.post_whole(client, answer["post"], b"12345")
    assert (response.status_code, response.content.decode()) == (
        503,
        "The server could not read or write the file storage. Try again later.",
    )

    def saved_then_removed(self, name, content):
        saved(self, name, content)
        TemporaryUpload.objects.filter(pk=upload_id_of(answer)).delete()

    monkeypatch.setattr(StorageTemporaryArea, "save", saved_then_removed)
    assert dc.post_whole(client, answer["post"], b"12345").status_code == 404
    assert [path for path in storage_area.rglob("*") if path.is_file()] == []


def test_bytes_that_cannot_be_written_are_a_server_error(client, monkeypatch):
    class Full:
        def __init__(self, f):
            self.f = f

        def seek(self, *args):
            return self.f.seek(*args)

        def flush(self):
            return self.f.flush()

        def write(self, data):
            raise OSError(28, "No space left on device")

    locked = LocalTemporaryArea.locked

    @contextlib.contextmanager
    def full(self, upload_id):
        with locked(self, upload_id) as f:
            yield Full(f)

    monkeypatch.setattr(LocalTemporaryArea, "locked", full)
    content = os.urandom(6 * MiB)
    parts = dc.begun(client, content)
    assert dc.put_part(client, parts["urls"]["2"], content[5 * MiB :]).status_code == 503
    whole = dc.begun(client, b"12345")
    assert dc.post_whole(client, whole["post"], b"12345").status_code == 503


def test_forms_without_the_file_or_far_too_large_are_refused(client):
    whole = dc.begun(client, b"12345")
    no_file = client.post(whole["post"]["url"], {"key": "x"})
    assert (no_file.status_code, no_file.content.decode()) == (
        400,
        "Send one file, in the form field named file.",
    )
    huge = dc.post_whole(client, whole["post"], b"1" * (70 * 1024))
    assert (huge.status_code, huge.content.decode()) == (
        413,
        "This part has more than the 5 bytes it should have.",
    )


def test_json_bodies_are_bounded_even_without_a_content_length():
    parser = direct_views.BoundedJSONParser()
    with pytest.raises(UploadTooLarge):
        parser.parse(io.BytesIO(b"{" + b" " * 30_000 + b"}"))
    assert parser.parse(None) == {}


def test_an_unreadable_content_length_is_no_length(client):
    response = client.generic(
        "POST", "/fp/direct/", b"{}", content_type="application/json", CONTENT_LENGTH="many"
    )
    assert (response.status_code, response.content.decode()) == (
        400,
        "Say the file's size as a whole number of bytes.",
    )


def test_a_file_without_a_declared_type_is_checked_by_its_content_alone(client, settings):
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"default": {"types": ["text/plain"]}}
    upload_id = dc.upload(client, b"plain words\n", "notes", declared_type="")
    assert TemporaryUpload.objects.get(pk=upload_id).detected_type == "text/plain"


def test_a_part_for_an_upload_reverted_while_it_waited_for_its_turn(client, monkeypatch):
    content = os.urandom(6 * MiB)
    answer = dc.begun(client, content)
    locked = LocalTemporaryArea.locked

    @contextlib.contextmanager
    def reverted_meanwhile(self, upload_id):
        with locked(self, upload_id) as f:
            TemporaryUpload.objects.filter(pk=upload_id).delete()
            yield f

    monkeypatch.setattr(LocalTemporaryArea, "locked", reverted_meanwhile)
    response = dc.put_part(client, answer["urls"]["2"], content[5 * MiB :])
    assert (response.status_code, response.content.decode()) == (
        404,
        "No upload with that id was found.",
    )
