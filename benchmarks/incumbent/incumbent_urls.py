"""URLs of the incumbent's project: django-drf-filepond's endpoints at ``/fp/`` (``process/``,
``patch/<id>``, ``revert/``, ``restore/?id=``, ``load/?id=``), plus a view that stores an upload
with its ``store_upload``, as ``bench_urls.py`` does for our app."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_drf_filepond.api import store_upload


# Benchmark only, not an example to copy (no CSRF, no ownership check), as in bench_urls.py.
@csrf_exempt
@require_POST
def store(request: HttpRequest) -> HttpResponse:
    """Store the temporary upload whose id is the request body; answer the stored id.

    ``rename_if_exists`` picks a free name as our app always does (the benchmark stores several
    files of one name).
    """
    upload_id = request.body.decode("ascii", "replace").strip()
    try:
        stored = store_upload(upload_id, "bench/", rename_if_exists=True)
    except ValueError as exc:  # unknown or malformed id
        return HttpResponse(str(exc), status=404, content_type="text/plain")
    return HttpResponse(stored.upload_id, content_type="text/plain")


urlpatterns = [
    path("fp/", include("django_drf_filepond.urls")),
    path("store/", store, name="bench-store"),
]
