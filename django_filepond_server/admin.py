"""Admin pages for temporary and stored uploads; deleting a row there deletes its file too."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _

from django_filepond_server.models import StoredUpload, TemporaryUpload
from django_filepond_server.responses import file_response
from django_filepond_server.storage import open_stored
from django_filepond_server.temporary import area_for
from django_filepond_server.transfers import delete_bytes


class _UploadAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_select_related = ["owner"]
    search_fields = ["upload_id"]

    # What differs between temporary and stored uploads (both admins below define them all).
    def size_of(self, obj: Any) -> int:
        raise NotImplementedError  # pragma: no cover  (abstract)

    def born(self, obj: Any) -> Any:
        raise NotImplementedError  # pragma: no cover  (abstract)

    def name_of(self, obj: Any) -> str:
        raise NotImplementedError  # pragma: no cover  (abstract)

    def open_file(self, obj: Any) -> Any:
        raise NotImplementedError  # pragma: no cover  (abstract)

    def delete_with_files(self, queryset: QuerySet[Any]) -> None:
        raise NotImplementedError  # pragma: no cover  (abstract)

    @admin.display(description=_("size"))
    def size_display(self, obj: Any) -> str:
        return filesizeformat(self.size_of(obj))

    @admin.display(description=_("age"))
    def age(self, obj: Any) -> str:
        return timesince(self.born(obj), timezone.now())

    @admin.display(description=_("owner"))
    def owner_display(self, obj: Any) -> str:
        if obj.owner_id is not None:
            return str(obj.owner)
        return str(_("a session")) if getattr(obj, "owner_token", "") else "-"

    @admin.display(description=_("download"))
    def download(self, obj: Any) -> str:
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_download", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("download"))

    def get_urls(self) -> list[Any]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_download"
        view = self.admin_site.admin_view(self.download_view)
        return [path("<str:upload_id>/download/", view, name=name), *super().get_urls()]

    def download_view(self, request: HttpRequest, upload_id: str) -> HttpResponseBase:
        obj = get_object_or_404(self.model, pk=upload_id)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        try:
            f = self.open_file(obj)
        except FileNotFoundError:  # a refused upload keeps its row but not its bytes
            raise Http404(_("This upload has no file.")) from None
        response = file_response(
            request,
            f,
            size=self.size_of(obj),
            name=self.name_of(obj),
            content_type=obj.content_type or "application/octet-stream",
        )
        response["Content-Disposition"] = response["Content-Disposition"].replace(
            "inline;", "attachment;", 1
        )
        return response

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_with_files(self.model._default_manager.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self.delete_with_files(queryset)


@admin.register(TemporaryUpload)
class TemporaryUploadAdmin(_UploadAdmin):
    list_display = [
        "file_name",
        "size_display",
        "detected_type",
        "owner_display",
        "age",
        "complete",
        "rejected",
        "download",
    ]
    list_filter = ["complete", "chunked"]
    search_fields = ["upload_id", "file_name"]
    readonly_fields = [f.name for f in TemporaryUpload._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def size_of(self, obj: TemporaryUpload) -> int:
        return obj.received

    def born(self, obj: TemporaryUpload) -> Any:
        return obj.created

    def name_of(self, obj: TemporaryUpload) -> str:
        return obj.file_name

    def open_file(self, obj: TemporaryUpload) -> Any:
        return area_for(obj).open(obj.upload_id)

    def delete_with_files(self, queryset: QuerySet[Any]) -> None:
        for upload in list(queryset.select_related(None).only("upload_id", "area")):
            queryset.model._default_manager.filter(pk=upload.upload_id).delete()
            delete_bytes(area_for(upload), upload.upload_id)


@admin.register(StoredUpload)
class StoredUploadAdmin(_UploadAdmin):
    list_display = [
        "file",
        "original_name",
        "size_display",
        "detected_type",
        "owner_display",
        "age",
        "download",
    ]
    search_fields = ["upload_id", "original_name", "file"]
    readonly_fields = [f.name for f in StoredUpload._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def size_of(self, obj: StoredUpload) -> int:
        return obj.size

    def born(self, obj: StoredUpload) -> Any:
        return obj.stored

    def name_of(self, obj: StoredUpload) -> str:
        return obj.original_name

    def open_file(self, obj: StoredUpload) -> Any:
        return open_stored(str(obj.file.name))

    def delete_with_files(self, queryset: QuerySet[Any]) -> None:
        from django_filepond_server.api import delete_stored_upload

        for upload_id in list(queryset.values_list("pk", flat=True)):
            delete_stored_upload(upload_id, delete_file=True)
