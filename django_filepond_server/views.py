"""The FilePond endpoints as DRF views, answering FilePond in plain text."""

from __future__ import annotations

import json
import re
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from django_filepond_server import exceptions, fetch, transfers
from django_filepond_server.conf import conf
from django_filepond_server.handlers import StagedFile, TemporaryAreaUploadHandler
from django_filepond_server.models import (
    StoredUpload,
    TemporaryUpload,
    is_valid_upload_id,
    new_upload_id,
)
from django_filepond_server.names import decode_header_name
from django_filepond_server.permissions import permission_classes_for
from django_filepond_server.responses import file_response, plain_text
from django_filepond_server.storage import get_permanent_storage
from django_filepond_server.temporary import get_temporary_area

_DIGITS = re.compile(r"^[0-9]{1,19}$")
#: Longest DELETE body read when looking for an upload id.
MAX_REVERT_BODY = 1024
#: Longest URL the fetch endpoint accepts.
MAX_FETCH_URL = 4096
#: Room for multipart boundaries and part headers on top of the file and metadata.
MULTIPART_OVERHEAD = 64 * 1024


class PlainTextRenderer(BaseRenderer):
    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> Any:
        return str(data).encode(self.charset)


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
    response = drf_exception_handler(exc, context)
    if response is None:
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


def check_upload_length(length: int) -> None:
    if length > conf.MAX_UPLOAD_SIZE:
        raise exceptions.UploadTooLarge(
            _("The file is larger than the maximum upload size of %(max)d bytes.")
            % {"max": conf.MAX_UPLOAD_SIZE}
        )


class FilePondEndpoint(APIView):
    """Base of the endpoints: settings read per request, errors as plain text."""

    #: HTTP method -> key of ``FILEPOND_SERVER_PERMISSION_CLASSES``.
    permission_keys: dict[str, str] = {}
    renderer_classes = [PlainTextRenderer]
    content_negotiation_class = PlainTextNegotiation
    parser_classes: list[Any] = []

    def get_authenticators(self) -> list[Any]:
        return [auth() for auth in api_settings.DEFAULT_AUTHENTICATION_CLASSES]

    def get_permissions(self) -> list[Any]:
        key = self.permission_keys.get(self.request.method or "")
        if key is None:  # a method this endpoint does not serve: DRF answers 405
            return []
        return [permission() for permission in permission_classes_for(key)]

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


class ProcessView(FilePondEndpoint):
    """``POST``: a whole file (multipart), or the start of a chunked transfer."""

    permission_keys = {"POST": "POST_PROCESS"}
    # DRF's CSRF check for session users reads request.POST through DRF's parsers; the
    # multipart parser then runs the upload handler set in initial(), so files still stream.
    parser_classes = [MultiPartParser]
    handler: TemporaryAreaUploadHandler | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        django_request = request._request
        if request.method == "POST":
            try:
                content_length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                content_length = 0
            if content_length <= 0:
                raise exceptions.BadUploadRequest(_("The request body is empty."))
            content_type = request.META.get("CONTENT_TYPE", "")
            if not content_type.startswith("multipart/form-data"):
                raise exceptions.WrongContentType(
                    _("Send the file as multipart/form-data, as FilePond does.")
                )
            limit = conf.MAX_UPLOAD_SIZE + conf.MAX_METADATA_SIZE + MULTIPART_OVERHEAD
            if content_length > limit:
                check_upload_length(content_length)
            # Stream file parts straight into the temporary area, even when authentication
            # (DRF's CSRF check) is what first parses the body.
            self.handler = TemporaryAreaUploadHandler(
                get_temporary_area(), conf.MAX_UPLOAD_SIZE, django_request
            )
            try:
                django_request.upload_handlers = [self.handler]
            except AttributeError:  # already parsed by middleware: stage what it parsed
                self.handler = None
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if self.handler is not None:
            self.handler.discard()
        return super().handle_exception(exc)

    def post(self, request: Request) -> HttpResponse:
        django_request = request._request
        files = django_request.FILES
        post = django_request.POST
        handler = self.handler
        if handler is not None and handler.refusal == handler.TOO_LARGE:
            check_upload_length(conf.MAX_UPLOAD_SIZE + 1)
        parts = [(name, f) for name, items in files.lists() for f in items]
        if len(parts) > 1 or (handler is not None and handler.refusal == handler.SEVERAL_FILES):
            raise exceptions.BadUploadRequest(
                _(
                    "Only one file can be sent per request; image transform variants are "
                    "not supported."
                )
            )
        if parts:
            field_name, uploaded = parts[0]
            metadata = self.metadata(post, field_name)
            upload_id = self.stage(uploaded)
            upload = transfers.create_from_staged(
                upload_id, uploaded.name or "", uploaded.size or 0, field_name, metadata
            )
            return plain_text(upload.upload_id)

        upload_length = header_int(django_request, "Upload-Length", required=False)
        if upload_length is None:
            raise exceptions.BadUploadRequest(
                _("No file was sent. Send it under the field name FilePond uses.")
            )
        check_upload_length(upload_length)
        field_name = self.chunked_field_name(post)
        metadata = self.metadata(post, field_name)
        upload = transfers.start_chunked(upload_length, field_name, metadata)
        return plain_text(upload.upload_id)

    def stage(self, uploaded: Any) -> str:
        """The temporary-area id of the file part, copying it there if middleware parsed it."""
        if isinstance(uploaded, StagedFile):
            return uploaded.upload_id
        check_upload_length(uploaded.size or 0)
        upload_id = new_upload_id()
        area = get_temporary_area()
        with area.create(upload_id) as out:
            for chunk in uploaded.chunks():
                out.write(chunk)
        return upload_id

    @staticmethod
    def chunked_field_name(post: Any) -> str:
        """The field carrying the metadata of a chunked start: FilePond's ``name`` option."""
        if post.get("fp_upload_field"):
            return str(post["fp_upload_field"])
        if conf.FIELD_NAME in post:
            return conf.FIELD_NAME
        names = [name for name in post if name != "csrfmiddlewaretoken"]
        return names[0] if len(names) == 1 else conf.FIELD_NAME

    @staticmethod
    def metadata(post: Any, field_name: str) -> dict[str, Any]:
        values = [v for v in post.getlist(field_name) if v]
        if not values:
            return {}
        raw = values[0]
        if len(raw.encode("utf-8")) > conf.MAX_METADATA_SIZE:
            raise exceptions.BadUploadRequest(
                _("The file's metadata is larger than %(max)d bytes.")
                % {"max": conf.MAX_METADATA_SIZE}
            )
        try:
            metadata = json.loads(raw)
        except ValueError:
            raise exceptions.BadUploadRequest(_("The file's metadata is not valid JSON.")) from None
        if not isinstance(metadata, dict):
            raise exceptions.BadUploadRequest(_("The file's metadata must be a JSON object."))
        return metadata


