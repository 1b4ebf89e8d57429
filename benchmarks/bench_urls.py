"""URLs of the benchmark server: the FilePond endpoints, plus a view that stores an upload.

``store/`` exists so that ``store_upload`` is timed inside the server process, where a real
project calls it (from the view that handles its form).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from django_filepond_server.api import store_upload
from django_filepond_server.exceptions import UploadIncomplete, UploadNotFound


# Benchmark only, not an example to copy: a real view that stores uploads keeps Django's CSRF
# protection and checks that the ids belong to the user submitting the form.
@csrf_exempt
@require_POST
def store(request: HttpRequest) -> HttpResponse:
    """Store the temporary upload whose id is the request body; answer the stored id."""
    upload_id = request.body.decode("ascii", "replace").strip()
    try:
        stored = store_upload(upload_id, "bench/")
    except UploadNotFound as exc:
        return HttpResponse(str(exc), status=404, content_type="text/plain")
    except UploadIncomplete as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain")
    return HttpResponse(stored.upload_id, content_type="text/plain")


urlpatterns = [
    path("fp/", include("django_filepond_server.urls")),
    path("store/", store, name="bench-store"),
]
