"""URLs of the FilePond endpoints.

Mount them with ``path("fp/", include("django_filepond_server.urls"))``.

Both styles are served: FilePond's single URL (``server: '/fp/'``, told apart by method and query
key) and one path per endpoint (django-drf-filepond's ``process/``, ``patch/<id>``, ...). Every
pattern takes its trailing slash as optional, so no request is ever redirected. tus clients
(tus-js-client, Uppy, tus-py-client) create uploads at ``tus/`` and send them to ``tus/<id>``.
"""

from __future__ import annotations

from django.urls import re_path

from django_filepond_server import direct_views, tus_views, views

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
    re_path(r"^tus/?$", tus_views.tus_creation, name="tus"),
    re_path(r"^tus/(?P<upload_id>[^/]+)/?$", tus_views.tus_upload, name="tus-upload"),
    # Direct uploads (direct_views): the browser sends the bytes to S3 or the app's target.
    re_path(r"^direct/?$", direct_views.BeginView.as_view(), name="direct-begin"),
    re_path(r"^direct/parts/?$", direct_views.PartsView.as_view(), name="direct-parts"),
    re_path(r"^direct/complete/?$", direct_views.CompleteView.as_view(), name="direct-complete"),
    re_path(r"^direct/abort/?$", direct_views.AbortView.as_view(), name="direct-abort"),
    re_path(
        r"^direct/target/(?P<token>[A-Za-z0-9_:-]+)/?$",
        direct_views.TargetView.as_view(),
        name="direct-target",
    ),
]
