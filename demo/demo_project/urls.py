from __future__ import annotations

from django.urls import include, path

from demo_project import api, views

urlpatterns = [
    path("", views.upload, name="upload"),
    path("documents/<int:pk>/", views.document, name="document"),
    path("documents/<int:pk>/edit/", views.edit, name="edit"),
    path("api/documents/", api.DocumentList.as_view(), name="api-documents"),
    path("api/documents/<int:pk>/", api.DocumentDetail.as_view(), name="api-document"),
    path("fp/", include("django_filepond_server.urls")),
]
