"""What every FilePond endpoint shares: per-endpoint DRF settings read per request, plain-text
answers that FilePond shows to the user, and the parsing of FilePond's headers."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from django_filepond_server import exceptions
from django_filepond_server.conf import conf
from django_filepond_server.models import is_valid_upload_id
from django_filepond_server.permissions import (
    authentication_classes_for,
    permission_classes_for,
    throttle_classes_for,
)
from django_filepond_server.responses import plain_text

_DIGITS = re.compile(r"^[0-9]{1,19}$")


class PlainTextRenderer(BaseRenderer):
    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> Any:
        # DRF needs a renderer, but every endpoint answers with a Django HttpResponse.
        return str(data).encode(self.charset)  # pragma: no cover  (no view returns a Response)


class PlainTextNegotiation(BaseContentNegotiation):
    """FilePond reads status and body text, whatever its ``Accept`` says; never answer 406."""

    def select_parser(self, request: Any, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return (renderers[0], renderers[0].media_type)


def plain_text_exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse | None:
    """DRF's exception handler, answering with the one-sentence detail as ``text/plain``.

    Errors Django raises while reading a bad request body become 4xx answers too.
    """
    if isinstance(exc, RequestDataTooBig):
        exc = exceptions.UploadTooLarge(_("The form fields sent with the file are too large."))
    elif isinstance(exc, (MultiPartParserError, SuspiciousOperation)):
        exc = exceptions.BadUploadRequest(_("The multipart request body could not be read."))
    elif isinstance(exc, UnreadablePostError):
        exc = exceptions.BadUploadRequest(_("The request body ended early; send it again."))
    elif isinstance(exc, OperationalError) and "database is locked" in str(exc):
        # SQLite lets one writer in at a time; another request's chunk held it too long.
        exc = exceptions.ServerBusy()
    elif isinstance(exc, exceptions.UploadRejected):
        return plain_text(exc.message, exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is None:  # pragma: no cover  (a bug, not bad input: DRF lets it become a 500)
        return None
    data = response.data
    detail = data.get("detail", data) if isinstance(data, dict) else data
    if isinstance(detail, list):
        detail = " ".join(str(item) for item in detail)
    text = plain_text(str(detail), response.status_code)
    for header in ("WWW-Authenticate", "Retry-After", "Allow"):
        if header in response:
            text[header] = response[header]
    return text


def without_body_for_head(request: Any, response: HttpResponseBase) -> HttpResponseBase:
    """A HEAD answer carries the headers of the GET answer and no body (RFC 9110); WSGI
    servers such as gunicorn drop a body with a warning. The file answers of restore, load and
    fetch build no body for HEAD in the first place."""
    if request.method == "HEAD" and isinstance(response, HttpResponse) and response.content:
        length = len(response.content)
        response.content = b""
        response["Content-Length"] = str(length)
    return response


def header_int(request: HttpRequest, header: str, *, required: bool = True) -> int | None:
    """A non-negative whole-number header, or a 400 saying what is wrong with it."""
    raw = request.headers.get(header)
    if raw is None or raw.strip() == "":
        if not required:
            return None
        raise exceptions.BadUploadRequest(
            _("The %(header)s header is missing.") % {"header": header}
        )
    raw = raw.strip()
    if not _DIGITS.match(raw):
        raise exceptions.BadUploadRequest(
            _("The %(header)s header must be a whole number of bytes.") % {"header": header}
        )
    return int(raw)


def check_upload_length(length: int, limit: int | None = None) -> None:
    limit = conf.MAX_UPLOAD_SIZE if limit is None else limit
    if length > limit:
        raise exceptions.UploadTooLarge(
            _("The file is larger than the maximum upload size of %(max)d bytes.") % {"max": limit}
        )


class FilePondEndpoint(APIView):
    """Base of the endpoints: settings read per request, errors as plain text."""

    #: HTTP method -> endpoint key of the per-endpoint settings (``"POST_PROCESS"``...).
    permission_keys: dict[str, str] = {}
    renderer_classes = [PlainTextRenderer]
    content_negotiation_class = PlainTextNegotiation
    parser_classes: list[Any] = []
    # OPTIONS is not part of FilePond's protocol: 405, and not listed in Allow.
    http_method_names = ["get", "post", "patch", "delete", "head"]
    metadata_class = None
    _endpoint_key: str | None = None

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        # Authenticators are chosen while the DRF request is built, before self.request exists.
        self._endpoint_key = self.permission_keys.get(request.method or "")
        return super().initialize_request(request, *args, **kwargs)

    def get_authenticators(self) -> list[Any]:
        if self._endpoint_key is None:
            classes: list[Any] = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
        else:
            classes = authentication_classes_for(self._endpoint_key)
        return [auth() for auth in classes]

    def get_permissions(self) -> list[Any]:
        if self._endpoint_key is None:  # a method this endpoint does not serve: DRF says 405
            return []
        return [permission() for permission in permission_classes_for(self._endpoint_key)]

    def get_throttles(self) -> list[Any]:
        if self._endpoint_key is None:
            return []
        return [throttle() for throttle in throttle_classes_for(self._endpoint_key)]

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        return without_body_for_head(request, super().finalize_response(request, response))

    def get_exception_handler(self) -> Any:
        return plain_text_exception_handler

    def upload_id_from(self, request: Request, path_id: str | None, *query_keys: str) -> str:
        """The id from the path, else from the first query key present; validated."""
        upload_id = path_id
        if not upload_id:
            for key in query_keys:
                if request.query_params.get(key):
                    upload_id = request.query_params[key]
                    break
        if not upload_id:
            raise exceptions.BadUploadRequest(_("The request does not say which upload it is for."))
        if not is_valid_upload_id(upload_id):
            raise exceptions.InvalidUploadId()
        return upload_id
