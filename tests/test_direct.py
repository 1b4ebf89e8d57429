"""Direct uploads to S3: the bytes go from the client to the bucket through presigned
requests; the app begins, checks and completes (moto behind a policy-checking gateway, see
tests/direct_s3.py, or the real S3 of FILEPOND_TEST_S3_*). Each test has its own prefix."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from django_filepond_server import api, direct
from django_filepond_server.cleanup import cleanup
from django_filepond_server.models import (
    DirectTransfer,
    StoredUpload,
    TemporaryUpload,
    UploadPart,
)
from tests import direct_client as dc
from tests.conftest import StreamReadingClient
from tests.helpers import body_of, tiny_png

pytestmark = [pytest.mark.django_db, pytest.mark.remote_storage]

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def small_parts(settings):
    settings.FILEPOND_SERVER_DIRECT_PART_SIZE = 5 * MiB  # S3's smallest: three parts of 11 MiB


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def names(direct_s3, direct_area) -> list[str]:
    """The objects under the test's temporary prefix, as names of the area."""
    prefix = f"{direct_s3.run_prefix}/{direct_area.tmp}/"
    return sorted(key[len(prefix) :] for key in direct_s3.keys(direct_area.tmp))


# --- whole files and parts ---------------------------------------------------------------------


def test_a_small_file_goes_in_one_presigned_post_and_becomes_an_ordinary_upload(
    client, direct_s3, direct_area
):
    content = tiny_png(padding=5000)
    answer = dc.begun(
        client, content, "photo.png", declared_type="image/png", metadata='{"album": 7}'
    )
    upload_id = answer["key"].split("/")[-2]
    assert answer["key"] == f"{direct_s3.run_prefix}/{direct_area.tmp}/{upload_id}/sent"
    assert (answer["partSize"], answer["parts"]) == (0, 1)
    assert answer["post"]["url"] == f"{direct_s3.endpoint}/{direct_s3.bucket}"
    assert answer["post"]["fields"]["key"] == answer["key"]
    assert answer["post"]["fields"]["Content-Type"] == "application/octet-stream"
    # Begun, counted against the owner's limits, not restorable yet.
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert (upload.complete, upload.upload_length, upload.received) == (False, len(content), 0)
    assert client.get(f"/fp/?restore={upload_id}").status_code == 409

    dc.send(client, answer, content)
    response = dc.complete(client, answer["key"])
    assert (response.status_code, response.content.decode()) == (200, upload_id)

    upload.refresh_from_db()
    assert upload.complete and upload.checking_since is None
    assert (upload.file_name, upload.field_name, upload.metadata) == (
        "photo.png",
        "filepond",
        {"album": 7},
    )
    assert (upload.detected_type, upload.content_type) == ("image/png", "image/png")
    assert upload.owner_token and upload.area == "direct-tmp"
    assert list(
        UploadPart.objects.filter(upload=upload).values_list("offset", "length", "name")
    ) == [(0, len(content), f"{upload_id}/whole")]
    # The POSTed object was copied to a name no presigned form can write to.
    assert names(direct_s3, direct_area) == [f"{upload_id}/whole"]
    restored = client.get(f"/fp/?restore={upload_id}")
    assert restored.status_code == 200 and body_of(restored) == content


def test_a_large_file_goes_in_parts_sent_at_once_and_completes_into_one_object(
    client, direct_s3, direct_area
):
    content = os.urandom(11 * MiB + 1234)
    answer = dc.begun(client, content, "big.bin")
    upload_id = answer["key"].split("/")[-2]
    assert answer["key"].endswith(f"{upload_id}/whole")
    assert (answer["partSize"], answer["parts"]) == (5 * MiB, 3)
    assert sorted(answer["urls"]) == ["1", "2", "3"]
    (open_upload,) = direct_s3.multipart_uploads(direct_area.tmp)
    assert open_upload["Key"] == answer["key"]

    dc.send(client, answer, content)  # the three parts at once, last first
    response = dc.complete(client, answer["key"])
    assert response.status_code == 200, response.content
    assert direct_s3.multipart_uploads(direct_area.tmp) == []
    assert names(direct_s3, direct_area) == [f"{upload_id}/whole"]
    restored = client.get(f"/fp/?restore={upload_id}")
    assert sha(body_of(restored)) == sha(content)
    # A retried complete gets the same answer and changes nothing.
    assert dc.complete(client, answer["key"]).content.decode() == upload_id


