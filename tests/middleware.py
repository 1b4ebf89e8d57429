"""A middleware that reads request.POST early, as some projects' middleware does."""

from __future__ import annotations


class ReadPostMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.POST  # noqa: B018  (parses the body with Django's default upload handlers)
        return self.get_response(request)
