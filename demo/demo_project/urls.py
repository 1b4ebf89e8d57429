from __future__ import annotations

from django.urls import include, path

from demo_project import views

urlpatterns = [
    path("", views.upload, name="upload"),
    path("documents/<int:pk>/", views.document, name="document"),
    path("documents/<int:pk>/edit/", views.edit, name="edit"),
    path("fp/", include("django_filepond_server.urls")),
]
