"""Django settings of one app server of the multi-server tests (and ``bench.py scaleout``).

Everything that differs between servers and runs comes from the JSON object in the
``FILEPOND_MULTISERVER`` environment variable, which :class:`~tests.multiserver.cluster.AppServer`
writes:

``name``
    The server's name, sent back in ``X-Served-By``.
``database``
    The ``DATABASES["default"]`` entry every server shares.
``temp_dir``, ``media_root``
    Directories of this server alone.
``storages``
    Extra ``STORAGES`` aliases. An entry's ``OPTIONS`` may hold ``client`` (keyword arguments
    of botocore's ``Config``, such as timeouts, retries and ``proxies``).
``temp_storage``, ``store``
    ``FILEPOND_SERVER_TEMP_STORAGE`` (``None`` for the local directory) and
    ``FILEPOND_SERVER_STORAGE``.
``gate_dir``
    Where the test's :class:`~tests.multiserver.cluster.Gate` lives, if it uses one.
``file_offload``, ``file_offload_locations``
    ``FILEPOND_SERVER_FILE_OFFLOAD`` and ``FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS``.
``log_level``
    Level of the ``django_filepond_server`` loggers, written to the server's output.
"""

from __future__ import annotations

import json
import os
from typing import Any

_config = json.loads(os.environ["FILEPOND_MULTISERVER"])

SECRET_KEY = "multiserver-tests-only-not-secret"  # one key for all: sessions and CSRF cookies
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "tests.multiserver.urls"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "django_filepond_server",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

DATABASES = {"default": _config["database"]}

MEDIA_ROOT = _config["media_root"]
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
for _alias, _entry in _config.get("storages", {}).items():
    _options = dict(_entry.get("OPTIONS", {}))
    if "client" in _options:
        from botocore.config import Config

        _options["client_config"] = Config(**_options.pop("client"))
    STORAGES[_alias] = {**_entry, "OPTIONS": _options}

FILEPOND_SERVER_TEMP_DIR = _config["temp_dir"]
FILEPOND_SERVER_TEMP_STORAGE = _config.get("temp_storage")
FILEPOND_SERVER_STORAGE = _config.get("store", "default")
FILEPOND_SERVER_MAX_UPLOAD_SIZE = _config.get("max_upload_size", 2 * 1024**3)
FILEPOND_SERVER_FILE_OFFLOAD = _config.get("file_offload")
FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS = _config.get("file_offload_locations", {})

REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"output": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_filepond_server": {
            "handlers": ["output"],
            "level": _config.get("log_level", "WARNING"),
        },
    },
}
