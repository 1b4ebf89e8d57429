"""The FilePond endpoints as DRF views, answering FilePond in plain text."""

from __future__ import annotations

import inspect
import json
import logging
import math
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request

from django_filepond_server import exceptions, fetch, local_files, offload, transfers
from django_filepond_server.conf import conf
from django_filepond_server.endpoint import (
    FilePondEndpoint,
    check_upload_length,
    header_int,
    without_body_for_head,
)
from django_filepond_server.handlers import StagedFile, TemporaryAreaUploadHandler
from django_filepond_server.models import StoredUpload, new_upload_id
from django_filepond_server.names import (
    content_disposition,
    decode_header_name,
    is_active_content,
    safe_name,
)
from django_filepond_server.ownership import check_limits, owner_for_new_upload
from django_filepond_server.responses import file_response, plain_text
from django_filepond_server.rules import rules_for
from django_filepond_server.storage import get_permanent_storage, open_stored
from django_filepond_server.temporary import TemporaryArea, area_for, get_temporary_area

logger = logging.getLogger(__name__)

#: Longest DELETE body read when looking for an upload id.
MAX_REVERT_BODY = 1024
#: Longest URL the fetch endpoint accepts.
MAX_FETCH_URL = 4096
#: Room for multipart boundaries and part headers on top of the file and metadata.
MULTIPART_OVERHEAD = 64 * 1024


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
            self.handler = TemporaryAreaUploadHandler(get_temporary_area(), django_request)
            try:
                django_request.upload_handlers = [self.handler]
            except AttributeError:  # already parsed by middleware: stage what it parsed
                self.handler = None
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Any:
        if self.handler is not None:  # refused before the view ran (authentication...)
            self.handler.discard()
        return super().handle_exception(exc)

    def post(self, request: Request) -> HttpResponse:
        django_request = request._request
        owner = owner_for_new_upload(request)
        # A large body is checked before it is read, with what its size says at least; the
        # new row is checked again, atomically, when it is inserted.
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        least = declared - conf.MAX_METADATA_SIZE - MULTIPART_OVERHEAD
        if least > 0:
            check_limits(owner, least)
        handler = self.handler
        recorded: str | None = None
        try:
            files = django_request.FILES
            post = django_request.POST
            if handler is not None and handler.rejection is not None:
                raise handler.rejection
            if handler is not None and handler.refusal == handler.TOO_LARGE:
                check_upload_length(handler.max_size + 1, handler.max_size)
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
                field_name = self.checked_field_name(field_name)
                metadata = self.metadata(post, field_name)
                area = handler.area if handler is not None else get_temporary_area()
                upload_id = self.stage(area, uploaded, field_name)
                upload = transfers.record_whole(
                    area,
                    upload_id,
                    safe_name(uploaded.name),
                    uploaded.size or 0,
                    owner,
                    field_name,
                    metadata,
                )
                recorded = upload.upload_id
                return plain_text(upload.upload_id)

            upload_length = header_int(django_request, "Upload-Length", required=False)
            if upload_length is None:
                raise exceptions.BadUploadRequest(
                    _("No file was sent. Send it under the field name FilePond uses.")
                )
            check_upload_length(upload_length)
            field_name = self.checked_field_name(self.chunked_field_name(post))
            metadata = self.metadata(post, field_name)
            check_limits(owner, upload_length)
            upload = transfers.start_chunked(upload_length, field_name, metadata, owner)
            return plain_text(upload.upload_id)
        finally:
            # Whatever way the request goes out, file parts it did not record go with it
            # (a second part, a part cut short, a refusal).
            if handler is not None:
                handler.discard(keep=recorded)

    def stage(self, area: TemporaryArea, uploaded: Any, field_name: str) -> str:
        """The temporary-area id of the file part, copying it there if middleware parsed it."""
        if isinstance(uploaded, StagedFile):
            return uploaded.upload_id
        rules = rules_for(field_name)
        check_upload_length(uploaded.size or 0, rules.max_size)
        upload_id = new_upload_id()
        try:
            with transfers.storage_failures(area, upload_id), area.create(upload_id) as out:
                for chunk in uploaded.chunks():
                    out.write(chunk)
        except BaseException:
            transfers.delete_bytes(area, upload_id)
            raise
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
    def checked_field_name(name: str) -> str:
        """The form field name the upload's rules are looked up by, as it will be stored."""
        if len(name) > MAX_FIELD_NAME or not name.isprintable():
            raise exceptions.BadUploadRequest(
                _("The form field name is too long or contains control characters.")
            )
        return name

    @staticmethod
    def metadata(post: Any, field_name: str) -> dict[str, Any]:
        values = [v for v in post.getlist(field_name) if v]
        if not values:
            return {}
        raw = values[0]
        if len(raw.encode("utf-8", "surrogatepass")) > conf.MAX_METADATA_SIZE:
            raise exceptions.BadUploadRequest(
                _("The file's metadata is larger than %(max)d bytes.")
                % {"max": conf.MAX_METADATA_SIZE}
            )
        if _nesting(raw) > MAX_METADATA_DEPTH:
            raise exceptions.BadUploadRequest(
                _("The file's metadata is nested more than %(max)d levels deep.")
                % {"max": MAX_METADATA_DEPTH}
            )
        try:
            metadata = json.loads(raw, parse_constant=_refuse_constant)
        except ValueError:
            raise exceptions.BadUploadRequest(_("The file's metadata is not valid JSON.")) from None
        if not isinstance(metadata, dict):
            raise exceptions.BadUploadRequest(_("The file's metadata must be a JSON object."))
        _check_storable(metadata)
        return metadata


