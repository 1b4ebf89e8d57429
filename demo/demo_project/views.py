"""The demo's pages: upload a document with files, look at it, edit its files.

FilePond uploads each file to /fp/ while the user fills in the form and leaves the server's
upload id in a hidden ``filepond`` input. On submit the ids are checked and turned into stored
files here, with the app's Python API.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from demo_project.forms import DocumentForm
from demo_project.models import Document
from django_filepond_server.api import delete_stored_upload, store_upload
from django_filepond_server.exceptions import UploadNotFound, UploadNotOwned
from django_filepond_server.models import TemporaryUpload

FIELD = "filepond"
#: Where stored files go, relative to MEDIA_ROOT; the trailing slash keeps the file's name.
DESTINATION = "demo/"
#: Bytes per PATCH: under the app's FILEPOND_SERVER_MAX_CHUNK_SIZE and nginx's default 1 MiB.
CHUNK_SIZE = 1_000_000


def submitted_ids(request: HttpRequest) -> list[str]:
    """The ids FilePond's hidden inputs sent, in order, without blanks or repeats.

    Items that never finished uploading (or were reverted) submit an empty value.
    """
    return list(dict.fromkeys(v for v in request.POST.getlist(FIELD) if v))


def finished_temporary_ids(ids: Iterable[str]) -> list[str]:
    """Those of ``ids`` that are complete temporary uploads, in the order given."""
    ids = list(ids)
    found = set(
        TemporaryUpload.objects.filter(pk__in=ids, complete=True).values_list("pk", flat=True)
    )
    return [upload_id for upload_id in ids if upload_id in found]


def store_new_files(request: HttpRequest, document: Document, ids: Iterable[str]) -> None:
    """Store the visitor's finished temporary uploads among ``ids`` and attach them.

    Anything else (a stale id, someone else's upload, a made-up value) is ignored.
    """
    for upload_id in finished_temporary_ids(ids):
        try:
            stored = store_upload(upload_id, DESTINATION, request=request)
        except (UploadNotFound, UploadNotOwned):  # gone meanwhile, or not this visitor's
            continue
        document.files.add(stored)


def filepond_config(request: HttpRequest, files: list[dict[str, Any]]) -> dict[str, Any]:
    """What demo.js needs to set up FilePond; the template emits it with ``json_script``."""
    return {
        "server": reverse("django_filepond_server:root"),
        "csrfToken": get_token(request),
        "chunkSize": CHUNK_SIZE,
        "files": files,
    }


def limbo(ids: Iterable[str]) -> list[dict[str, Any]]:
    """Temporary uploads to show as already uploaded; FilePond fetches them with ?restore=."""
    return [{"source": upload_id, "options": {"type": "limbo"}} for upload_id in ids]


def local(ids: Iterable[str]) -> list[dict[str, Any]]:
    """Stored files to show; FilePond fetches them with ?load=."""
    return [{"source": upload_id, "options": {"type": "local"}} for upload_id in ids]


@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    files: list[dict[str, Any]] = []
    if request.method == "POST":
        form = DocumentForm(request.POST)
        ids = submitted_ids(request)
        if form.is_valid():
            # No surrounding transaction: each API call is all-or-nothing for its row and its
            # file, which a rollback of an outer transaction could not undo on disk.
            doc = form.save()
            store_new_files(request, doc, ids)
            return redirect(doc)
        # Give the files back to FilePond so nothing has to be uploaded twice.
        files = limbo(finished_temporary_ids(ids))
    else:
        form = DocumentForm()
    return render(
        request,
        "demo_project/upload.html",
        {
            "form": form,
            "filepond": filepond_config(request, files),
            "documents": Document.objects.prefetch_related("files")[:10],
        },
    )


def document(request: HttpRequest, pk: int) -> HttpResponse:
    doc = get_object_or_404(Document, pk=pk)
    load_url = reverse("django_filepond_server:root") + "load/?id="
    return render(
        request,
        "demo_project/document.html",
        {"document": doc, "files": doc.files.order_by("original_name"), "load_url": load_url},
    )


@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    doc = get_object_or_404(Document, pk=pk)
    stored_ids = list(doc.files.order_by("original_name").values_list("pk", flat=True))
    if request.method == "POST":
        form = DocumentForm(request.POST, instance=doc)
        ids = submitted_ids(request)
        if form.is_valid():
            form.save()
            store_new_files(request, doc, ids)
            # A stored ("local") file removed in FilePond is just missing from the submit.
            # (FilePond also sends a revert for one larger than chunkSize; the app refuses
            # it, as the id is not a temporary upload.) Deleting last keeps files if storing
            # failed.
            for upload_id in stored_ids:
                if upload_id not in ids:
                    delete_stored_upload(upload_id, delete_file=True)
            return redirect(doc)
        kept_stored = [upload_id for upload_id in ids if upload_id in stored_ids]
        files = local(kept_stored) + limbo(finished_temporary_ids(ids))
    else:
        form = DocumentForm(instance=doc)
        files = local(stored_ids)
    return render(
        request,
        "demo_project/edit.html",
        {"form": form, "document": doc, "filepond": filepond_config(request, files)},
    )
