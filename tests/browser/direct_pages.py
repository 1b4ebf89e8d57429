"""The page of the direct-upload browser tests: an ordinary Django form whose one field sends
its file directly (``FilePondField(transport="direct")``; the page has nothing but
``{{ form.media }}`` and the form), the view that stores the submitted upload, the app's
endpoints behind the request recorder, and an access log of every request the app server
handles."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from django.core.signals import request_started
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import RequestContext, Template
from django.urls import include, path, re_path
from django.views.decorators.http import require_POST

from django_filepond_server import api
from django_filepond_server import urls as filepond_urls
from django_filepond_server.forms import FilePondField, FilePondForm
from tests.browser.wire import recorded


class DirectForm(FilePondForm):
    document = FilePondField(transport="direct")


PAGE = Template(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>Direct uploads</title>{{ form.media }}</head>
<body><form method="post" action="/submit/">{% csrf_token %}{{ form.as_p }}
<button type="submit">Save</button></form></body></html>"""
)


def page(request: HttpRequest) -> HttpResponse:
    form = DirectForm(request=request)
    return HttpResponse(PAGE.render(RequestContext(request, {"form": form})))


@require_POST
def submit(request: HttpRequest) -> JsonResponse:
    form = DirectForm(request.POST, request=request)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors}, status=400)
    upload = form.cleaned_data["document"]
    stored = api.store_upload(upload.upload_id, "direct/", request=request)
    return JsonResponse({"stored": stored.upload_id, "name": stored.file.name})


urlpatterns = [
    path("", page),
    path("submit/", submit),
    path(
        "fp/",
        include(
            (
                [
                    re_path(str(p.pattern), recorded(p.callback), name=p.name)
                    for p in filepond_urls.urlpatterns
                ],
                filepond_urls.app_name,
            ),
            namespace=filepond_urls.app_name,
        ),
    ),
]


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    #: The request body's declared length (``None`` for a body without one).
    body_length: int | None


class AccessLog:
    """Every request the app server starts handling, whatever its URL: Django sends
    ``request_started`` with the WSGI environ before the URLconf or any view runs."""

    def __init__(self) -> None:
        self.entries: list[Logged] = []
        self.lock = threading.Lock()

    def __enter__(self) -> AccessLog:
        request_started.connect(self.record)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        request_started.disconnect(self.record)

    def record(self, sender: Any, environ: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if environ is None:
            return
        declared = environ.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        length = None if chunked else int(declared) if declared.isdigit() else 0
        with self.lock:
            self.entries.append(Logged(environ["REQUEST_METHOD"], environ["PATH_INFO"], length))

    def largest(self) -> Logged:
        with self.lock:
            return max(self.entries, key=lambda entry: entry.body_length or 0)
