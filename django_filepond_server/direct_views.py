"""The endpoints of direct uploads, under the same include as FilePond's.

``POST direct/`` begins, ``POST direct/parts/`` signs more part URLs, ``POST direct/complete/``
completes and ``POST direct/abort/`` aborts: small JSON requests of the page, made with the
visitor's session and CSRF token through DRF (endpoint keys ``POST_DIRECT``,
``POST_DIRECT_PARTS``, ``POST_DIRECT_COMPLETE``, ``POST_DIRECT_ABORT``). ``direct/target/<token>``
is the app's own stand-in for S3 (:mod:`.direct_target`). Every answer to a refused request is
one plain-text sentence, as for FilePond's endpoints.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from rest_framework.parsers import BaseParser
from rest_framework.request import Request

from django_filepond_server import direct, direct_complete, direct_target, exceptions
from django_filepond_server.conf import conf
from django_filepond_server.endpoint import FilePondEndpoint
from django_filepond_server.permissions import (
    authentication_classes_for,
    permission_classes_for,
    throttle_classes_for,
)
from django_filepond_server.responses import plain_text

#: Room in a JSON request for everything but the metadata.
JSON_OVERHEAD = 8 * 1024


def _json_limit() -> int:
    return conf.MAX_METADATA_SIZE + JSON_OVERHEAD


class BoundedJSONParser(BaseParser):
    """JSON of at most the metadata limit and a little more, read in one bounded piece."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        limit = _json_limit()
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise exceptions.UploadTooLarge(
                _("The request body is larger than %(max)d bytes.") % {"max": limit}
            )
        try:
            return json.loads(data or b"{}")
        except ValueError:
            raise exceptions.BadUploadRequest(_("The request body is not valid JSON.")) from None


class DirectEndpoint(FilePondEndpoint):
    parser_classes = [BoundedJSONParser]
    http_method_names = ["post"]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > _json_limit():  # refused before a byte is read
            raise exceptions.UploadTooLarge(
                _("The request body is larger than %(max)d bytes.") % {"max": _json_limit()}
            )
        # JSON only: a page of another site can post a form (even one whose text/plain body
        # reads as JSON) without asking, but not an application/json request.
        content_type = request.META.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        if request.method == "POST" and content_type != "application/json":
            raise exceptions.WrongContentType(_("Send the request as application/json."))
        super().initial(request, *args, **kwargs)

    def body(self, request: Request) -> Mapping[str, Any]:
        data = request.data
        if not isinstance(data, Mapping):
            raise exceptions.BadUploadRequest(_("The request body must be a JSON object."))
        return data


class BeginView(DirectEndpoint):
    """``POST`` the file's name, size, type, form field and metadata; the answer says where
    to send the bytes.

    Unless ``POST_DIRECT`` has classes of its own, it takes those of ``POST_PROCESS``:
    beginning a direct upload is uploading a file.
    """

    permission_keys = {"POST": "POST_DIRECT"}

    def _key_in(self, mapping: Mapping[str, Any]) -> str:
        key = self._endpoint_key or "POST_DIRECT"
        return "POST_PROCESS" if key not in mapping and "POST_PROCESS" in mapping else key

    def get_authenticators(self) -> list[Any]:
        if self._endpoint_key is None:
            return super().get_authenticators()
        key = self._key_in(conf.AUTHENTICATION_CLASSES)
        return [auth() for auth in authentication_classes_for(key)]

    def get_permissions(self) -> list[Any]:
        if self._endpoint_key is None:
            return []
        key = self._key_in(conf.PERMISSION_CLASSES)
        return [permission() for permission in permission_classes_for(key)]

    def get_throttles(self) -> list[Any]:
        if self._endpoint_key is None:
            return []
        key = self._key_in(conf.THROTTLE_CLASSES)
        return [throttle() for throttle in throttle_classes_for(key)]

    def post(self, request: Request) -> HttpResponse:
        body = self.body(request)
        size = body.get("size")
        if type(size) is not int or size < 0:
            raise exceptions.BadUploadRequest(_("Say the file's size as a whole number of bytes."))
        texts = {}
        for name in ("name", "type", "field", "metadata"):
            value = body.get(name, "")
            if not isinstance(value, str):
                raise exceptions.BadUploadRequest(
                    _("The %(name)s of the file must be text.") % {"name": name}
                )
            texts[name] = value
        answer = direct.begin(
            request,
            name=texts["name"],
            size=size,
            declared_type=texts["type"],
            field_name=texts["field"] or conf.FIELD_NAME,
            raw_metadata=texts["metadata"],
        )
        return JsonResponse(answer)


class PartsView(DirectEndpoint):
    """``POST {"key": ..., "parts": [...]}``: fresh URLs for those parts."""

    permission_keys = {"POST": "POST_DIRECT_PARTS"}

    def post(self, request: Request) -> HttpResponse:
        body = self.body(request)
        return JsonResponse({"urls": direct.part_urls(request, body.get("key"), body.get("parts"))})


class CompleteView(DirectEndpoint):
    """``POST {"key": ...}``: check what arrived; answers with the upload id, as process does."""

    permission_keys = {"POST": "POST_DIRECT_COMPLETE"}

    def post(self, request: Request) -> HttpResponse:
        upload = direct_complete.complete(request, self.body(request).get("key"))
        return plain_text(upload.upload_id)


class AbortView(DirectEndpoint):
    """``POST {"key": ...}``: remove the upload and abort its multipart upload."""

    permission_keys = {"POST": "POST_DIRECT_ABORT"}

    def post(self, request: Request) -> HttpResponse:
        direct.abort(request, self.body(request).get("key"))
        return plain_text("", 204)


class TargetView(FilePondEndpoint):
    """The app's signed stand-in for S3: ``POST`` a form with the whole file, ``PUT`` a part.

    Its token is its permission, as a presigned URL's signature is S3's: no authentication,
    permission or throttle classes apply (begin applied them), and no CSRF token is needed.
    """

    http_method_names = ["post", "put"]

    def get_authenticators(self) -> list[Any]:
        return []

    def post(self, request: Request, token: str) -> HttpResponse:
        direct_target.receive(request._request, token, form=True)
        return plain_text("", 204)

    def put(self, request: Request, token: str) -> HttpResponse:
        direct_target.receive(request._request, token, form=False)
        return plain_text("", 200)
