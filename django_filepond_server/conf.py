"""Settings of django-filepond-server, read from ``django.conf.settings`` at call time.

Nothing is cached, so ``override_settings`` works everywhere. Each property names one
``FILEPOND_SERVER_*`` setting; ``checks.py`` validates their types.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from django.conf import settings

#: Keys of :attr:`Settings.PERMISSION_CLASSES`: ``<HTTP method>_<endpoint>``.
ENDPOINT_KEYS = (
    "POST_PROCESS",
    "PATCH_PATCH",
    "HEAD_PATCH",
    "DELETE_REVERT",
    "GET_RESTORE",
    "GET_LOAD",
    "GET_FETCH",
)

MiB = 1024 * 1024

DEFAULTS: dict[str, Any] = {
    "FILEPOND_SERVER_TEMP_DIR": None,
    "FILEPOND_SERVER_STORAGE": "default",
    "FILEPOND_SERVER_MAX_UPLOAD_SIZE": 2 * 1024 * MiB,
    "FILEPOND_SERVER_MAX_CHUNK_SIZE": 16 * MiB,
    "FILEPOND_SERVER_MAX_METADATA_SIZE": 16 * 1024,
    "FILEPOND_SERVER_FIELD_NAME": "filepond",
    "FILEPOND_SERVER_PERMISSION_CLASSES": {},
}


def _get(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])


class Settings:
    @property
    def TEMP_DIR(self) -> str:
        """Directory of the temporary upload area (one file per upload)."""
        value = _get("FILEPOND_SERVER_TEMP_DIR")
        if value is None:
            return os.path.join(tempfile.gettempdir(), "django_filepond_server")
        return os.fspath(value)

    @property
    def STORAGE(self) -> str:
        """The ``STORAGES`` alias of the permanent store."""
        return _get("FILEPOND_SERVER_STORAGE")  # type: ignore[no-any-return]

    @property
    def MAX_UPLOAD_SIZE(self) -> int:
        """Largest file accepted, in bytes."""
        return _get("FILEPOND_SERVER_MAX_UPLOAD_SIZE")  # type: ignore[no-any-return]

    @property
    def MAX_CHUNK_SIZE(self) -> int:
        """Largest PATCH body accepted, in bytes."""
        return _get("FILEPOND_SERVER_MAX_CHUNK_SIZE")  # type: ignore[no-any-return]

    @property
    def MAX_METADATA_SIZE(self) -> int:
        """Largest metadata JSON kept with an upload, in bytes of UTF-8."""
        return _get("FILEPOND_SERVER_MAX_METADATA_SIZE")  # type: ignore[no-any-return]

    @property
    def FIELD_NAME(self) -> str:
        """Form field FilePond sends the metadata under when starting a chunked transfer."""
        return _get("FILEPOND_SERVER_FIELD_NAME")  # type: ignore[no-any-return]

    @property
    def PERMISSION_CLASSES(self) -> dict[str, Any]:
        """Per-endpoint DRF permission classes (dotted paths or classes)."""
        return _get("FILEPOND_SERVER_PERMISSION_CLASSES")  # type: ignore[no-any-return]


conf = Settings()
