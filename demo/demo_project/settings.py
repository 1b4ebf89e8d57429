"""Settings of the demo project. Everything lives under ``demo/var/`` (git-ignored).

Only two things can be changed from the environment: ``DEMO_DEBUG=0`` turns DEBUG off (then
``runserver`` serves FilePond's files only with ``--insecure``) and ``DEMO_DB_PATH`` moves the
SQLite database (the tests point it at a temporary directory).
"""

from __future__ import annotations

import os
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = DEMO_DIR / "var"

# A fixed key is fine for a demo bound to localhost; never reuse it anywhere else.
SECRET_KEY = "demo-only-not-secret-do-not-deploy"
DEBUG = os.environ.get("DEMO_DEBUG", "1") != "0"
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filepond_server",
    "demo_project",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_project.urls"
WSGI_APPLICATION = "demo_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    },
]

DB_PATH = Path(os.environ.get("DEMO_DB_PATH") or VAR_DIR / "db.sqlite3")
# SQLite creates the file but not its directory.
DB_PATH.parent.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DB_PATH}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The permanent store (and the cover's storage) is Django's default FileSystemStorage under
# MEDIA_ROOT. No MEDIA_URL is routed: stored files are read back through /fp/load/.
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

STATIC_URL = "/static/"
# FilePond and its validation plugins come from npm (demo/package.json), never from a CDN:
# `npm ci` in demo/ fills node_modules, served here under /static/<package>/.
NODE_MODULES = DEMO_DIR / "node_modules"
STATICFILES_DIRS = [
    (name, NODE_MODULES / name)
    for name in (
        "filepond",
        "filepond-plugin-file-validate-type",
        "filepond-plugin-file-validate-size",
        "tus-js-client",
    )
]
# What the form widget's Media loads: FilePond, then the plugins that check types and sizes
# in the browser before anything is sent (the server checks them again).
FILEPOND_SERVER_WIDGET_JS = [
    "filepond/dist/filepond.min.js",
    "filepond-plugin-file-validate-type/dist/filepond-plugin-file-validate-type.min.js",
    "filepond-plugin-file-validate-size/dist/filepond-plugin-file-validate-size.min.js",
]
# Chunks under nginx's default 1 MiB body limit, should the demo ever run behind one.
FILEPOND_SERVER_WIDGET_CHUNK_SIZE = 1_000_000

# Outside MEDIA_ROOT, so unchecked uploads can never be served as media.
FILEPOND_SERVER_TEMP_DIR = VAR_DIR / "tmp"

# Dropping a link or an image from another site imports it through /fp/?fetch=; the guard
# refuses loopback, private and other internal addresses.
FILEPOND_SERVER_FETCH_ENABLED = True

# AllowAny lets anyone on the page upload, which is what a local demo wants. A real project
# keeps DRF's default or sets FILEPOND_SERVER_PERMISSION_CLASSES per endpoint.
REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
}
