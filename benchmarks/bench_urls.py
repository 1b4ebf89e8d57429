"""URLs of the project ``bench.py`` serves: the FilePond endpoints at ``/fp/``, ``csrf/`` (a
visitor's CSRF cookie and token, as the page holding FilePond gives them) and ``store/``, which
calls the app's ``store_upload`` inside the server as a project's form view would."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
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


@csrf_exempt
def floor(request: HttpRequest) -> HttpResponse:
    """``FILEPOND_BENCH_TARGET=floor``: the least a Django view does to keep a whole-file
    upload (the file written, one row inserted and committed), under the same middleware."""
    uploaded = request.FILES["filepond"]
    upload_id = secrets.token_urlsafe(16)
    directory = os.path.join(settings.WORK_DIR, "floor")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, upload_id), "xb") as f:
        for piece in uploaded.chunks():
            f.write(piece)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_floor VALUES (%s, %s, %s)",
            [upload_id, uploaded.name, uploaded.size],
        )
    return HttpResponse(upload_id, content_type="text/plain")


if settings.TARGET == "floor":
    from django.db.backends.signals import connection_created

    def _create_floor_table(sender: Any, connection: Any, **kwargs: Any) -> None:
        """The floor's one table, made once per connection rather than per upload; two
        workers may race to make it, and the loser finds it there."""
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS bench_floor (id VARCHAR(22) PRIMARY KEY, "
                "name VARCHAR(255), size BIGINT)"
            )

    connection_created.connect(_create_floor_table)
    urlpatterns = [path("fp/process/", floor), path("csrf/", csrf)]
else:
    APP_URLS = "django_drf_filepond.urls" if INCUMBENT else "django_filepond_server.urls"
    urlpatterns = [
        path("fp/", include(APP_URLS)),
        path("csrf/", csrf),
        path("store/", store),
    ]
