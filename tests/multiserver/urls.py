"""URLs of every app server of the multi-server tests: the browser tests' page (FilePond from
the demo's npm install) and form, the app at ``fp/``, a view that stores one upload, and
``csrf/``, which gives ``benchmarks/bench.py scaleout``'s visitors their CSRF cookie and token
as a page would."""

from __future__ import annotations

from django.core.files.storage import storages
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from django_filepond_server.api import save_upload, store_upload
from django_filepond_server.exceptions import FilePondServerError
from tests.browser import views


# Tests and benchmarks only: a real view keeps Django's CSRF protection.
@csrf_exempt
@require_POST
def store(request: HttpRequest) -> HttpResponse:
    """Store the requester's upload whose id is the body with ``store_upload`` (answers the
    stored id), or with ``?to=<alias>`` put it into that ``STORAGES`` alias with
    ``save_upload`` (answers the name saved)."""
    upload_id = request.body.decode("ascii", "replace").strip()
    alias = request.GET.get("to")
    try:
        if alias:
            saved = save_upload(
                upload_id,
                storages[alias],
                lambda upload: f"saved/{upload.file_name}",
                request=request,
            )
            return HttpResponse(saved, content_type="text/plain")
        stored = store_upload(upload_id, "stored/", request=request)
    except FilePondServerError as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain")
    return HttpResponse(stored.upload_id, content_type="text/plain")


def csrf(request: HttpRequest) -> HttpResponse:
    return HttpResponse(get_token(request), content_type="text/plain")


urlpatterns = [
    path("", views.page, name="page"),
    path("submit/", views.submit, name="submit"),
    path("assets/<str:name>", views.asset, name="asset"),
    path("store/", store, name="store"),
    path("csrf/", csrf, name="csrf"),
    path("fp/", include("django_filepond_server.urls")),
]
