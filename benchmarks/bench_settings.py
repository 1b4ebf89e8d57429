"""Django settings of the benchmark server started by ``benchmarks/core.py``.

Everything the server writes (SQLite database, temporary area, permanent store) goes under the
directory named by ``FILEPOND_BENCH_DIR``, which ``core.py`` creates and removes. The temporary
area and the store share that directory's filesystem, so ``store_upload`` is a hard-link move.

``benchmarks/fetch.py`` turns the fetch endpoint on, and ``benchmarks/remote_store.py`` points
the permanent store at S3 or SFTP, through the ``FILEPOND_BENCH_*`` variables read at the end;
when they are absent (``core.py``) the app's defaults and the local store apply.
"""

from __future__ import annotations

import json
import os

from django.core.exceptions import ImproperlyConfigured

try:
    WORK_DIR = os.environ["FILEPOND_BENCH_DIR"]
except KeyError:
    raise ImproperlyConfigured(
        "FILEPOND_BENCH_DIR is not set; run the benchmark with 'python benchmarks/core.py'."
    ) from None

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "bench_urls"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "django_filepond_server",
]

# The middleware a typical project has, so the request path costs what it costs there.
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(WORK_DIR, "db.sqlite3"),
    }
}

MEDIA_ROOT = os.path.join(WORK_DIR, "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
FILEPOND_SERVER_TEMP_DIR = os.path.join(WORK_DIR, "tmp")
FILEPOND_SERVER_STORAGE = "default"

REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The fetch endpoint, for benchmarks/fetch.py. Each variable sets one setting only when present,
# so core.py, which sets none, runs against the app's defaults (fetch off).
if "FILEPOND_BENCH_FETCH_ENABLED" in os.environ:
    FILEPOND_SERVER_FETCH_ENABLED = os.environ["FILEPOND_BENCH_FETCH_ENABLED"] == "1"
if "FILEPOND_BENCH_FETCH_ALLOWED_HOSTS" in os.environ:
    # Comma-separated; the benchmark's remote server is on loopback, which fetch refuses unless
    # it is listed here.
    FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = [
        host for host in os.environ["FILEPOND_BENCH_FETCH_ALLOWED_HOSTS"].split(",") if host
    ]
if "FILEPOND_BENCH_FETCH_DEADLINE" in os.environ:
    FILEPOND_SERVER_FETCH_DEADLINE = float(os.environ["FILEPOND_BENCH_FETCH_DEADLINE"])
if "FILEPOND_BENCH_MAX_UPLOAD_SIZE" in os.environ:
    FILEPOND_SERVER_MAX_UPLOAD_SIZE = int(os.environ["FILEPOND_BENCH_MAX_UPLOAD_SIZE"])

# A remote permanent store, for benchmarks/remote_store.py. Absent for core.py and fetch.py,
# which keep the local FileSystemStorage above.
if "FILEPOND_BENCH_STORAGES_JSON" in os.environ:
    # A JSON object of STORAGES aliases, each {"BACKEND": ..., "OPTIONS": {...}}, added to the
    # ones above.
    STORAGES.update(json.loads(os.environ["FILEPOND_BENCH_STORAGES_JSON"]))
if "FILEPOND_BENCH_STORAGE_ALIAS" in os.environ:
    FILEPOND_SERVER_STORAGE = os.environ["FILEPOND_BENCH_STORAGE_ALIAS"]
if "FILEPOND_BENCH_S3_TRANSFER_JSON" in os.environ:
    # boto3's TransferConfig is no JSON value: this builds one from a JSON object of its
    # attributes (those of s3transfer's TransferConfig included, such as
    # max_in_memory_upload_chunks) and gives it to every S3Storage of STORAGES.
    from boto3.s3.transfer import TransferConfig

    _transfer_config = TransferConfig()
    for _name, _value in json.loads(os.environ["FILEPOND_BENCH_S3_TRANSFER_JSON"]).items():
        if not hasattr(_transfer_config, _name):
            raise ImproperlyConfigured(f"TransferConfig has no attribute {_name!r}")
        setattr(_transfer_config, _name, _value)
    for _config in STORAGES.values():
        if _config["BACKEND"] == "storages.backends.s3.S3Storage":
            _config.setdefault("OPTIONS", {})["transfer_config"] = _transfer_config
if "FILEPOND_BENCH_TEMP_STORAGE" in os.environ:
    # For benchmarks/direct.py: the temporary area on one of the STORAGES aliases above. One
    # app server, so SQLite's warning for shared areas does not apply.
    FILEPOND_SERVER_TEMP_STORAGE = os.environ["FILEPOND_BENCH_TEMP_STORAGE"]
    SILENCED_SYSTEM_CHECKS = ["django_filepond_server.W005"]
if "FILEPOND_BENCH_DIRECT_PART_SIZE" in os.environ:
    FILEPOND_SERVER_DIRECT_PART_SIZE = int(os.environ["FILEPOND_BENCH_DIRECT_PART_SIZE"])
