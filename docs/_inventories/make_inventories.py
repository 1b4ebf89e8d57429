"""Write the intersphinx inventories the docs build reads first, so it needs no network.

Django's published inventory is tried only if this smaller one is missing; both link to the
same pages.
Django REST framework's documentation is not built with Sphinx and publishes no inventory, so
its entries are only here. Run ``python docs/_inventories/make_inventories.py`` after editing.
"""

from __future__ import annotations

import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

DJANGO = [
    (
        "django.core.exceptions.SuspiciousFileOperation",
        "py:exception",
        "ref/exceptions/#django.core.exceptions.SuspiciousFileOperation",
    ),
    (
        "django.core.exceptions.ObjectDoesNotExist",
        "py:exception",
        "ref/exceptions/#django.core.exceptions.ObjectDoesNotExist",
    ),
    (
        "django.core.exceptions.ImproperlyConfigured",
        "py:exception",
        "ref/exceptions/#django.core.exceptions.ImproperlyConfigured",
    ),
    (
        "django.core.exceptions.ValidationError",
        "py:exception",
        "ref/exceptions/#django.core.exceptions.ValidationError",
    ),
    (
        "django.core.files.storage.FileSystemStorage",
        "py:class",
        "ref/files/storage/#django.core.files.storage.FileSystemStorage",
    ),
    (
        "django.core.files.storage.InMemoryStorage",
        "py:class",
        "ref/files/storage/#django.core.files.storage.InMemoryStorage",
    ),
    (
        "django.core.files.storage.Storage",
        "py:class",
        "ref/files/storage/#django.core.files.storage.Storage",
    ),
    ("django.db.models.FileField", "py:class", "ref/models/fields/#django.db.models.FileField"),
    ("django.db.models.Model", "py:class", "ref/models/instances/#django.db.models.Model"),
    ("django.http.HttpRequest", "py:class", "ref/request-response/#django.http.HttpRequest"),
    ("django.http.FileResponse", "py:class", "ref/request-response/#django.http.FileResponse"),
    ("django.dispatch.Signal", "py:class", "topics/signals/#django.dispatch.Signal"),
    (
        "django.db.transaction.on_commit",
        "py:function",
        "topics/db/transactions/#django.db.transaction.on_commit",
    ),
    ("STORAGES", "std:setting", "ref/settings/#std-setting-STORAGES"),
    ("MEDIA_ROOT", "std:setting", "ref/settings/#std-setting-MEDIA_ROOT"),
    ("MIDDLEWARE", "std:setting", "ref/settings/#std-setting-MIDDLEWARE"),
    (
        "DATA_UPLOAD_MAX_MEMORY_SIZE",
        "std:setting",
        "ref/settings/#std-setting-DATA_UPLOAD_MAX_MEMORY_SIZE",
    ),
    ("FILE_UPLOAD_PERMISSIONS", "std:setting", "ref/settings/#std-setting-FILE_UPLOAD_PERMISSIONS"),
    (
        "FILE_UPLOAD_DIRECTORY_PERMISSIONS",
        "std:setting",
        "ref/settings/#std-setting-FILE_UPLOAD_DIRECTORY_PERMISSIONS",
    ),
    ("ATOMIC_REQUESTS", "std:setting", "ref/settings/#std-setting-DATABASE-ATOMIC_REQUESTS"),
    ("CSRF_HEADER_NAME", "std:setting", "ref/settings/#std-setting-CSRF_HEADER_NAME"),
]

DRF = [
    (
        "rest_framework.permissions.BasePermission",
        "py:class",
        "api-guide/permissions/#custom-permissions",
    ),
    ("rest_framework.permissions.AllowAny", "py:class", "api-guide/permissions/#allowany"),
    (
        "rest_framework.permissions.IsAuthenticated",
        "py:class",
        "api-guide/permissions/#isauthenticated",
    ),
    (
        "rest_framework.authentication.SessionAuthentication",
        "py:class",
        "api-guide/authentication/#sessionauthentication",
    ),
    (
        "rest_framework.authentication.BasicAuthentication",
        "py:class",
        "api-guide/authentication/#basicauthentication",
    ),
    (
        "rest_framework.throttling.AnonRateThrottle",
        "py:class",
        "api-guide/throttling/#anonratethrottle",
    ),
    ("rest_framework.views.APIView", "py:class", "api-guide/views/#class-based-views"),
    (
        "rest_framework.exceptions.APIException",
        "py:exception",
        "api-guide/exceptions/#apiexception",
    ),
]


def write(path: Path, project: str, version: str, entries: list[tuple[str, str, str]]) -> None:
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    ).encode()
    lines = "".join(f"{name} {role} 1 {uri} -\n" for name, role, uri in entries)
    path.write_bytes(header + zlib.compress(lines.encode()))


if __name__ == "__main__":
    write(HERE / "django.inv", "Django", "5.2", DJANGO)
    write(HERE / "drf.inv", "Django REST framework", "3.16", DRF)