#: Deepest nesting of arrays and objects kept in metadata: well within what Python's parser
#: (whose limit depends on the Python version) and the databases' JSON columns accept.
MAX_METADATA_DEPTH = 64


def _nesting(text: str) -> int:
    """How deeply the arrays and objects of a JSON text nest, strings skipped."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


#: Longest form field name kept with an upload (the column's size).
MAX_FIELD_NAME = 255


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_storable(value: Any) -> None:
    """Refuse what JSON columns cannot hold: numbers that are not finite (``1e999``), and
    strings or keys with NUL or lone surrogates (PostgreSQL refuses both)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise exceptions.BadUploadRequest(_("The file's metadata contains a number out of range."))
    if isinstance(value, str):
        if "\x00" in value:
            raise exceptions.BadUploadRequest(_("The file's metadata contains a NUL character."))
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate
            raise exceptions.BadUploadRequest(
                _("The file's metadata contains a broken Unicode escape.")
            ) from None
    if isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key)
            _check_storable(item)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item)


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
            request,
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
        upload = transfers.get_offset(upload_id, request)
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
        transfers.revert(upload_id, request)
        return plain_text("", 204)


class RestoreView(FilePondEndpoint):
    """``GET`` the bytes of a finished temporary upload (FilePond's ``limbo`` files)."""

    permission_keys = {"GET": "GET_RESTORE", "HEAD": "GET_RESTORE"}

    def get(self, request: Request, upload_id: str | None = None) -> HttpResponseBase:
        upload_id = self.upload_id_from(request, upload_id, "restore", "id")
        upload = transfers.get_restorable(upload_id, request)
        head = request.method == "HEAD"
        return file_response(
            request._request,
            None if head else transfers.open_restorable(upload),
            size=upload.received,
            name=upload.file_name,
            content_type=upload.content_type or "application/octet-stream",
            allow_ranges=True,
            path=area_for(upload).local_path(upload.upload_id),
        )


