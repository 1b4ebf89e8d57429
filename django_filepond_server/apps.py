from __future__ import annotations

from django.apps import AppConfig, apps


class FilePondServerConfig(AppConfig):
    name = "django_filepond_server"
    verbose_name = "FilePond server"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_filepond_server import checks  # noqa: F401  (registers the system checks)

        if apps.is_installed("drf_spectacular"):  # registers the OpenAPI extensions
            from django_filepond_server import openapi  # noqa: F401
