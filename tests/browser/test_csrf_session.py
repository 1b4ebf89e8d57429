"""CSRF and session authentication as a logged-in visitor's browser meets them (scenario 6).

DRF checks CSRF only for requests its SessionAuthentication authenticated, so the browser is
logged in (a session cookie made with ``Client.force_login``) and every endpoint requires an
authenticated user.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from django_filepond_server.conf import ENDPOINT_KEYS
from django_filepond_server.models import TemporaryUpload
from tests.browser.support import MB, Pond, assert_temporary, eventually
from tests.browser.wire import wire

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def session_auth(settings: Any) -> None:
    settings.FILEPOND_SERVER_PERMISSION_CLASSES = {
        key: ["rest_framework.permissions.IsAuthenticated"] for key in ENDPOINT_KEYS
    }
    settings.FILEPOND_SERVER_AUTHENTICATION_CLASSES = {
        key: ["rest_framework.authentication.SessionAuthentication"] for key in ENDPOINT_KEYS
    }


@pytest.fixture
def user(session_auth: None, context: Any, site: str, settings: Any) -> Any:
    """A user, logged in in the browser through the session cookie a test client got."""
    user = get_user_model().objects.create_user("ada", password="not-used")
    client = Client()
    client.force_login(user)
    session_id = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session_id, "url": site}])
    return user


def test_uploads_and_revert_work_with_the_token_in_server_headers(
    pond: Pond, make_file: Any, user: Any
) -> None:
    small = make_file("mine.txt", 3_000)
    large = make_file("mine.bin", 1_500_000)
    pond.open("/fp/", csrf=True, messages=True, chunkUploads=True, chunkSize=MB)
    pond.add(small, large)
    items = pond.wait_for_states("processing-complete", "processing-complete")
    for item in items:
        upload = assert_temporary(item["serverId"], small if item["name"] == small.name else large)
        assert upload.owner_id == user.pk
        assert item["hidden"] == item["serverId"]

    # Revert is a DELETE: it needs the token too, and gets it from the global headers.
    upload_id = pond.item(small.name)["serverId"]
    pond.button(small.name, "revert-item-processing").click()
    (item,) = pond.wait_for_states("processing-complete")
    assert item["name"] == large.name
    deletes = eventually(lambda: wire.of("DELETE"))
    assert [(e.upload_id, e.status) for e in deletes] == [(upload_id, 204)]
    assert not TemporaryUpload.objects.filter(pk=upload_id).exists()
    assert {e.status for e in wire.exchanges} <= {200, 204}


def test_without_the_token_the_widget_shows_the_servers_refusal(
    pond: Pond, make_file: Any, user: Any
) -> None:
    small = make_file("no-token.txt", 3_000)
    large = make_file("no-token.bin", 1_500_000)
    pond.open("/fp/", csrf=False, messages=True, chunkUploads=True, chunkSize=MB)
    pond.add(small, large)
    items = pond.wait_for_states("processing-error", "processing-error")
    assert {item["status"] for item in items} == {"CSRF Failed: CSRF token missing."}
    assert {item["hidden"] for item in items} == {""}
    # Both the whole upload and the chunked start were refused; nothing was kept.
    assert [(e.method, e.chunk_start, e.status) for e in wire.exchanges] in (
        [("POST", False, 403), ("POST", True, 403)],
        [("POST", True, 403), ("POST", False, 403)],
    )
    assert not TemporaryUpload.objects.exists()


def test_a_visitor_who_is_not_logged_in_is_told_so(
    pond: Pond, make_file: Any, session_auth: None
) -> None:
    sample = make_file("anonymous.txt", 3_000)
    pond.open("/fp/", csrf=True, messages=True)
    pond.add(sample)
    (item,) = pond.wait_for_states("processing-error")
    assert item["status"] == "Authentication credentials were not provided."
    assert not TemporaryUpload.objects.exists()
