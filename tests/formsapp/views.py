"""Ordinary Django form handling, as a project writes it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from tests.formsapp.forms import AlbumForm
from tests.formsapp.models import Album


def album(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    instance = get_object_or_404(Album, pk=pk) if pk else None
    form = AlbumForm(request.POST or None, instance=instance, request=request)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        return redirect("album-edit", pk=saved.pk)
    return render(request, "formsapp/album.html", {"form": form})
