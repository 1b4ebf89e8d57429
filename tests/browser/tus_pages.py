"""Pages of the tus browser tests: a Django form whose FilePond field sends files through the
package's tus transport, and Uppy's Dashboard with its tus plugin. Both reach the app's
endpoints through the request recorder (:mod:`tests.browser.wire`)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.template import Context, Engine
from django.urls import include, path, re_path

from django_filepond_server import urls as filepond_urls
from django_filepond_server.api import store_upload
from django_filepond_server.forms import FilePondField, FilePondForm
from django_filepond_server.ownership import owner_of
from tests.browser.wire import recorded

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE.parent.parent / "demo" / "node_modules"
UPPY_CSS = [
    NODE_MODULES / "@uppy" / "core" / "dist" / "style.min.css",
    NODE_MODULES / "@uppy" / "dashboard" / "dist" / "style.min.css",
]
#: Bytes per PATCH of the FilePond tus pages: a 20 MB file goes in ten chunks.
CHUNK_SIZE = 2_000_000

_engine = Engine(dirs=[str(HERE / "templates_tus")])


class DocumentForm(FilePondForm):
    document = FilePondField(
        transport="tus",
        # No automatic retries: a chunk that fails makes the item fail at once.
        options={"chunkSize": CHUNK_SIZE, "chunkRetryDelays": []},
    )


def document(request: HttpRequest) -> HttpResponse:
    """The form; a valid POST stores the file and answers its stored id as JSON."""
    form = DocumentForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        stored = store_upload(form.cleaned_data["document"].upload_id, "tus/", request=request)
        return JsonResponse({"stored": stored.upload_id})
    template = _engine.get_template("document.html")
    return HttpResponse(template.render(Context({"form": form, "csrf_token": get_token(request)})))


def uppy(request: HttpRequest) -> HttpResponse:
    return _page(request, "uppy.html")


def plain(request: HttpRequest) -> HttpResponse:
    return _page(request, "plain.html")


def _page(request: HttpRequest, name: str) -> HttpResponse:
    owner_of(request, create=True)  # the visitor's uploads belong to this session
    template = _engine.get_template(name)
    return HttpResponse(template.render(Context({"csrf_token": get_token(request)})))


_bundle_dir = Path(tempfile.mkdtemp(prefix="filepond-uppy-"))


def uppy_bundle() -> Path:
    """Uppy from demo/node_modules, bundled once by esbuild (Uppy ships ES modules with
    CommonJS dependencies, which a browser cannot load as they are)."""
    bundle = _bundle_dir / "uppy.js"
    if not bundle.exists():
        entry = (
            "import Uppy from '@uppy/core'; import Dashboard from '@uppy/dashboard';"
            "import Tus from '@uppy/tus'; window.Uppy = { Uppy, Dashboard, Tus };"
        )
        subprocess.run(
            [
                str(NODE_MODULES / ".bin" / "esbuild"),
                "--bundle",
                "--format=iife",
                "--log-level=error",
                f"--outfile={bundle}",
            ],
            input=entry,
            text=True,
            cwd=NODE_MODULES.parent,
            check=True,
            timeout=120,
        )
    return bundle


def asset(request: HttpRequest, name: str) -> FileResponse:
    if name == "uppy.js":
        return FileResponse(uppy_bundle().open("rb"), content_type="text/javascript")
    if name == "uppy.css":
        css = b"\n".join(p.read_bytes() for p in UPPY_CSS)
        response = FileResponse(iter([css]), content_type="text/css")
        return response
    raise Http404(name)


def _recorded(patterns: list[Any]) -> list[Any]:
    return [re_path(str(p.pattern), recorded(p.callback), name=p.name) for p in patterns]


urlpatterns = [
    path("document/", document, name="document"),
    path("uppy/", uppy, name="uppy"),
    path("plain/", plain, name="plain"),
    path("tus-assets/<str:name>", asset, name="tus-asset"),
    path(
        "fp/",
        include(
            (_recorded(filepond_urls.urlpatterns), filepond_urls.app_name),
            namespace=filepond_urls.app_name,
        ),
    ),
]
