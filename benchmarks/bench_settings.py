"""Settings of the Django project ``bench.py`` serves, for this app or for the incumbent.

``FILEPOND_BENCH_TARGET`` picks the app (``app``, the default), django-drf-filepond 0.5.2
(``incumbent``) or ``floor``: a plain Django view that writes each whole-file upload to a file
and one row, with nothing else (no DRF, session, owner, limit or type check), which is as
fast as a Django project can take uploads on this database. All get the same middleware,
database and DEBUG off. Everything the server
writes goes under ``FILEPOND_BENCH_DIR``, a fresh directory per server. ``FILEPOND_BENCH_DB``
picks the database, ``FILEPOND_BENCH_SETTINGS`` adds settings of a subcommand; absent, the
app's defaults apply.
"""

from __future__ import annotations

import json
import os

from django.core.exceptions import ImproperlyConfigured

try:
    WORK_DIR = os.environ["FILEPOND_BENCH_DIR"]
except KeyError:
    raise ImproperlyConfigured("FILEPOND_BENCH_DIR is not set: run benchmarks/bench.py.") from None
TARGET = os.environ.get("FILEPOND_BENCH_TARGET", "app")
DATABASE = os.environ.get("FILEPOND_BENCH_DB", "sqlite")
_env = os.environ.get

# django-drf-filepond refuses a temporary directory outside BASE_DIR.
BASE_DIR = WORK_DIR
SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "bench_urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    *{"incumbent": ["django_drf_filepond"], "floor": []}.get(TARGET, ["django_filepond_server"]),
]
# The middleware a typical project has, the same for both apps.
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
if DATABASE.startswith("sqlite"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(WORK_DIR, "db.sqlite3"),
        }
    }
    # sqlite-wal: the journal settings docs/performance.rst recommends for SQLite;
    # sqlite-wal-persistent: those and a persistent connection, as it recommends.
    if DATABASE.startswith("sqlite-wal"):
        DATABASES["default"]["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            "transaction_mode": "IMMEDIATE",
        }
    if DATABASE == "sqlite-wal-persistent":
        DATABASES["default"]["CONN_MAX_AGE"] = 60
else:  # postgresql (CONN_MAX_AGE 0) or postgresql-persistent (60)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": _env("PGHOST", "127.0.0.1"),
            "PORT": _env("PGPORT", "5432"),
            "USER": _env("PGUSER", "postgres"),
            "NAME": _env("FILEPOND_BENCH_PG_DATABASE", "filepond_bench"),
            "CONN_MAX_AGE": 60 if DATABASE == "postgresql-persistent" else 0,
        }
    }
REST_FRAMEWORK = {"DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]}

# The incumbent's temporary directory and local permanent store.
DJANGO_DRF_FILEPOND_UPLOAD_TMP = os.path.join(WORK_DIR, "filepond_uploads")
DJANGO_DRF_FILEPOND_FILE_STORE_PATH = os.path.join(WORK_DIR, "stored")

# This app: the temporary area and the store on one filesystem, so store_upload is a
# hard-link move.
MEDIA_ROOT = os.path.join(WORK_DIR, "media")
STORAGES: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
FILEPOND_SERVER_TEMP_DIR = os.path.join(WORK_DIR, "tmp")
FILEPOND_SERVER_STORAGE = "default"

# Set by the subcommands: a JSON object of settings; its STORAGES aliases join the ones above.
for _name, _value in json.loads(_env("FILEPOND_BENCH_SETTINGS") or "{}").items():
    if _name == "STORAGES":
        STORAGES.update(_value)
    else:
        globals()[_name] = _value
if _env("FILEPOND_BENCH_S3_TRANSFER"):  # store: a boto3 TransferConfig for every S3Storage
    from boto3.s3.transfer import TransferConfig

    _config = TransferConfig()
    for _name, _value in json.loads(os.environ["FILEPOND_BENCH_S3_TRANSFER"]).items():
        setattr(_config, _name, _value)
    for _storage in STORAGES.values():
        if _storage["BACKEND"] == "storages.backends.s3.S3Storage":
            _storage.setdefault("OPTIONS", {})["transfer_config"] = _config  # type: ignore[attr-defined]