class PatchView(FilePondEndpoint):
    """``PATCH`` writes one chunk; ``HEAD`` reports how far a transfer got."""

    permission_keys = {"PATCH": "PATCH_PATCH", "HEAD": "HEAD_PATCH"}

    def patch(self, request: Request, upload_id: str | None = None) -> HttpResponse:
        upload_id = self.upload_id_from(request, upload_id, "patch", "id")
        django_request = request._request
        offset = header_int(django_request, "Upload-Offset")
        upload_length = header_int(django_request, "Upload-Length")
        assert offset is not None and upload_length is not None
        check_upload_length(upload_length)
        content_length = header_int(django_request, "Content-Length", required=False)
        if content_length is None:
            # Without Content-Length, WSGI hands over no body at all: refuse a streamed one
            # rather than take it for the empty final chunk.
            if "HTTP_TRANSFER_ENCODING" in request.META:
                raise exceptions.LengthRequired(_("A chunk needs a Content-Length header."))
            content_length = 0
        if content_length > conf.MAX_CHUNK_SIZE:
            raise exceptions.UploadTooLarge(
                _("A chunk may be at most %(max)d bytes; use a smaller chunkSize.")
                % {"max": conf.MAX_CHUNK_SIZE}
            )
        content_type = request.META.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        if content_length and content_type != "application/offset+octet-stream":
            raise exceptions.WrongContentType(
                _("Send chunks with Content-Type application/offset+octet-stream.")
            )
        raw_name = request.headers.get("Upload-Name")
        upload = transfers.receive_chunk(
            upload_id,
            offset=offset,
            upload_length=upload_length,
            content_length=content_length,
            file_name=decode_header_name(raw_name) if raw_name else None,
            read=django_request.read,
        )
        # Read what was not needed (an already received chunk) so the connection stays usable.
        while django_request.read(transfers.READ_SIZE):
            pass
        response = plain_text("", 204)
        response["Upload-Offset"] = str(upload.received)
        return response

    def head(self, request: Request, upload_id: str | None = None) -> HttpResponse:
        upload_id = self.upload_id_from(request, upload_id, "patch", "id")
        upload = transfers.get_offset(upload_id)
        response = plain_text("", 200)
        response["Upload-Offset"] = str(upload.received)
        response["Upload-Length"] = str(upload.upload_length)
        response["Cache-Control"] = "no-store"
        return response


class RevertView(FilePondEndpoint):
    """``DELETE`` with the id as plain-text body: remove a temporary upload."""

    permission_keys = {"DELETE": "DELETE_REVERT"}

    def delete(self, request: Request, upload_id: str | None = None) -> HttpResponse:
        body = request._request.read(MAX_REVERT_BODY + 1)
        if len(body) > MAX_REVERT_BODY:
            raise exceptions.BadUploadRequest(
                _("The revert request body must be just the upload id.")
            )
        try:
            body_id = body.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise exceptions.InvalidUploadId() from None
        if body_id:
            upload_id = body_id
        upload_id = self.upload_id_from(request, upload_id, "revert", "id")
        transfers.revert(upload_id)
        return plain_text("", 204)


