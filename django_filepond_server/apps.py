from __future__ import annotations

from django.apps import AppConfig


class FilePondServerConfig(AppConfig):
    name = "django_filepond_server"
    verbose_name = "FilePond server"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_filepond_server import checks  # noqa: F401  (registers the system checks)
