"""Settings of the gunicorn server that the randomized run (``tests/test_fuzz.py``) attacks.

Everything the server may write is under ``FILEPOND_FUZZ_DIR`` (made by the test); the
database is the test's own (``FILEPOND_FUZZ_DATABASE``, a JSON object). Small limits make the
run reach them, upload rules and a validator refuse some files, fetch may reach the run's own
file server only, Django logs to a file, and every file a worker opens for writing is recorded
(:mod:`tests.fuzz.audit`).
"""

from __future__ import annotations

import json
import os

from tests.fuzz import audit

FUZZ_DIR = os.environ["FILEPOND_FUZZ_DIR"]
audit.install(os.path.join(FUZZ_DIR, "audit"))

SECRET_KEY = "fuzz-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
ROOT_URLCONF = "tests.fuzz.urls"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
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
# Persistent connections, as a production server has them; on SQLite, the journal settings
# docs/performance.rst recommends for production too.
DATABASES = {
    "default": {
        **json.loads(os.environ["FILEPOND_FUZZ_DATABASE"]),
        "CONN_MAX_AGE": 600,
        "CONN_HEALTH_CHECKS": True,
    }
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        **DATABASES["default"].get("OPTIONS", {}),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The "user" visitors send HTTP Basic credentials on every request: a fast hash.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {"DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]}

MEDIA_ROOT = os.path.join(FUZZ_DIR, "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
FILEPOND_SERVER_TEMP_DIR = os.path.join(FUZZ_DIR, "tmp")
# Spooled chunk bodies of the object-storage area, when they outgrow memory.
FILE_UPLOAD_TEMP_DIR = os.path.join(FUZZ_DIR, "spool")
# Object storages for the temporary area ("fuzz-tmp") and the permanent store ("fuzz-store").
STORAGES.update(json.loads(os.environ.get("FILEPOND_FUZZ_STORAGES") or "{}"))
if "fuzz-tmp" in STORAGES:
    FILEPOND_SERVER_TEMP_STORAGE = "fuzz-tmp"
FILEPOND_SERVER_STORAGE = "fuzz-store" if "fuzz-store" in STORAGES else "default"

KiB = 1024
FILEPOND_SERVER_MAX_UPLOAD_SIZE = 192 * KiB
FILEPOND_SERVER_MAX_CHUNK_SIZE = 48 * KiB
FILEPOND_SERVER_MAX_METADATA_SIZE = 2 * KiB
FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER = 16
FILEPOND_SERVER_MAX_BYTES_PER_OWNER = 512 * KiB
FILEPOND_SERVER_UPLOAD_RULES = {
    "images": {"types": ["image/png"], "extensions": [".png"], "match_extension": True},
    "notes": {"max_size": 2 * KiB, "extensions": [".txt", ".md"]},
}
FILEPOND_SERVER_VALIDATORS = ["tests.fuzz.urls.refuse_marked"]
FILEPOND_SERVER_FETCH_ENABLED = True
FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = [os.environ["FILEPOND_FUZZ_FETCH_HOST"]]
FILEPOND_SERVER_FETCH_DEADLINE = 10.0

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {
        "file": {
            "class": "logging.FileHandler",
            "filename": os.path.join(FUZZ_DIR, "django.log"),
            "formatter": "plain",
            "level": "WARNING",
        }
    },
    "root": {"handlers": ["file"], "level": "WARNING"},
    # Every refused request is a "Bad Request" warning there; what matters is above that.
    "loggers": {"django.request": {"handlers": ["file"], "level": "ERROR", "propagate": False}},
}
