"""tus 1.0.0 over the temporary uploads: ``POST`` creates an upload (with its first bytes, if
sent), ``HEAD`` says how far it got, ``PATCH`` adds bytes, ``DELETE`` removes it, ``OPTIONS``
describes the server. A tus upload is a :class:`~django_filepond_server.models.TemporaryUpload`
like any other, received by :mod:`~django_filepond_server.transfers` under the same owner,
rules, limits and validators, and stored with ``store_upload``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework.request import Request

from django_filepond_server import exceptions, transfers, tus
from django_filepond_server.conf import conf
from django_filepond_server.endpoint import (
    FilePondEndpoint,
    check_upload_length,
    header_int,
    without_body_for_head,
)
from django_filepond_server.models import TemporaryUpload
from django_filepond_server.names import safe_name
from django_filepond_server.ownership import check_limits, owner_for_new_upload
from django_filepond_server.responses import plain_text
from django_filepond_server.views import ProcessView

#: The metadata key a client names its form field with (the field's upload rules apply).
FIELD_NAME_KEY = "fieldname"


def _content_length(request: HttpRequest) -> int:
    length = header_int(request, "Content-Length", required=False)
    if length is None:
        # Without Content-Length, WSGI hands over no body at all.
        if "Transfer-Encoding" in request.headers:
            raise exceptions.LengthRequired(_("A tus request with a body needs Content-Length."))
        return 0
    return length


def _check_chunk_type(request: HttpRequest) -> None:
    content_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if content_type != tus.CHUNK_TYPE:
        raise exceptions.WrongContentType(
            _("Send the bytes with Content-Type %(type)s.") % {"type": tus.CHUNK_TYPE}
        )


def _receive(request: Request, upload_id: str, offset: int, length: int) -> TemporaryUpload:
    """Write a request body at ``offset``, which must be where the received bytes end."""
    django_request = request._request
    return transfers.receive_chunk(
        upload_id,
        request,
        offset=offset,
        upload_length=header_int(django_request, "Upload-Length", required=False),
        content_length=length,
        file_name=None,
        read=django_request.read,
        exact=True,
        check=tus.parse_checksum(request.headers.get("Upload-Checksum")),
    )


def _progress(response: HttpResponse, upload: TemporaryUpload) -> HttpResponse:
    response["Upload-Offset"] = str(upload.received)
    response["Upload-Expires"] = tus.expires_header(upload)
    return response


class TusCreationView(FilePondEndpoint):
    """``POST /tus/``: a new upload of ``Upload-Length`` bytes, with its first bytes if the
    body carries them (creation-with-upload)."""

    permission_keys = {"POST": "POST_TUS"}

    def post(self, request: Request) -> HttpResponse:
        django_request = request._request
        headers = request.headers
        if "Upload-Defer-Length" in headers or "Upload-Concat" in headers:
            raise exceptions.BadUploadRequest(
                _("This server needs Upload-Length at creation and does not concatenate.")
            )
        upload_length = header_int(django_request, "Upload-Length")
        assert upload_length is not None
        check_upload_length(upload_length)
        metadata = tus.parse_metadata(headers.get("Upload-Metadata", ""))
        file_name = metadata.pop("filename", None) or metadata.get("name")
        declared_type = tus.media_type(metadata.pop("filetype", ""))
        field_name = ProcessView.checked_field_name(
            metadata.pop(FIELD_NAME_KEY, "") or conf.FIELD_NAME
        )
        length = _content_length(django_request)
        if length:
            _check_chunk_type(django_request)
        owner = owner_for_new_upload(request)
        check_limits(owner, upload_length)
        upload = transfers.start_chunked(
            upload_length,
            field_name,
            metadata,
            owner,
            file_name=file_name,
            content_type=declared_type,
        )
        if length or not upload_length:
            try:
                upload = _receive(request, upload.upload_id, 0, length)
            except BaseException:
                # A refused first chunk leaves nothing behind: no upload without a Location.
                with contextlib.suppress(exceptions.UnknownUpload):
                    transfers.revert(upload.upload_id, request)
                raise
        response = _progress(plain_text("", 201), upload)
        response["Location"] = reverse("django_filepond_server:tus-upload", args=[upload.upload_id])
        return response


class TusUploadView(FilePondEndpoint):
    """``HEAD``, ``PATCH`` and ``DELETE`` of ``/tus/<id>``."""

    permission_keys = {"HEAD": "HEAD_TUS", "PATCH": "PATCH_TUS", "DELETE": "DELETE_TUS"}

    def head(self, request: Request, upload_id: str) -> HttpResponse:
        upload_id = self.upload_id_from(request, upload_id)
        upload = transfers.get_offset(upload_id, request)
        response = _progress(plain_text("", 200), upload)
        response["Upload-Length"] = str(upload.upload_length)
        response["Cache-Control"] = "no-store"
        metadata = {key: value for key, value in upload.metadata.items() if isinstance(value, str)}
        metadata.update(filename=upload.file_name or safe_name(None), fieldname=upload.field_name)
        if upload.content_type:
            metadata["filetype"] = upload.content_type
        response["Upload-Metadata"] = tus.encode_metadata(metadata)
        return response

    def patch(self, request: Request, upload_id: str) -> HttpResponse:
        upload_id = self.upload_id_from(request, upload_id)
        django_request = request._request
        _check_chunk_type(django_request)
        offset = header_int(django_request, "Upload-Offset")
        assert offset is not None
        upload = _receive(request, upload_id, offset, _content_length(django_request))
        return _progress(plain_text("", 204), upload)

    def delete(self, request: Request, upload_id: str) -> HttpResponse:
        upload_id = self.upload_id_from(request, upload_id)
        transfers.revert(upload_id, request)
        return plain_text("", 204)


_creation = TusCreationView.as_view()
_upload = TusUploadView.as_view()

#: Methods a client may send as a POST with ``X-HTTP-Method-Override`` (tus-js-client's
#: ``overridePatchMethod``, for proxies that drop PATCH and DELETE).
OVERRIDABLE = ("PATCH", "DELETE")


def _serve(
    request: HttpRequest, view: Callable[..., HttpResponseBase], methods: tuple[str, ...]
) -> HttpResponseBase:
    override = request.headers.get("X-HTTP-Method-Override", "").strip().upper()
    if request.method == "POST" and override:
        if override not in OVERRIDABLE or override not in methods:
            response: HttpResponseBase = plain_text(
                _("X-HTTP-Method-Override may only name PATCH or DELETE of an upload."), 400
            )
            return _finish(request, response)
        request.method = override
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        if not tus.is_preflight(request):
            tus.discovery_headers(response)
    elif request.method in methods and request.headers.get("Tus-Resumable") != tus.TUS_VERSION:
        detail = tus.VersionUnsupported.default_detail
        response = plain_text(str(detail), tus.VersionUnsupported.status_code)
        response["Tus-Version"] = tus.TUS_VERSION
    else:
        response = view(request)
    return _finish(request, response)


def _finish(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    response["Tus-Resumable"] = tus.TUS_VERSION
    if response.status_code == tus.ChecksumMismatch.status_code:
        response.reason_phrase = "Checksum Mismatch"
    tus.cors_headers(request, response)
    return without_body_for_head(request, response)


@csrf_exempt  # the views apply DRF's own CSRF policy
def tus_creation(request: HttpRequest) -> HttpResponseBase:
    """``/tus/``: ``POST`` creates an upload, ``OPTIONS`` describes the server."""
    return _serve(request, _creation, ("POST",))


@csrf_exempt
def tus_upload(request: HttpRequest, upload_id: str) -> HttpResponseBase:
    """``/tus/<id>``: ``HEAD``, ``PATCH`` and ``DELETE`` of one upload."""
    return _serve(request, lambda r: _upload(r, upload_id=upload_id), ("HEAD", "PATCH", "DELETE"))
