"""URLconf of the browser tests: the app at ``fp/`` (every view wrapped to record what the
browser sent), the test page, its form target and its scripts."""

from __future__ import annotations

from django.urls import URLPattern, include, path, re_path

from django_filepond_server import urls as filepond_urls
from tests.browser import views
from tests.browser.wire import recorded


def _recorded(patterns: list[URLPattern]) -> list[URLPattern]:
    """The app's own patterns (same regexes, same names), each view behind the recorder."""
    return [re_path(str(p.pattern), recorded(p.callback), name=p.name) for p in patterns]


urlpatterns = [
    path("", views.page, name="page"),
    path("submit/", views.submit, name="submit"),
    path("assets/<str:name>", views.asset, name="asset"),
    path(
        "fp/",
        include(
            (_recorded(filepond_urls.urlpatterns), filepond_urls.app_name),
            namespace=filepond_urls.app_name,
        ),
    ),
]
