from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from tests.formsapp import views

urlpatterns = [
    path("albums/new/", views.album, name="album-new"),
    path("albums/<int:pk>/", views.album, name="album-edit"),
    path("admin/", admin.site.urls),
    path("fp/", include("django_filepond_server.urls")),
]
