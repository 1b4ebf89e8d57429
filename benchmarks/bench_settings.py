"""Django settings of the benchmark server started by ``benchmarks/core.py``.

Everything the server writes (SQLite database, temporary area, permanent store) goes under the
directory named by ``FILEPOND_BENCH_DIR``, which ``core.py`` creates and removes. The temporary
area and the store share that directory's filesystem, so ``store_upload`` is a hard-link move.
"""

from __future__ import annotations

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