def test_part_urls_beyond_the_first_batch_are_signed_on_demand_and_keep_the_upload_alive(
    client, direct_area, monkeypatch
):
    monkeypatch.setattr(direct, "PART_BATCH", 2)
    content = os.urandom(15 * MiB + 1)
    answer = dc.begun(client, content)
    assert (answer["parts"], sorted(answer["urls"])) == (4, ["1", "2"])
    upload_id = answer["key"].split("/")[-2]
    TemporaryUpload.objects.filter(pk=upload_id).update(
        updated=timezone.now() - timedelta(minutes=50)
    )
    urls = dc.part_urls(client, answer["key"], [4, 3])
    assert sorted(urls) == ["3", "4"]
    assert TemporaryUpload.objects.get(pk=upload_id).updated > timezone.now() - timedelta(minutes=1)
    for numbers, status in (([5], 400), ([1, 2, 3], 400), ([], 400), (["1"], 400), ([True], 400)):
        response = dc.call(client, "direct/parts/", {"key": answer["key"], "parts": numbers})
        assert response.status_code == status, numbers
    assert (
        dc.call(client, "direct/parts/", {"key": answer["key"], "parts": [5]}).content.decode()
        == "Ask for 1 to 2 part numbers between 1 and 4."
    )
    dc.send(client, answer, content)
    assert dc.complete(client, answer["key"]).status_code == 200


# --- refusals ----------------------------------------------------------------------------------


def test_a_file_larger_than_the_policy_allows_is_refused_by_s3_itself(
    client, direct_s3, direct_area
):
    content = b"x" * 1000
    answer = dc.begun(client, content, "notes.txt")
    refused = dc.post_whole(client, answer["post"], content + b"!")
    assert refused.status_code == 400
    assert b"EntityTooLarge" in refused.content
    assert names(direct_s3, direct_area) == []
    response = dc.complete(client, answer["key"])
    assert response.status_code == 409
    assert response.content.decode() == (
        "The file has not arrived in storage yet; send it, then complete the upload."
    )
    # The policy pins the key too: the form cannot write anywhere else.
    moved = dict(answer["post"], fields={**answer["post"]["fields"], "key": answer["key"] + "x"})
    assert dc.post_whole(client, moved, content).status_code == 403
    assert names(direct_s3, direct_area) == []
    # The right bytes still go, and complete.
    dc.send(client, answer, content)
    assert dc.complete(client, answer["key"]).status_code == 200


def test_a_complete_with_the_wrong_size_is_refused_and_removes_the_bytes(
    client, direct_s3, direct_area
):
    content = os.urandom(11 * MiB)
    answer = dc.begun(client, content)
    upload_id = answer["key"].split("/")[-2]
    # S3 takes a part of any size: the last part is sent 100 bytes too long.
    for number in (1, 2):
        body = content[(number - 1) * 5 * MiB : number * 5 * MiB]
        assert dc.put_part(client, answer["urls"][str(number)], body).status_code == 200
    assert (
        dc.put_part(client, answer["urls"]["3"], content[10 * MiB :] + b"!" * 100).status_code
        == 200
    )
    response = dc.complete(client, answer["key"])
    assert (response.status_code, response.content.decode()) == (
        413,
        f"The file has {len(content) + 100} bytes, more than the {len(content)} declared "
        "when it began.",
    )
    assert direct_s3.multipart_uploads(direct_area.tmp) == []
    assert names(direct_s3, direct_area) == []
    upload = TemporaryUpload.objects.get(pk=upload_id)
    assert upload.rejected and not upload.complete
    assert dc.complete(client, answer["key"]).status_code == 413  # the same answer again
    assert client.get(f"/fp/?restore={upload_id}").status_code == 413


def test_missing_parts_are_named_and_can_still_be_sent(client, direct_area):
    content = os.urandom(11 * MiB)
    answer = dc.begun(client, content)
    assert dc.put_part(client, answer["urls"]["2"], content[5 * MiB : 10 * MiB]).status_code == 200
    response = dc.complete(client, answer["key"])
    assert (response.status_code, response.content.decode()) == (
        409,
        "Parts 1, 3 of the file have not arrived yet; send them, then complete the upload.",
    )
    dc.send(client, answer, content)
    assert dc.complete(client, answer["key"]).status_code == 200


