"""URLs of the fuzz server: the FilePond endpoints, a view that stores an upload the way a
project's form view does, and the validator the fuzz settings configure."""

from __future__ import annotations

import logging
from typing import Any, BinaryIO

from django.contrib.auth import authenticate, login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.request import Request
from rest_framework.views import APIView

from django_filepond_server.api import store_upload
from django_filepond_server.exceptions import (
    StorageFailed,
    UploadIncomplete,
    UploadNotFound,
    UploadNotOwned,
    UploadRejected,
)
from django_filepond_server.models import TemporaryUpload
from django_filepond_server.responses import plain_text

logger = logging.getLogger(__name__)

#: Files holding this text are refused by :func:`refuse_marked`, after all their bytes arrived.
MARKER = b"FUZZ-REFUSE-ME"


def refuse_marked(upload: TemporaryUpload, f: BinaryIO) -> None:
    """A validator in the way a virus scanner is one: it reads the whole file."""
    tail = b""
    while piece := f.read(64 * 1024):
        if MARKER in tail + piece:
            raise ValidationError("This file carries the refusal marker.")
        tail = piece[-len(MARKER) :]


class StoreView(APIView):
    """``POST`` an upload id as the body: store the requester's upload, answer its id."""

    permission_classes: list[Any] = []

    def post(self, request: Request) -> Any:
        upload_id = request._request.read(64).decode("ascii", "replace").strip()
        try:
            stored = store_upload(upload_id, "fuzz/", request=request)
        except (UploadNotFound, UploadNotOwned):
            return plain_text("No upload with that id was found.", 404)
        except UploadIncomplete:
            return plain_text("That upload has not finished.", 409)
        except UploadRejected as exc:
            return plain_text(exc.message, exc.status_code)
        except StorageFailed as exc:
            # The store is a local directory here: a failure is a bug (and fails the run).
            logger.error("Could not store %s: %r", upload_id, exc.__cause__)
            response = plain_text("The store failed.", 503)
            response["Retry-After"] = "1"
            return response
        return plain_text(stored.upload_id)


@csrf_exempt  # test only: the run's "login" visitors log in by name
def log_in(request: HttpRequest) -> HttpResponse:
    user = authenticate(request, username=request.body.decode(), password="pw")
    if user is None:
        return plain_text("No such user.", 400)
    login(request, user)
    return HttpResponse(status=204)


urlpatterns = [
    path("fp/", include("django_filepond_server.urls")),
    path("store/", StoreView.as_view()),
    path("login/", log_in),
]