class RestoreView(FilePondEndpoint):
    """``GET`` the bytes of a finished temporary upload (FilePond's ``limbo`` files)."""

    permission_keys = {"GET": "GET_RESTORE", "HEAD": "GET_RESTORE"}

    def get(self, request: Request, upload_id: str | None = None) -> HttpResponseBase:
        upload_id = self.upload_id_from(request, upload_id, "restore", "id")
        try:
            upload = TemporaryUpload.objects.get(pk=upload_id)
        except TemporaryUpload.DoesNotExist:
            raise exceptions.UnknownUpload() from None
        if not upload.complete:
            raise exceptions.UploadConflict(_("That upload has not finished yet."))
        try:
            f = get_temporary_area().open(upload_id)
        except FileNotFoundError:
            raise exceptions.UnknownUpload(_("The file of that upload is missing.")) from None
        return file_response(
            request._request,
            f,
            size=upload.received,
            name=upload.file_name,
            content_type=upload.content_type or "application/octet-stream",
        )


class LoadView(FilePondEndpoint):
    """``GET`` the bytes of a stored upload (FilePond's ``local`` files), with ``Range``."""

    permission_keys = {"GET": "GET_LOAD", "HEAD": "GET_LOAD"}

    def get(self, request: Request, upload_id: str | None = None) -> HttpResponseBase:
        upload_id = self.upload_id_from(request, upload_id, "load", "id")
        try:
            stored = StoredUpload.objects.get(pk=upload_id)
        except StoredUpload.DoesNotExist:
            raise exceptions.UnknownUpload() from None
        storage = get_permanent_storage()
        try:
            f = storage.open(stored.file.name, "rb")
        except FileNotFoundError:
            raise exceptions.UnknownUpload(
                _("The stored file of that upload is missing.")
            ) from None
        except OSError:
            raise exceptions.StorageUnavailable() from None
        return file_response(
            request._request,
            f,
            size=stored.size,
            name=stored.original_name,
            content_type=stored.content_type or "application/octet-stream",
            allow_ranges=True,
        )


class FetchView(FilePondEndpoint):
    """``GET``/``HEAD ?fetch=<url>``: download a remote file into a new temporary upload.

    The answer carries ``X-Content-Transfer-Id``, so FilePond shows the file as already
    uploaded (limbo) instead of uploading the bytes back.
    """

    permission_keys = {"GET": "GET_FETCH", "HEAD": "GET_FETCH"}

    def get(self, request: Request) -> HttpResponseBase:
        if not conf.FETCH_ENABLED:
            raise exceptions.UnknownUpload(
                _("Fetching remote files is not enabled on this server.")
            )
        url = request.query_params.get("fetch") or request.query_params.get("target")
        if not url:
            raise exceptions.BadUploadRequest(_("Say which URL to fetch."))
        if len(url) > MAX_FETCH_URL:
            raise exceptions.BadUploadRequest(_("That URL is too long."))
        cap = conf.FETCH_MAX_SIZE
        remote = fetch.open_remote(url)
        try:
            if remote.length is not None and remote.length > cap:
                raise fetch.too_large(cap)
            upload = transfers.create_from_stream(
                remote.chunks(cap), remote.file_name, remote.content_type
            )
        finally:
            remote.close()
        response = file_response(
            request._request,
            get_temporary_area().open(upload.upload_id),
            size=upload.received,
            name=upload.file_name,
            content_type=upload.content_type,
        )
        response["X-Content-Transfer-Id"] = upload.upload_id
        if request.method == "HEAD":
            response.close()
            head = HttpResponse(status=200)
            for header, value in response.items():
                head[header] = value
            return head
        return response


_process = ProcessView.as_view()
_patch = PatchView.as_view()
_revert = RevertView.as_view()
_restore = RestoreView.as_view()
_load = LoadView.as_view()
_fetch = FetchView.as_view()


@csrf_exempt  # each endpoint view applies DRF's own CSRF policy
def filepond_root(request: HttpRequest) -> HttpResponseBase:
    """FilePond's single URL: dispatch on method and query key to the endpoint views."""
    method = request.method
    query = request.GET
    if method == "POST":
        return _process(request)
    if method in ("PATCH", "HEAD") and "patch" in query:
        return _patch(request)
    if method == "DELETE":
        return _revert(request)
    if method in ("GET", "HEAD"):
        if "restore" in query:
            return _restore(request)
        if "load" in query:
            return _load(request)
        if "fetch" in query:
            return _fetch(request)
        return plain_text(
            _("Say what to get with one of the query keys restore, load or fetch."), 400
        )
    response = plain_text(
        _("%(method)s is not a FilePond request on this URL.") % {"method": method}, 405
    )
    response["Allow"] = "POST, PATCH, HEAD, DELETE, GET"
    return response