def test_a_complete_for_another_visitors_key_is_refused(client, direct_area):
    content = b"alice's notes\n" * 100
    answer = dc.begun(client, content, "notes.txt")
    dc.send(client, answer, content)
    mallory = StreamReadingClient()
    mallory.get("/")  # any page: mallory has a session cookie of her own
    mallory.session["anything"] = 1
    for other in (mallory, Client()):
        response = dc.complete(other, answer["key"])
        assert response.status_code == 404, response.content
        assert dc.call(other, "direct/abort/", {"key": answer["key"]}).status_code == 404
        assert (
            dc.call(other, "direct/parts/", {"key": answer["key"], "parts": [1]}).status_code == 404
        )
    assert dc.complete(client, answer["key"]).status_code == 200


def test_a_complete_for_a_key_outside_the_prefix_or_not_begun_is_refused(
    client, process, direct_s3, direct_area
):
    content = b"some text\n"
    answer = dc.begun(client, content, "a.txt")
    upload_id = answer["key"].split("/")[-2]
    outside = f"{direct_s3.run_prefix}/elsewhere/{upload_id}/sent"
    response = dc.complete(client, outside)
    assert (response.status_code, response.content.decode()) == (
        400,
        "That key is outside the temporary upload area.",
    )
    prefix = answer["key"][: -len(f"{upload_id}/sent")]
    for key in (prefix + "../x/sent", prefix + f"{upload_id}/other", prefix + upload_id, ""):
        assert dc.complete(client, key).status_code == 400, key
    assert dc.complete(client, {"key": answer["key"]}).status_code == 400  # not text
    # A key of the right shape that this visitor did not begin: unknown.
    ordinary = process(b"through the app", name="b.txt")
    for key in (prefix + f"{ordinary}/sent", prefix + f"{upload_id}/whole"):
        assert dc.complete(client, key).status_code == 404, key


def test_content_whose_sniffed_type_breaks_the_fields_rules_is_refused_and_deleted(
    client, direct_s3, direct_area, settings
):
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"avatar": {"types": ["image/png"]}}
    content = b"<html><script>alert(1)</script></html>"
    answer = dc.begun(client, content, "me.png", declared_type="image/png", field="avatar")
    dc.send(client, answer, content)
    response = dc.complete(client, answer["key"])
    assert (response.status_code, response.content.decode()) == (
        415,
        "Files of type text/html are not accepted here.",
    )
    assert names(direct_s3, direct_area) == []
    assert TemporaryUpload.objects.get(pk=answer["key"].split("/")[-2]).rejected


def test_validators_read_the_whole_object_as_a_stream(client, direct_s3, direct_area, settings):
    seen = []

    def validator(upload, f):
        digest = hashlib.sha256()
        while block := f.read(1024 * 1024):
            digest.update(block)
        seen.append(digest.hexdigest())
        if upload.file_name == "bad.bin":
            raise ValidationError("Infected with a test signature.")

    settings.FILEPOND_SERVER_VALIDATORS = [validator]
    content = os.urandom(11 * MiB)
    dc.upload(client, content, "good.bin")
    answer = dc.begun(client, content, "bad.bin")
    dc.send(client, answer, content)
    response = dc.complete(client, answer["key"])
    assert (response.status_code, response.content.decode()) == (
        422,
        "Infected with a test signature.",
    )
    assert seen == [sha(content)] * 2
    assert [name.endswith("/whole") for name in names(direct_s3, direct_area)] == [True]


