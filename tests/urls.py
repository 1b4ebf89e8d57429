from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("fp/", include("django_filepond_server.urls")),
]
