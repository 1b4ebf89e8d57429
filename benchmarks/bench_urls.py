"""URLs of the project ``bench.py`` serves: the FilePond endpoints at ``/fp/``, ``csrf/`` (a
visitor's CSRF cookie and token, as the page holding FilePond gives them) and ``store/``, which
calls the app's ``store_upload`` inside the server as a project's form view would."""

from __future__ import annotations

import os
import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.urls import include, path
from django.views.decorators.http import require_POST

INCUMBENT = settings.TARGET == "incumbent"


def csrf(request: HttpRequest) -> HttpResponse:
    return HttpResponse(get_token(request), content_type="text/plain")


# Benchmark only: a real view also checks that the id belongs to the visitor.
@require_POST
def store(request: HttpRequest) -> HttpResponse:
    """Store the temporary upload whose id is the request body; answer the stored id."""
    upload_id = request.body.decode("ascii", "replace").strip()
    try:
        if INCUMBENT:
            from django_drf_filepond.api import store_upload as store_incumbent

            stored = store_incumbent(upload_id, "bench/", rename_if_exists=True)
        else:
            from django_filepond_server.api import store_upload

            stored = store_upload(upload_id, "bench/")
    except Exception as exc:  # the benchmark reports the answer as a failed check
        return HttpResponse(f"{type(exc).__name__}: {exc}", status=409, content_type="text/plain")
    return HttpResponse(stored.upload_id, content_type="text/plain")


def slow_validator(upload: Any, file: Any) -> None:
    """``bench.py contention``: a validator that takes its time over files named ``slow*``."""
    if upload.file_name.startswith("slow"):
        time.sleep(float(os.environ["FILEPOND_BENCH_SLOW_VALIDATOR"]))


APP_URLS = "django_drf_filepond.urls" if INCUMBENT else "django_filepond_server.urls"
urlpatterns = [
    path("fp/", include(APP_URLS)),
    path("csrf/", csrf),
    path("store/", store),
]