def test_begin_refuses_before_any_byte_moves(client, direct_s3, direct_area, settings):
    settings.FILEPOND_SERVER_UPLOAD_RULES = {
        "avatar": {"max_size": 1000, "types": ["image/*"], "extensions": [".png"]}
    }
    settings.FILEPOND_SERVER_MAX_UPLOAD_SIZE = 100 * MiB
    cases = [
        (
            {"size": 1001, "name": "a.png", "type": "image/png"},
            413,
            "The file is larger than the maximum upload size of 1000 bytes.",
        ),
        (
            {"size": 10, "name": "a.gif", "type": "image/gif"},
            415,
            "Files ending in .gif are not accepted here; allowed: .png.",
        ),
        (
            {"size": 10, "name": "a.png", "type": "text/html"},
            415,
            "Files of type text/html are not accepted here.",
        ),
        (
            {"size": 101 * MiB, "name": "a.png", "type": ""},
            413,
            "The file is larger than the maximum upload size of 104857600 bytes.",
        ),
        (
            {"size": -1, "name": "a.png", "type": ""},
            400,
            "Say the file's size as a whole number of bytes.",
        ),
        (
            {"size": "10", "name": "a.png", "type": ""},
            400,
            "Say the file's size as a whole number of bytes.",
        ),
        ({"size": 10, "name": 5, "type": ""}, 400, "The name of the file must be text."),
        (
            {"size": 10, "name": "a.png", "type": "image/png", "metadata": "[1]"},
            400,
            "The file's metadata must be a JSON object.",
        ),
    ]
    for body, status, message in cases:
        response = dc.call(client, "direct/", {"field": "avatar", **body})
        assert (response.status_code, response.content.decode()) == (status, message), body
    settings.FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER = 1
    dc.begun(client, b"x" * 10, "a.png", field="avatar", declared_type="image/png")
    response = dc.begin(client, 10, "b.png", field="avatar", declared_type="image/png")
    assert response.status_code == 429
    assert TemporaryUpload.objects.count() == 1
    assert names(direct_s3, direct_area) == []
    assert direct_s3.multipart_uploads(direct_area.tmp) == []


def test_begin_follows_the_process_endpoints_permissions_unless_it_has_its_own(
    client, direct_area, settings
):
    settings.FILEPOND_SERVER_PERMISSION_CLASSES = {
        "POST_PROCESS": ["rest_framework.permissions.IsAuthenticated"]
    }
    response = dc.begin(client, 10)
    assert response.status_code == 403
    assert not TemporaryUpload.objects.exists()
    settings.FILEPOND_SERVER_PERMISSION_CLASSES = {
        "POST_PROCESS": ["rest_framework.permissions.IsAuthenticated"],
        "POST_DIRECT": ["rest_framework.permissions.AllowAny"],
    }
    assert dc.begin(client, 10).status_code == 200


# --- abort, cleanup, store --------------------------------------------------------------------


def test_abort_aborts_the_multipart_upload_and_removes_the_upload(
    client, direct_s3, direct_area, django_capture_on_commit_callbacks
):
    content = os.urandom(11 * MiB)
    answer = dc.begun(client, content)
    assert dc.put_part(client, answer["urls"]["1"], content[: 5 * MiB]).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = dc.call(client, "direct/abort/", {"key": answer["key"]})
    assert response.status_code == 204
    assert direct_s3.multipart_uploads(direct_area.tmp) == []
    assert not TemporaryUpload.objects.exists() and not DirectTransfer.objects.exists()
    assert dc.complete(client, answer["key"]).status_code == 404

    small = b"y" * 100
    answer = dc.begun(client, small)
    dc.send(client, answer, small)
    with django_capture_on_commit_callbacks(execute=True):
        assert dc.call(client, "direct/abort/", {"key": answer["key"]}).status_code == 204
    assert names(direct_s3, direct_area) == []


def test_cleanup_aborts_abandoned_multipart_uploads_and_deletes_begun_objects(
    client, direct_s3, direct_area, settings, django_capture_on_commit_callbacks
):
    settings.FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT = 1
    content = os.urandom(11 * MiB)
    abandoned = dc.begun(client, content)
    assert dc.put_part(client, abandoned["urls"]["1"], content[: 5 * MiB]).status_code == 200
    alive = dc.begun(client, content)
    posted = dc.begun(client, b"z" * 100)
    dc.send(client, posted, b"z" * 100)  # sent, never completed
    # A multipart upload whose begin failed before it was recorded.
    stray_key = f"{direct_s3.run_prefix}/{direct_area.tmp}/{'A' * 22}/whole"
    stray = direct_s3.client().create_multipart_upload(Bucket=direct_s3.bucket, Key=stray_key)
    for _ in range(2):  # asking for part URLs as its parts go keeps this one alive
        time.sleep(0.7)
        dc.part_urls(client, alive["key"], [2])

    with django_capture_on_commit_callbacks(execute=True):
        report = cleanup()
    assert (report.abandoned, report.aborted_transfers) == (2, 2)
    left = direct_s3.multipart_uploads(direct_area.tmp)
    assert [upload["Key"] for upload in left] == [alive["key"]]
    assert names(direct_s3, direct_area) == []
    assert list(TemporaryUpload.objects.values_list("pk", flat=True)) == [
        alive["key"].split("/")[-2]
    ]
    assert stray["UploadId"] not in [upload["UploadId"] for upload in left]


