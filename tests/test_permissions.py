"""Per-endpoint permission classes from FILEPOND_SERVER_PERMISSION_CLASSES."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission

from django_filepond_server.api import store_upload
from django_filepond_server.models import TemporaryUpload

pytestmark = pytest.mark.django_db

ALL_KEYS = [
    "POST_PROCESS",
    "PATCH_PATCH",
    "HEAD_PATCH",
    "DELETE_REVERT",
    "GET_RESTORE",
    "GET_LOAD",
]

#: What each request of :func:`call` answers when its endpoint lets it through.
ALLOWED_STATUS = {
    "POST_PROCESS": 200,
    "PATCH_PATCH": 204,
    "HEAD_PATCH": 200,
    "DELETE_REVERT": 204,
    "GET_RESTORE": 200,
    "GET_LOAD": 200,
}


class DenyAll(BasePermission):
    message = "Uploads are closed today."

    def has_permission(self, request, view) -> bool:
        return False


@pytest.fixture
def uploads(process, start_chunked):
    """One finished, one chunked in progress and one stored upload, made with open access."""
    finished = process(b"abc")
    to_revert = process(b"revert me")
    chunked = start_chunked(10)
    stored = process(b"stored")
    store_upload(stored, "s/")
    return {"finished": finished, "to_revert": to_revert, "chunked": chunked, "stored": stored}


def call(client, key: str, uploads):
    """Make the request that endpoint ``key`` serves; returns the response."""
    if key == "POST_PROCESS":
        return client.post("/fp/", {"filepond": "{}"}, headers={"Upload-Length": "3"})
    if key == "PATCH_PATCH":
        return client.generic(
            "PATCH",
            f"/fp/?patch={uploads['chunked']}",
            b"abc",
            content_type="application/offset+octet-stream",
            headers={"Upload-Offset": "0", "Upload-Length": "10"},
        )
    if key == "HEAD_PATCH":
        return client.head(f"/fp/?patch={uploads['chunked']}")
    if key == "DELETE_REVERT":
        return client.delete("/fp/", uploads["to_revert"])
    if key == "GET_RESTORE":
        return client.get(f"/fp/?restore={uploads['finished']}")
    assert key == "GET_LOAD"
    return client.get(f"/fp/?load={uploads['stored']}")


@pytest.mark.parametrize("key", ALL_KEYS)
def test_each_endpoint_uses_its_own_key(client, settings, uploads, key):
    settings.FILEPOND_SERVER_PERMISSION_CLASSES = {key: [DenyAll]}
    # Logged in, so DRF reports the permission's own message (anonymous users are told
    # that credentials are missing instead).
    client.force_login(User.objects.create_user("ada"))
    response = call(client, key, uploads)
    assert response.status_code == 403
    if key != "HEAD_PATCH":  # HEAD answers carry no body
        assert response.content.decode() == "Uploads are closed today."
    for other in ALL_KEYS:
        if other != key:
            assert call(client, other, uploads).status_code == ALLOWED_STATUS[other], other


@pytest.mark.parametrize("key", ALL_KEYS)
def test_an_endpoint_missing_from_the_mapping_uses_drf_defaults(client, settings, uploads, key):
    settings.REST_FRAMEWORK = {
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"]
    }
    settings.FILEPOND_SERVER_PERMISSION_CLASSES = {
        k: ["rest_framework.permissions.AllowAny"] for k in ALL_KEYS if k != key
    }
    response = call(client, key, uploads)
    assert response.status_code == 403
    if key != "HEAD_PATCH":
        assert response.content.decode() == "Authentication credentials were not provided."


def test_dotted_paths_and_single_classes_are_accepted(client, settings, uploads):
    settings.FILEPOND_SERVER_PERMISSION_CLASSES = {
        "GET_RESTORE": "tests.test_permissions.DenyAll",
        "GET_LOAD": DenyAll,
    }
    assert call(client, "GET_RESTORE", uploads).status_code == 403
    assert call(client, "GET_LOAD", uploads).status_code == 403


def test_authenticated_users_pass_is_authenticated(client, settings, uploads):
    settings.FILEPOND_SERVER_PERMISSION_CLASSES = {
        "GET_LOAD": ["rest_framework.permissions.IsAuthenticated"]
    }
    assert call(client, "GET_LOAD", uploads).status_code == 403
    client.force_login(User.objects.create_user("grace"))
    assert call(client, "GET_LOAD", uploads).status_code == 200


def test_permissions_apply_on_path_style_urls_too(client, settings, uploads):
    settings.FILEPOND_SERVER_PERMISSION_CLASSES = {"GET_RESTORE": [DenyAll]}
    assert client.get(f"/fp/restore/{uploads['finished']}").status_code == 403


def test_without_any_permission_setting_anyone_may_upload(client, settings):
    # DRF's own default, AllowAny: what a project gets that sets neither
    # REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"] nor FILEPOND_SERVER_PERMISSION_CLASSES.
    del settings.REST_FRAMEWORK
    response = client.post("/fp/", {"filepond": "{}"}, headers={"Upload-Length": "3"})
    assert response.status_code == 200
    assert response.content.decode() in TemporaryUpload.objects.values_list("pk", flat=True)


def test_a_class_that_cannot_be_imported_is_named_when_a_request_comes(client, settings, uploads):
    # manage.py check reports it first (E007); a request that comes anyway says what is wrong.
    settings.FILEPOND_SERVER_PERMISSION_CLASSES = {"GET_RESTORE": ["tests.no_such.Permission"]}
    with pytest.raises(
        ImproperlyConfigured,
        match=r"FILEPOND_SERVER_PERMISSION_CLASSES\['GET_RESTORE'\] names "
        r"'tests.no_such.Permission', which cannot be imported",
    ):
        call(client, "GET_RESTORE", uploads)
