from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from tests.formsapp import api, views

urlpatterns = [
    path("albums/new/", views.album, name="album-new"),
    path("albums/<int:pk>/", views.album, name="album-edit"),
    path("api/albums/", api.AlbumList.as_view()),
    path("api/albums/<int:pk>/", api.AlbumDetail.as_view()),
    path("api/schema/", SpectacularAPIView.as_view()),
    path("admin/", admin.site.urls),
    path("fp/", include("django_filepond_server.urls")),
]
