"""The demo's pages: ordinary Django form handling. The FilePond fields check every
submitted upload and store the files when the form is saved."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods

from demo_project.forms import DocumentForm
from demo_project.models import Document
from django_filepond_server.local_files import sign_model_file


@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    form = DocumentForm(request.POST if request.method == "POST" else None, request=request)
    if form.is_bound and form.is_valid():
        return redirect(form.save())
    documents = Document.objects.prefetch_related("files")[:10]
    return render(request, "demo_project/upload.html", {"form": form, "documents": documents})


def document(request: HttpRequest, pk: int) -> HttpResponse:
    doc = get_object_or_404(Document, pk=pk)
    load_url = reverse("django_filepond_server:root") + "load/?id="
    cover_url = None
    if doc.cover:  # no MEDIA_URL is routed: the cover is loaded like FilePond loads it
        source = sign_model_file(Document._meta.get_field("cover"), doc.cover.name)
        cover_url = reverse("django_filepond_server:root") + "load/?" + urlencode({"id": source})
    files = doc.files.order_by("original_name")
    context = {"document": doc, "files": files, "load_url": load_url, "cover_url": cover_url}
    return render(request, "demo_project/document.html", context)


@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    doc = get_object_or_404(Document, pk=pk)
    data = request.POST if request.method == "POST" else None
    form = DocumentForm(data, instance=doc, request=request)
    if form.is_bound and form.is_valid():
        return redirect(form.save())
    return render(request, "demo_project/edit.html", {"form": form, "document": doc})
