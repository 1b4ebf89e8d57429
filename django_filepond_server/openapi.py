"""drf-spectacular extensions: the FilePond endpoints and the serializer fields in the
OpenAPI schema. Install ``django-filepond-server[openapi]`` and add ``drf_spectacular`` to
``INSTALLED_APPS``; the app imports this module when drf-spectacular is installed."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension, OpenApiViewExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

_ID = {"type": "string", "description": "An upload id, as the process endpoint answered it."}
_FILE = {"type": "string", "format": "binary"}


def _message(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=OpenApiTypes.STR, description=description)


_ERRORS = {
    400: _message("The request is not valid; the body is one sentence saying why."),
    404: _message("No upload with that id is this visitor's."),
}


class _Schema(AutoSchema):
    """Operation ids ``filepond_<endpoint>``, and ``..._by_path`` for the layout that puts
    the upload id in the path (both layouts reach the same view)."""

    endpoint = ""

    def get_operation_id(self) -> str:
        by_path = "{upload_id}" in self.path
        return f"filepond_{self.endpoint}" + ("_by_path" if by_path else "")


def _schema(endpoint: str) -> AutoSchema:
    # drf-spectacular instantiates a view's schema class again without arguments.
    return type(f"{endpoint.title()}Schema", (_Schema,), {"endpoint": endpoint})()  # type: ignore[no-any-return]


def _id_parameters(*query_keys: str) -> list[OpenApiParameter]:
    """The upload id: in the path (``.../<id>``) or in one of the query keys."""
    return [
        OpenApiParameter(key, str, OpenApiParameter.QUERY, description=_ID["description"])
        for key in query_keys
    ]


class _ProcessView(OpenApiViewExtension):
    target_class = "django_filepond_server.views.ProcessView"

    def view_replacement(self) -> Any:
        @extend_schema(
            summary="Upload a whole file, or start a chunked transfer",
            description=(
                "A whole file: multipart/form-data with the file and its metadata JSON under "
                "the same field name. A chunked transfer: the metadata alone and an "
                "Upload-Length header. The answer is the upload id, as plain text."
            ),
            parameters=[
                OpenApiParameter(
                    "Upload-Length",
                    int,
                    OpenApiParameter.HEADER,
                    description="The size of a chunked transfer, in bytes.",
                )
            ],
            request={
                "multipart/form-data": {
                    "type": "object",
                    "properties": {"filepond": _FILE},
                }
            },
            responses={200: _message("The upload id."), **_ERRORS, 413: _message("Too large.")},
        )
        class ProcessView(self.target_class):  # type: ignore[name-defined,misc]
            schema = _schema("process")

        return ProcessView


class _PatchView(OpenApiViewExtension):
    target_class = "django_filepond_server.views.PatchView"

    def view_replacement(self) -> Any:
        headers = [
            OpenApiParameter(name, kind, OpenApiParameter.HEADER, required=required)
            for name, kind, required in (
                ("Upload-Offset", int, True),
                ("Upload-Length", int, True),
                ("Upload-Name", str, False),
            )
        ]

        @extend_schema(
            methods=["PATCH"],
            summary="Write one chunk of a chunked transfer",
            parameters=[*_id_parameters("patch", "id"), *headers],
            request={"application/offset+octet-stream": _FILE},
            responses={204: None, **_ERRORS},
        )
        class PatchView(self.target_class):  # type: ignore[name-defined,misc]
            schema = _schema("patch")

        return PatchView


class _RevertView(OpenApiViewExtension):
    target_class = "django_filepond_server.views.RevertView"

    def view_replacement(self) -> Any:
        @extend_schema(
            summary="Remove a temporary upload",
            description="The body is the upload id, as plain text.",
            responses={204: None, **_ERRORS},
        )
        class RevertView(self.target_class):  # type: ignore[name-defined,misc]
            schema = _schema("revert")

        return RevertView


def _file_view(name: str, summary: str, *keys: str) -> type[OpenApiViewExtension]:
    def view_replacement(self: OpenApiViewExtension) -> Any:
        @extend_schema(
            summary=summary,
            parameters=_id_parameters(*keys),
            responses={
                (200, "application/octet-stream"): OpenApiResponse(
                    response=OpenApiTypes.BINARY,
                    description="The file, named in Content-Disposition.",
                ),
                **_ERRORS,
            },
        )
        class FileView(self.target_class):  # type: ignore[name-defined,misc]
            schema = _schema(name.removesuffix("View").lower())

        return FileView

    return type(
        f"_{name}",
        (OpenApiViewExtension,),
        {
            "target_class": f"django_filepond_server.views.{name}",
            "view_replacement": view_replacement,
        },
    )


_RESTORE = _file_view("RestoreView", "Get a temporary upload's file (limbo items)", "restore", "id")
_LOAD = _file_view("LoadView", "Get a stored file (local items)", "load", "id")
_FETCH = _file_view("FetchView", "Import a remote file as a temporary upload", "fetch", "target")


class _UploadField(OpenApiSerializerFieldExtension):
    target_class = "django_filepond_server.serializers.FilePondUploadField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        if direction == "request":
            return dict(_ID)
        return {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "url": {"type": "string", "format": "uri"},
            },
            "required": ["name", "url"],
        }


class _UploadsField(OpenApiSerializerFieldExtension):
    target_class = "django_filepond_server.serializers.FilePondUploadsField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        if direction == "request":
            return {
                "type": "array",
                "items": {
                    "type": "string",
                    "description": "A new upload's id, or the id of a stored file to keep.",
                },
            }
        return {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "url": {"type": "string", "format": "uri"},
                },
                "required": ["id", "name", "url"],
            },
        }
