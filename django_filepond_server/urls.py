"""URLs of the FilePond endpoints.

Mount them with ``path("fp/", include("django_filepond_server.urls"))``.

Both styles are served: FilePond's single URL (``server: '/fp/'``, told apart by method and query
key) and one path per endpoint (django-drf-filepond's ``process/``, ``patch/<id>``, ...). Every
pattern takes its trailing slash as optional, so no request is ever redirected.
"""

from __future__ import annotations

from django.urls import re_path

from django_filepond_server import views

app_name = "django_filepond_server"

urlpatterns = [
    re_path(r"^$", views.filepond_root, name="root"),
    re_path(r"^process/?$", views.ProcessView.as_view(), name="process"),
    re_path(r"^patch/(?P<upload_id>(?s:.+?))/?$", views.PatchView.as_view(), name="patch"),
    re_path(r"^patch/?$", views.PatchView.as_view(), name="patch-query"),
    re_path(r"^revert/?$", views.RevertView.as_view(), name="revert"),
    re_path(r"^restore/(?P<upload_id>(?s:.+?))/?$", views.RestoreView.as_view(), name="restore"),
    re_path(r"^restore/?$", views.RestoreView.as_view(), name="restore-query"),
    re_path(r"^load/(?P<upload_id>(?s:.+?))/?$", views.LoadView.as_view(), name="load"),
    re_path(r"^load/?$", views.LoadView.as_view(), name="load-query"),
    re_path(r"^fetch/?$", views.FetchView.as_view(), name="fetch"),
]
