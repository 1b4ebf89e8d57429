"""The OpenAPI schema drf-spectacular generates with the app's extensions ([openapi])."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(settings: Any) -> dict[str, Any]:
    settings.ROOT_URLCONF = "tests.formsapp.urls"
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)  # type: ignore[no-any-return]


def test_the_schema_is_valid_openapi(schema: dict[str, Any]) -> None:
    validate(schema)  # raises with the first problem
    assert schema["openapi"].startswith("3.")


def test_the_filepond_endpoints_are_described(schema: dict[str, Any]) -> None:
    paths = schema["paths"]
    process = paths["/fp/process/"]["post"]
    assert process["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"] == {
        "filepond": {"type": "string", "format": "binary"}
    }
    assert process["responses"]["200"]["content"]["text/plain"]["schema"] == {"type": "string"}
    patch = paths["/fp/patch/{upload_id}/"]["patch"]
    assert "application/offset+octet-stream" in patch["requestBody"]["content"]
    headers = {p["name"] for p in patch["parameters"] if p["in"] == "header"}
    assert headers == {"Upload-Offset", "Upload-Length", "Upload-Name"}
    assert "204" in patch["responses"]
    assert "204" in paths["/fp/revert/"]["delete"]["responses"]
    for path in ("/fp/restore/{upload_id}/", "/fp/load/", "/fp/fetch/"):
        content = paths[path]["get"]["responses"]["200"]["content"]
        assert content == {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
        }, path
    operations = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(operations) == len(set(operations))
    assert "filepond_load_by_path" in operations and "filepond_load" in operations


def test_the_serializer_fields_are_described(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    read = components["Album"]["properties"]
    assert read["cover"]["properties"] == {
        "name": {"type": "string"},
        "url": {"type": "string", "format": "uri"},
    }
    assert read["cover"].get("nullable") is True
    assert read["documents"]["items"]["required"] == ["id", "name", "url"]
    write = components["AlbumRequest"]["properties"]
    assert write["cover"]["type"] == "string"
    assert write["documents"] == {
        "type": "array",
        "items": {
            "type": "string",
            "description": "A new upload's id, or the id of a stored file to keep.",
        },
    }
