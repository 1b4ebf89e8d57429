"""Django settings of the incumbent's project in ``compare.py``: django-drf-filepond 0.5.2.

The same shape as ``bench_settings.py`` (the same middleware, SQLite, local files, DEBUG off),
with django-drf-filepond in place of our app, configured as its documentation says for local
storage. ``compare.py`` runs it with the Python of a virtual environment it creates for the
incumbent, with only this directory on ``PYTHONPATH``, and points ``INCUMBENT_BENCH_DIR`` at a
fresh directory, which it creates and removes.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

try:
    WORK_DIR = os.environ["INCUMBENT_BENCH_DIR"]
except KeyError:
    raise ImproperlyConfigured(
        "INCUMBENT_BENCH_DIR is not set; run the comparison with 'python benchmarks/compare.py'."
    ) from None

# django-drf-filepond refuses a temporary directory outside BASE_DIR (unless
# DJANGO_DRF_FILEPOND_ALLOW_EXTERNAL_UPLOAD_DIR): everything lives under the work directory.
BASE_DIR = WORK_DIR
SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "incumbent_urls"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "django_drf_filepond",
]

# bench_settings.py's middleware, so the request path costs the same in both projects.
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

# Where uploads wait (chunks included), and the local permanent store of store_upload, which
# must exist before the first store (compare.py creates it).
DJANGO_DRF_FILEPOND_UPLOAD_TMP = os.path.join(WORK_DIR, "filepond_uploads")
DJANGO_DRF_FILEPOND_FILE_STORE_PATH = os.path.join(WORK_DIR, "stored")

REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