def test_store_upload_of_a_direct_upload_is_a_copy_inside_the_bucket(
    client, direct_s3, direct_area, caplog, django_capture_on_commit_callbacks
):
    content = os.urandom(11 * MiB)
    upload_id = dc.upload(client, content, "report.bin")
    small_id = dc.upload(client, tiny_png(padding=100), "small.png")
    caplog.set_level(logging.DEBUG, logger="django_filepond_server.api")
    with django_capture_on_commit_callbacks(execute=True):
        stored = api.store_upload(upload_id, "documents/")
        small = api.store_upload(small_id, "documents/")
    through = [r.getMessage() for r in caplog.records if "passed through the app" in r.getMessage()]
    assert len(through) == 2 and all(
        m.endswith("; 0 bytes passed through the app") for m in through
    )
    key = f"{direct_s3.run_prefix}/{direct_area.store}/{stored.file.name}"
    body = direct_s3.client().get_object(Bucket=direct_s3.bucket, Key=key)["Body"].read()
    assert sha(body) == sha(content)
    assert StoredUpload.objects.get(pk=small.pk).detected_type == "image/png"
    loaded = client.get(f"/fp/?load={upload_id}")
    assert loaded.status_code == 200 and sha(body_of(loaded)) == sha(content)
    assert names(direct_s3, direct_area) == []  # the temporary objects went with the store


# --- what goes wrong on the way -----------------------------------------------------------------


def test_parts_that_add_up_to_less_are_refused(client, direct_s3, direct_area):
    content = os.urandom(11 * MiB)
    answer = dc.begun(client, content)
    for number, body in ((1, content[: 5 * MiB]), (2, content[5 * MiB : 10 * MiB - 1])):
        assert dc.put_part(client, answer["urls"][str(number)], body).status_code == 200
    assert dc.put_part(client, answer["urls"]["3"], content[10 * MiB :]).status_code == 200
    response = dc.complete(client, answer["key"])
    assert (response.status_code, response.content.decode()) == (
        400,
        f"The file has {len(content) - 1} bytes, not the {len(content)} declared when it began.",
    )
    assert direct_s3.multipart_uploads(direct_area.tmp) == []


def test_a_posted_object_of_the_wrong_size_is_refused_even_where_s3_let_it_in(
    client, direct_s3, direct_area
):
    """An S3-compatible store that ignores POST policies (moto does) lets any size in; the
    app's HeadObject still refuses it."""
    answer = dc.begun(client, b"12345", "a.txt")
    direct_s3.client().put_object(Bucket=direct_s3.bucket, Key=answer["key"], Body=b"123456")
    response = dc.complete(client, answer["key"])
    assert (response.status_code, response.content.decode()) == (
        413,
        "The file has 6 bytes, more than the 5 declared when it began.",
    )
    assert names(direct_s3, direct_area) == []


def test_an_empty_file(client, direct_area):
    upload_id = dc.upload(client, b"", "empty.txt")
    assert TemporaryUpload.objects.get(pk=upload_id).detected_type == "application/x-empty"


def test_checks_taken_over_after_the_multipart_upload_was_completed(client, direct_s3, direct_area):
    """A complete died after S3 joined the parts: the next complete finds the object."""
    content = os.urandom(11 * MiB)
    answer = dc.begun(client, content)
    dc.send(client, answer, content)
    upload_id = answer["key"].split("/")[-2]
    transfer = DirectTransfer.objects.get(pk=upload_id)
    s3 = direct_s3.client()
    parts = s3.list_parts(
        Bucket=direct_s3.bucket, Key=answer["key"], UploadId=transfer.multipart_id
    )
    s3.complete_multipart_upload(
        Bucket=direct_s3.bucket,
        Key=answer["key"],
        UploadId=transfer.multipart_id,
        MultipartUpload={
            "Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts["Parts"]]
        },
    )
    TemporaryUpload.objects.filter(pk=upload_id).update(checking_since="2000-01-01T00:00Z")
    assert dc.complete(client, answer["key"]).status_code == 200
    assert sha(body_of(client.get(f"/fp/?restore={upload_id}"))) == sha(content)


