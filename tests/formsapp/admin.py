from __future__ import annotations

from django.contrib import admin

from django_filepond_server.forms import FilePondAdminMixin
from tests.formsapp.forms import AlbumForm, PhotoForm
from tests.formsapp.models import Album, Photo


class PhotoInline(FilePondAdminMixin, admin.StackedInline):
    model = Photo
    form = PhotoForm
    extra = 0


@admin.register(Album)
class AlbumAdmin(FilePondAdminMixin, admin.ModelAdmin):
    form = AlbumForm
    inlines = [PhotoInline]