class LoadView(FilePondEndpoint):
    """``GET`` the bytes of a stored upload (FilePond's ``local`` files), with ``Range``."""

    permission_keys = {"GET": "GET_LOAD", "HEAD": "GET_LOAD"}

    def get(self, request: Request, upload_id: str | None = None) -> HttpResponseBase:
        source = upload_id or request.query_params.get("load") or request.query_params.get("id")
        if local_files.is_model_file_source(source):  # a model FileField's file (forms)
            return local_files.load_model_file(request, str(source))
        upload_id = self.upload_id_from(request, upload_id, "load", "id")
        try:
            stored = StoredUpload.objects.get(pk=upload_id)
        except StoredUpload.DoesNotExist:
            raise exceptions.UnknownUpload() from None
        storage = get_permanent_storage()
        if conf.LOAD_REDIRECT and _signs_urls(storage):
            return self.redirect_to_signed_url(storage, stored)
        f = None if request.method == "HEAD" else self.open(stored, storage)
        return file_response(
            request._request,
            f,
            size=stored.size,
            name=stored.original_name,
            content_type=stored.content_type or "application/octet-stream",
            allow_ranges=True,
            path=offload.storage_path(storage, str(stored.file.name)),
        )

    @staticmethod
    def open(stored: StoredUpload, storage: Any) -> Any:
        try:
            return open_stored(str(stored.file.name), storage)
        except FileNotFoundError:
            raise exceptions.UnknownUpload(
                _("The stored file of that upload is missing.")
            ) from None
        except Exception:  # any failure of the storage backend (network, credentials...)
            logger.exception("Could not open stored upload %s", stored.pk)
            raise exceptions.StorageUnavailable() from None

    @staticmethod
    def redirect_to_signed_url(storage: Any, stored: StoredUpload) -> HttpResponse:
        """Send the client to a short-lived signed URL; the storage serves the bytes with the
        same Content-Type and Content-Disposition the app would send."""
        content_type = stored.content_type or "application/octet-stream"
        attachment = is_active_content(content_type)
        try:
            url = storage.url(
                stored.file.name,
                parameters={
                    "ResponseContentDisposition": content_disposition(
                        stored.original_name, attachment=attachment
                    ),
                    "ResponseContentType": "application/octet-stream"
                    if attachment
                    else content_type,
                },
                expire=conf.LOAD_URL_EXPIRY,
            )
        except Exception:
            logger.exception("Could not sign a URL for stored upload %s", stored.pk)
            raise exceptions.StorageUnavailable() from None
        response = HttpResponse(status=302)
        response["Location"] = url
        response["Cache-Control"] = "private, no-store"
        return response


def _signs_urls(storage: Any) -> bool:
    """Whether ``storage`` signs URLs the S3 way: a bucket, and ``url`` taking response
    parameters (``ResponseContentDisposition``...) and an expiry."""
    if getattr(storage, "bucket", None) is None:
        return False
    try:
        parameters = inspect.signature(storage.url).parameters
    except (TypeError, ValueError):
        return False
    return "parameters" in parameters and "expire" in parameters


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
        owner = owner_for_new_upload(request)
        room = check_limits(owner, 0)
        cap = min(conf.FETCH_MAX_SIZE, rules_for(None).max_size)
        remote = fetch.open_remote(url)
        try:
            if remote.length is not None:
                if remote.length > cap:
                    raise fetch.too_large(cap)
                check_limits(owner, remote.length)
            else:  # no declared length: stop where the owner's byte limit would be passed
                cap = min(cap, room)
            upload = transfers.create_from_stream(
                remote.chunks(cap), remote.file_name, remote.content_type, owner
            )
        finally:
            remote.close()
        head = request.method == "HEAD"
        response = file_response(
            request._request,
            None if head else transfers.open_restorable(upload),
            size=upload.received,
            name=upload.file_name,
            content_type=upload.content_type,
        )
        response["X-Content-Transfer-Id"] = upload.upload_id
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
    return without_body_for_head(request, _dispatch(request))


def _dispatch(request: HttpRequest) -> HttpResponseBase:
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