@pytest.fixture
def s3_down(settings, direct_s3):
    """Point the temporary storage at a port where nothing listens, and back."""
    from botocore.config import Config

    from tests.remote_storage import free_port

    working = settings.STORAGES["direct-tmp"]
    dead = {
        **working,
        "OPTIONS": {
            **working["OPTIONS"],
            "endpoint_url": f"http://127.0.0.1:{free_port()}",
            "client_config": Config(retries={"max_attempts": 1, "mode": "standard"}),
        },
    }

    def switch(down: bool) -> None:
        settings.STORAGES = {**settings.STORAGES, "direct-tmp": dead if down else working}

    return switch


def test_an_unreachable_s3_is_a_503_and_the_next_try_works(client, direct_s3, direct_area, s3_down):
    s3_down(True)
    response = dc.begin(client, 11 * MiB)
    assert (response.status_code, response.content.decode()) == (
        503,
        "The server could not read or write the file storage. Try again later.",
    )
    assert not TemporaryUpload.objects.exists()
    s3_down(False)
    for content in (b"small\n", os.urandom(11 * MiB)):
        answer = dc.begun(client, content)
        dc.send(client, answer, content)
        s3_down(True)
        assert dc.complete(client, answer["key"]).status_code == 503
        s3_down(False)
        assert dc.complete(client, answer["key"]).status_code == 200


def test_an_abort_whose_multipart_upload_cannot_be_reached_is_left_to_cleanup(
    client, direct_s3, direct_area, s3_down, caplog, django_capture_on_commit_callbacks
):
    answer = dc.begun(client, os.urandom(11 * MiB))
    s3_down(True)
    with django_capture_on_commit_callbacks(execute=True):
        assert dc.call(client, "direct/abort/", {"key": answer["key"]}).status_code == 204
    assert "Could not abort the multipart upload" in caplog.text
    assert not TemporaryUpload.objects.exists()
    s3_down(False)
    assert len(direct_s3.multipart_uploads(direct_area.tmp)) == 1  # until cleanup aborts it


def test_a_begin_that_fails_after_creating_the_multipart_upload_aborts_it(
    client, direct_s3, direct_area, monkeypatch
):
    from django_filepond_server import direct_s3 as s3_side

    def failing(*args, **kwargs):
        raise ConnectionError("the signer is gone")

    monkeypatch.setattr(s3_side, "presigned_part", failing)
    assert dc.begin(client, 11 * MiB).status_code == 503
    assert direct_s3.multipart_uploads(direct_area.tmp) == []
    assert not TemporaryUpload.objects.exists()


def test_cleanup_leaves_recent_and_foreign_multipart_uploads_and_other_storages_alone(
    client, direct_s3, direct_area
):
    prefix = f"{direct_s3.run_prefix}/{direct_area.tmp}"
    for key in (f"{prefix}/{'B' * 22}/whole", f"{prefix}/reports/2026.csv"):
        direct_s3.client().create_multipart_upload(Bucket=direct_s3.bucket, Key=key)
    # moto dates every multipart upload 2010-11-10: "recent" is then "within 30 years".
    recent = timedelta(days=30 * 365)
    assert direct.abort_stale({"direct-tmp", "memory"}, older_than=recent) == 0
    assert direct.abort_stale({"direct-tmp"}, older_than=timedelta(0), dry_run=True) == 1
    assert len(direct_s3.multipart_uploads(direct_area.tmp)) == 2
    assert direct.abort_stale({"direct-tmp"}, older_than=timedelta(0)) == 1
    (foreign,) = direct_s3.multipart_uploads(direct_area.tmp)
    assert foreign["Key"] == f"{prefix}/reports/2026.csv"


def test_an_s3_that_fails_during_the_checks_is_a_503_and_the_next_try_works(
    client, direct_area, monkeypatch
):
    from django_filepond_server import direct_s3 as s3_side

    answer = dc.begun(client, b"checked\n", "a.txt")
    dc.send(client, answer, b"checked\n")
    first_bytes = s3_side.first_bytes
    monkeypatch.setattr(s3_side, "first_bytes", lambda *args: 1 / 0)
    assert dc.complete(client, answer["key"]).status_code == 503
    monkeypatch.setattr(s3_side, "first_bytes", first_bytes)
    assert dc.complete(client, answer["key"]).status_code == 200
