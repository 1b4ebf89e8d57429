"""Settings of the test suite. ``FILEPOND_TEST_DB=postgresql`` runs it on PostgreSQL."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "tests.urls"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.messages",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_filepond_server",
    "tests.formsapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

_run_dir = tempfile.mkdtemp(prefix="filepond-tests-")

DATABASES: dict[str, dict[str, Any]]
if os.environ.get("FILEPOND_TEST_DB", "sqlite") == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PGDATABASE", "filepond_server"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
        }
    }
else:
    # A file, not :memory:, so live-server threads see real SQLite locking.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(_run_dir, "db.sqlite3"),
            "TEST": {"NAME": os.path.join(_run_dir, "test.sqlite3")},
            "OPTIONS": {"timeout": 20},
        }
    }

MEDIA_ROOT = os.path.join(_run_dir, "media")
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
# FilePond and its validation plugins from the demo's npm install (demo/package-lock.json).
NODE_MODULES = Path(__file__).resolve().parent.parent / "demo" / "node_modules"
STATICFILES_DIRS = [
    (name, NODE_MODULES / name)
    for name in (
        "filepond",
        "filepond-plugin-file-validate-type",
        "filepond-plugin-file-validate-size",
        "tus-js-client",
    )
]
FILEPOND_SERVER_WIDGET_JS = [
    "filepond/dist/filepond.min.js",
    "filepond-plugin-file-validate-type/dist/filepond-plugin-file-validate-type.min.js",
    "filepond-plugin-file-validate-size/dist/filepond-plugin-file-validate-size.min.js",
]
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "memory": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
}

FILEPOND_SERVER_TEMP_DIR = os.path.join(_run_dir, "tmp")

REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# Separate request and response components: an upload field writes an id and reads a file.
SPECTACULAR_SETTINGS = {"COMPONENT_SPLIT_REQUEST": True}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
