"""The test page: FilePond from the demo's npm install, with options chosen by each test."""

from __future__ import annotations

import json
from pathlib import Path

from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
)
from django.middleware.csrf import get_token
from django.template import Context, Engine
from django.views.decorators.http import require_GET, require_POST

from django_filepond_server.api import store_submitted_uploads
from django_filepond_server.ownership import owner_of

HERE = Path(__file__).resolve().parent
FILEPOND_DIST = HERE.parent.parent / "demo" / "node_modules" / "filepond" / "dist"

#: The files the page loads: the same FilePond build the demo serves, and the page's script.
ASSETS = {
    "filepond.min.js": (FILEPOND_DIST / "filepond.min.js", "text/javascript"),
    "filepond.min.css": (FILEPOND_DIST / "filepond.min.css", "text/css"),
    "page.js": (HERE / "page.js", "text/javascript"),
}

_engine = Engine(dirs=[str(HERE)])


@require_GET
def page(request: HttpRequest) -> HttpResponse:
    """A form with one FilePond field. ``?config=`` is JSON: ``options`` for
    ``FilePond.create``; ``csrf`` to send the token in ``server.headers``; ``messages`` to
    show the server's error bodies, as the form widget's script does; ``session: false`` to
    leave the visitor without a session until the first upload makes one."""
    try:
        config = json.loads(request.GET.get("config") or "{}")
    except ValueError:
        return HttpResponseBadRequest("config is not JSON")
    if config.get("session", True):
        # Give the visitor their owner token now: several first uploads that start at once
        # would each create a session of their own (see test_sessions.py).
        owner_of(request, create=True)
    # get_token() also makes CsrfViewMiddleware set the cookie the token pairs with.
    token = get_token(request)
    config["csrfToken"] = token
    template = _engine.get_template("page.html")
    return HttpResponse(template.render(Context({"config": config, "csrf_token": token})))


@require_POST
def submit(request: HttpRequest) -> JsonResponse:
    """The form's target: store what FilePond's hidden inputs submitted, as a project would."""
    stored = store_submitted_uploads(request, "filepond", "browser/")
    return JsonResponse({"stored": [s.upload_id for s in stored]})


@require_GET
def asset(request: HttpRequest, name: str) -> FileResponse:
    if name not in ASSETS:
        raise Http404(name)
    path, content_type = ASSETS[name]
    return FileResponse(path.open("rb"), content_type=content_type)
