"""System checks of the FILEPOND_SERVER_* settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from rest_framework.permissions import AllowAny

from django_filepond_server.api import store_upload
from django_filepond_server.checks import check_settings


def ids() -> list[str]:
    return [message.id for message in check_settings()]


def test_the_test_settings_pass():
    assert ids() == []


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("FILEPOND_SERVER_TEMP_DIR", 42, ["django_filepond_server.E001"]),
        ("FILEPOND_SERVER_STORAGE", "nope", ["django_filepond_server.E002"]),
        ("FILEPOND_SERVER_MAX_UPLOAD_SIZE", 0, ["django_filepond_server.E003"]),
        ("FILEPOND_SERVER_MAX_UPLOAD_SIZE", "10MB", ["django_filepond_server.E003"]),
        ("FILEPOND_SERVER_MAX_CHUNK_SIZE", -1, ["django_filepond_server.E003"]),
        ("FILEPOND_SERVER_MAX_METADATA_SIZE", True, ["django_filepond_server.E003"]),
        ("FILEPOND_SERVER_FIELD_NAME", "", ["django_filepond_server.E004"]),
        ("FILEPOND_SERVER_PERMISSION_CLASSES", ["AllowAny"], ["django_filepond_server.E005"]),
        (
            "FILEPOND_SERVER_PERMISSION_CLASSES",
            {"POST_UPLOAD": []},
            ["django_filepond_server.E006"],
        ),
        (
            "FILEPOND_SERVER_PERMISSION_CLASSES",
            {"GET_LOAD": ["no.such.Permission"]},
            ["django_filepond_server.E007"],
        ),
        (
            "FILEPOND_SERVER_PERMISSION_CLASSES",
            {"GET_LOAD": 12},
            ["django_filepond_server.E007"],
        ),
        (
            "FILEPOND_SERVER_PERMISSION_CLASSES",
            {"GET_LOAD": [12]},
            ["django_filepond_server.E007"],
        ),
    ],
)
def test_a_bad_value_is_reported_with_its_id(settings, name, value, expected):
    setattr(settings, name, value)
    assert ids() == expected


def test_storage_alias_message_names_the_aliases(settings):
    settings.FILEPOND_SERVER_STORAGE = "s3"
    (message,) = check_settings()
    assert message.msg == (
        "FILEPOND_SERVER_STORAGE should name an alias of the STORAGES setting; 's3' is not one."
    )
    assert message.hint == (
        "Add 's3' to STORAGES, or set FILEPOND_SERVER_STORAGE to one of: default, "
        "staticfiles, memory."
    )


def test_valid_permission_values_pass(settings):
    settings.FILEPOND_SERVER_PERMISSION_CLASSES = {
        "POST_PROCESS": ["rest_framework.permissions.IsAuthenticated"],
        "GET_LOAD": "rest_framework.permissions.AllowAny",
        "GET_FETCH": [],
        "GET_RESTORE": [AllowAny],
    }
    assert ids() == []


def test_temp_dir_inside_media_root_is_a_warning(settings):
    settings.FILEPOND_SERVER_TEMP_DIR = os.path.join(settings.MEDIA_ROOT, "tmp")
    assert ids() == ["django_filepond_server.W001"]


def test_an_empty_media_root_with_a_filesystem_store_is_a_warning(settings):
    settings.MEDIA_ROOT = ""  # what a fresh startproject has
    (message,) = check_settings()
    assert message.id == "django_filepond_server.W004"
    assert message.msg == (
        "MEDIA_ROOT is empty and the STORAGES alias 'default' is a FileSystemStorage without a "
        "location of its own, so store_upload() writes into the current working directory of "
        "the process."
    )
    assert message.hint == (
        "Set MEDIA_ROOT, or give STORAGES['default'] a 'location' in its OPTIONS."
    )


@pytest.mark.django_db
def test_what_w004_warns_of_happens(settings, process, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = ""
    monkeypatch.chdir(tmp_path)
    stored = store_upload(process(b"here"), "w/")
    assert (tmp_path / "w" / "hello.txt").read_bytes() == b"here"
    assert stored.file.name == "w/hello.txt"


@pytest.mark.parametrize(
    "store",
    [
        {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": "/srv/uploads"},
        },
        {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    ],
)
def test_an_empty_media_root_is_fine_for_a_store_with_its_own_place(settings, store):
    settings.MEDIA_ROOT = ""
    settings.STORAGES = {**settings.STORAGES, "uploads": store}
    settings.FILEPOND_SERVER_STORAGE = "uploads"
    assert ids() == []


def test_w004_leaves_a_backend_that_cannot_be_imported_to_e017(settings):
    settings.MEDIA_ROOT = ""
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "no.such.Storage"}}
    assert ids() == ["django_filepond_server.E017"]


def test_w004_only_looks_at_the_permanent_store(settings):
    settings.MEDIA_ROOT = ""
    settings.FILEPOND_SERVER_STORAGE = "memory"  # "default" is still a FileSystemStorage
    assert ids() == []


def test_drf_missing_is_an_error(settings):
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != "rest_framework"]
    assert "django_filepond_server.E008" in ids()


def test_manage_py_check_fails_on_a_bad_value(settings):
    settings.FILEPOND_SERVER_MAX_CHUNK_SIZE = "big"
    with pytest.raises(SystemCheckError, match=r"django_filepond_server\.E003"):
        call_command("check")


def test_a_missing_storage_alias_does_not_break_imports(tmp_path):
    """A wrong alias is a check error, not a crash while the models load."""
    settings_file = tmp_path / "bad_settings.py"
    settings_file.write_text("from tests.settings import *\nFILEPOND_SERVER_STORAGE = 'missing'\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parent.parent)]),
    }
    result = subprocess.run(
        [sys.executable, "-m", "django", "check", "--settings", "bad_settings"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    assert "django_filepond_server.E002" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("FILEPOND_SERVER_FETCH_ENABLED", "yes", ["django_filepond_server.E009"]),
        ("FILEPOND_SERVER_FETCH_ALLOWED_HOSTS", "127.0.0.1", ["django_filepond_server.E010"]),
        ("FILEPOND_SERVER_FETCH_DENIED_HOSTS", [""], ["django_filepond_server.E010"]),
        ("FILEPOND_SERVER_FETCH_DENIED_HOSTS", [42], ["django_filepond_server.E010"]),
        ("FILEPOND_SERVER_FETCH_CONNECT_TIMEOUT", 0, ["django_filepond_server.E011"]),
        ("FILEPOND_SERVER_FETCH_READ_TIMEOUT", "5", ["django_filepond_server.E011"]),
        ("FILEPOND_SERVER_FETCH_DEADLINE", -1, ["django_filepond_server.E011"]),
        ("FILEPOND_SERVER_FETCH_MAX_REDIRECTS", -1, ["django_filepond_server.E012"]),
        ("FILEPOND_SERVER_FETCH_MAX_SIZE", 0, ["django_filepond_server.E003"]),
        ("FILEPOND_SERVER_FETCH_ALLOWED_HOSTS", ["0.0.0.0/0"], ["django_filepond_server.W002"]),
        ("FILEPOND_SERVER_FETCH_ALLOWED_HOSTS", ["::/0"], ["django_filepond_server.W002"]),
    ],
)
def test_bad_fetch_settings(settings, name, value, expected):
    setattr(settings, name, value)
    assert ids() == expected


def test_good_fetch_settings_pass(settings):
    settings.FILEPOND_SERVER_FETCH_ENABLED = True
    settings.FILEPOND_SERVER_FETCH_ALLOWED_HOSTS = [
        "intranet.example",
        ".corp.example",
        "10.0.0.0/8",
    ]
    settings.FILEPOND_SERVER_FETCH_DENIED_HOSTS = ("203.0.113.7",)
    settings.FILEPOND_SERVER_FETCH_DEADLINE = 12.5
    settings.FILEPOND_SERVER_FETCH_MAX_SIZE = 10_000
    assert ids() == []


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("FILEPOND_SERVER_CHECK_OWNER", 1, ["django_filepond_server.E013"]),
        ("FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER", 0, ["django_filepond_server.E020"]),
        ("FILEPOND_SERVER_LOAD_URL_EXPIRY", 1.5, ["django_filepond_server.E019"]),
        ("FILEPOND_SERVER_LOAD_REDIRECT", "yes", ["django_filepond_server.E018"]),
        ("FILEPOND_SERVER_CLAMD_ADDRESS", "localhost:3310", ["django_filepond_server.E022"]),
        ("FILEPOND_SERVER_CLAMD_ADDRESS", "tcp://127.0.0.1", ["django_filepond_server.E022"]),
        ("FILEPOND_SERVER_CLAMD_ADDRESS", "tcp://127.0.0.1:99999", ["django_filepond_server.E022"]),
        ("FILEPOND_SERVER_CLAMD_TIMEOUT", 0, ["django_filepond_server.E011"]),
        ("FILEPOND_SERVER_MAX_BYTES_PER_OWNER", "1GB", ["django_filepond_server.E003"]),
        ("FILEPOND_SERVER_UPLOAD_RULES", [], ["django_filepond_server.E014"]),
        ("FILEPOND_SERVER_UPLOAD_RULES", {"avatar": 5}, ["django_filepond_server.E014"]),
        ("FILEPOND_SERVER_UPLOAD_RULES", {"a": {"size": 5}}, ["django_filepond_server.E014"]),
        ("FILEPOND_SERVER_UPLOAD_RULES", {"a": {"max_size": -5}}, ["django_filepond_server.E014"]),
        (
            "FILEPOND_SERVER_UPLOAD_RULES",
            {"a": {"types": "image/*"}},
            ["django_filepond_server.E014"],
        ),
        ("FILEPOND_SERVER_VALIDATORS", "x.y", ["django_filepond_server.E015"]),
        ("FILEPOND_SERVER_VALIDATORS", ["no.such.validator"], ["django_filepond_server.E015"]),
        ("FILEPOND_SERVER_TEMPORARY_LIFETIME", 0, ["django_filepond_server.E016"]),
        ("FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT", "1h", ["django_filepond_server.E016"]),
        ("FILEPOND_SERVER_THROTTLE_CLASSES", {"POST_X": []}, ["django_filepond_server.E006"]),
        (
            "FILEPOND_SERVER_AUTHENTICATION_CLASSES",
            {"GET_LOAD": ["no.Such"]},
            ["django_filepond_server.E007"],
        ),
    ],
)
def test_bad_lifecycle_settings(settings, name, value, expected):
    setattr(settings, name, value)
    assert ids() == expected


def test_upload_rules_message_says_what_is_wrong(settings):
    settings.FILEPOND_SERVER_UPLOAD_RULES = {"avatar": {"max_size": 10, "typos": []}}
    (message,) = check_settings()
    assert message.msg.endswith("'avatar' has unknown keys ['typos'].")


def test_owner_check_without_sessions_is_a_warning(settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "sessions" not in m]
    assert "django_filepond_server.W003" in ids()
    settings.FILEPOND_SERVER_CHECK_OWNER = False
    assert "django_filepond_server.W003" not in ids()


def test_good_lifecycle_settings_pass(settings):
    from datetime import timedelta

    settings.FILEPOND_SERVER_UPLOAD_RULES = {
        "default": {"max_size": 10_000_000},
        "avatar": {"types": ["image/*"], "extensions": [".png"], "match_extension": True},
    }
    settings.FILEPOND_SERVER_VALIDATORS = ["django_filepond_server.clamav.scan", print]
    settings.FILEPOND_SERVER_TEMPORARY_LIFETIME = timedelta(hours=2)
    settings.FILEPOND_SERVER_THROTTLE_CLASSES = {
        "POST_PROCESS": ["rest_framework.throttling.AnonRateThrottle"]
    }
    assert ids() == []


def test_a_missing_libmagic_is_an_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "magic", None)
    (message,) = check_settings()
    assert message.id == "django_filepond_server.E021"
    assert "libmagic1" in message.hint


@pytest.mark.parametrize("address", ["unix:///run/clamav/clamd.ctl", "tcp://[::1]:3310"])
def test_good_clamd_addresses_pass(settings, address):
    settings.FILEPOND_SERVER_CLAMD_ADDRESS = address
    assert ids() == []


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("FILEPOND_SERVER_WIDGET_JS", "filepond.js", ["django_filepond_server.E023"]),
        ("FILEPOND_SERVER_WIDGET_JS", [""], ["django_filepond_server.E023"]),
        ("FILEPOND_SERVER_WIDGET_JS", [{"integrity": "sha384-x"}], ["django_filepond_server.E023"]),
        (
            "FILEPOND_SERVER_WIDGET_JS",
            [{"src": "a.js", "defer": 1}],
            ["django_filepond_server.E023"],
        ),
        ("FILEPOND_SERVER_WIDGET_CSS", None, ["django_filepond_server.E024"]),
        ("FILEPOND_SERVER_WIDGET_CSS", [{"src": "a.css"}], ["django_filepond_server.E024"]),
        ("FILEPOND_SERVER_WIDGET_LOCALE_URL", "filepond/locale", ["django_filepond_server.E025"]),
        ("FILEPOND_SERVER_WIDGET_LOCALE_URL", 3, ["django_filepond_server.E025"]),
        ("FILEPOND_SERVER_WIDGET_CHUNK_SIZE", 0, ["django_filepond_server.E026"]),
        ("FILEPOND_SERVER_WIDGET_CHUNK_SIZE", "1MB", ["django_filepond_server.E026"]),
        ("FILEPOND_SERVER_WIDGET_CHUNK_SIZE", 17 * 1024 * 1024, ["django_filepond_server.E026"]),
        ("FILEPOND_SERVER_TUS_CLIENT_JS", "tus.min.js", ["django_filepond_server.E029"]),
        ("FILEPOND_SERVER_TUS_CLIENT_JS", [{"href": "t.js"}], ["django_filepond_server.E029"]),
        ("FILEPOND_SERVER_TUS_CORS_ORIGINS", "https://a.example", ["django_filepond_server.E030"]),
        (
            "FILEPOND_SERVER_TUS_CORS_ORIGINS",
            ["https://a.example/", "a.example", None],
            ["django_filepond_server.E030"] * 3,
        ),
    ],
)
def test_bad_widget_settings(settings, name, value, expected):
    setattr(settings, name, value)
    assert ids() == expected


def test_good_widget_settings_pass(settings):
    settings.FILEPOND_SERVER_WIDGET_JS = [
        {
            "src": "https://cdn.jsdelivr.net/npm/filepond@4.32.12/dist/filepond.min.js",
            "integrity": "sha384-x",
            "crossorigin": "anonymous",
            "defer": True,
        },
        "/static/plugin.js",
    ]
    settings.FILEPOND_SERVER_WIDGET_CSS = [{"href": "https://cdn.example/filepond.css"}]
    settings.FILEPOND_SERVER_WIDGET_LOCALE_URL = None
    settings.FILEPOND_SERVER_WIDGET_CHUNK_SIZE = 16 * 1024 * 1024
    settings.FILEPOND_SERVER_TUS_CLIENT_JS = [
        {
            "src": "https://cdn.jsdelivr.net/npm/tus-js-client@4.3.1/dist/tus.min.js",
            "integrity": "sha384-x",
            "crossorigin": "anonymous",
        }
    ]
    settings.FILEPOND_SERVER_TUS_CORS_ORIGINS = ["https://app.example.com", "http://[::1]:8000"]
    assert ids() == []


def test_chunk_size_message_names_the_limit(settings):
    settings.FILEPOND_SERVER_MAX_CHUNK_SIZE = 1_000_000
    settings.FILEPOND_SERVER_WIDGET_CHUNK_SIZE = 2_000_000
    (message,) = check_settings()
    assert message.msg == (
        "FILEPOND_SERVER_WIDGET_CHUNK_SIZE should be None or a positive integer no larger than "
        "FILEPOND_SERVER_MAX_CHUNK_SIZE (1000000); found 2000000."
    )


# --- the temporary area on a storage ------------------------------------------------------------


S3 = "storages.backends.s3.S3Storage"


def s3(bucket: str = "uploads", location: str = "", **options) -> dict:
    return {"BACKEND": S3, "OPTIONS": {"bucket_name": bucket, "location": location, **options}}


def with_storages(settings, **aliases) -> None:
    settings.STORAGES = {**settings.STORAGES, **aliases}


def test_temp_storage_must_be_an_alias(settings):
    settings.FILEPOND_SERVER_TEMP_STORAGE = "missing"
    (message,) = check_settings()
    assert message.id == "django_filepond_server.E027"
    assert "'missing' is not one" in message.msg
    assert "default, staticfiles, memory" in message.hint


def test_temp_storage_of_its_own_passes_with_a_database_warning_on_sqlite(settings):
    with_storages(settings, tmp=s3(location="filepond-tmp"), store=s3(location="media"))
    settings.FILEPOND_SERVER_TEMP_STORAGE = "tmp"
    settings.FILEPOND_SERVER_STORAGE = "store"
    sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    assert ids() == (["django_filepond_server.W005"] if sqlite else [])


@pytest.mark.parametrize(
    ("temp", "store"),
    [
        (s3(location="media"), s3(location="media")),
        (s3(location="media/tmp"), s3(location="media")),
        (s3(location="tmp"), s3(location="")),
    ],
)
def test_temp_storage_sharing_a_place_with_the_store_is_an_error(settings, temp, store):
    with_storages(settings, tmp=temp, store=store)
    settings.FILEPOND_SERVER_TEMP_STORAGE = "tmp"
    settings.FILEPOND_SERVER_STORAGE = "store"
    assert "django_filepond_server.E028" in ids()


def test_temp_storage_in_another_bucket_or_directory_is_fine(settings, tmp_path):
    fs = "django.core.files.storage.FileSystemStorage"
    with_storages(
        settings,
        tmp=s3(bucket="scratch"),
        store=s3(bucket="uploads"),
        tmpdir={"BACKEND": fs, "OPTIONS": {"location": str(tmp_path / "a")}},
        storedir={"BACKEND": fs, "OPTIONS": {"location": str(tmp_path / "b")}},
        nested={"BACKEND": fs, "OPTIONS": {"location": str(tmp_path / "b" / "tmp")}},
    )
    sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    on_sqlite = ["django_filepond_server.W005"] if sqlite else []
    for temp, store, expected in [
        ("tmp", "store", []),
        ("tmpdir", "storedir", []),
        ("nested", "storedir", ["django_filepond_server.E028"]),
        ("tmp", "tmp", ["django_filepond_server.E028"]),
    ]:
        settings.FILEPOND_SERVER_TEMP_STORAGE = temp
        settings.FILEPOND_SERVER_STORAGE = store
        assert ids() == expected + on_sqlite, (temp, store)


def test_temp_storage_backend_that_cannot_be_imported(settings):
    with_storages(settings, tmp={"BACKEND": "storages.backends.nosuch.Storage"})
    settings.FILEPOND_SERVER_TEMP_STORAGE = "tmp"
    assert ids() == ["django_filepond_server.E017"]


@pytest.mark.django_db
def test_local_uploads_held_by_several_servers_is_a_database_warning(settings):
    from django_filepond_server.checks import check_uploads_held
    from django_filepond_server.models import TemporaryUpload

    def upload(upload_id: str, node: str) -> None:
        TemporaryUpload.objects.create(
            upload_id=upload_id, file_name="a", node=node, complete=True, received=1
        )

    upload("A" * 22, "app-1:/srv/tmp")
    upload("B" * 22, "app-1:/srv/tmp")
    assert check_uploads_held(databases=["default"]) == []
    upload("C" * 22, "app-2:/srv/tmp")
    assert check_uploads_held() == []  # a plain `check` looks at no database
    (message,) = check_uploads_held(databases=["default"])
    assert message.id == "django_filepond_server.W006"
    assert "held by 2 app servers (app-1:/srv/tmp, app-2:/srv/tmp)" in message.msg
    settings.FILEPOND_SERVER_TEMP_STORAGE = "memory"
    assert check_uploads_held(databases=["default"]) == []


def test_validation_timeout_must_be_positive(settings):
    settings.FILEPOND_SERVER_VALIDATION_TIMEOUT = 0
    assert ids() == ["django_filepond_server.E016"]


# --- direct uploads -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("FILEPOND_SERVER_DIRECT_TARGET", "bucket", ["django_filepond_server.E031"]),
        ("FILEPOND_SERVER_DIRECT_TARGET", None, ["django_filepond_server.E031"]),
        ("FILEPOND_SERVER_DIRECT_PART_SIZE", 5 * 1024 * 1024 - 1, ["django_filepond_server.E033"]),
        ("FILEPOND_SERVER_DIRECT_PART_SIZE", 5 * 1024**3 + 1, ["django_filepond_server.E033"]),
        ("FILEPOND_SERVER_DIRECT_PART_SIZE", "8MB", ["django_filepond_server.E033"]),
        ("FILEPOND_SERVER_DIRECT_PART_SIZE", True, ["django_filepond_server.E033"]),
        ("FILEPOND_SERVER_DIRECT_URL_EXPIRY", 0, ["django_filepond_server.E019"]),
        ("FILEPOND_SERVER_DIRECT_URL_EXPIRY", 1.5, ["django_filepond_server.E019"]),
        (
            "FILEPOND_SERVER_DIRECT_URL_EXPIRY",
            7 * 24 * 3600 + 1,
            ["django_filepond_server.E034", "django_filepond_server.W007"],
        ),
        ("FILEPOND_SERVER_DIRECT_URL_EXPIRY", 3601, ["django_filepond_server.W007"]),
    ],
)
def test_bad_direct_settings(settings, name, value, expected):
    setattr(settings, name, value)
    assert ids() == expected


def test_good_direct_settings_pass(settings):
    settings.FILEPOND_SERVER_DIRECT_TARGET = "app"
    settings.FILEPOND_SERVER_DIRECT_PART_SIZE = 5 * 1024**3
    settings.FILEPOND_SERVER_DIRECT_URL_EXPIRY = 3600
    assert ids() == []
    settings.FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT = 30
    settings.FILEPOND_SERVER_DIRECT_URL_EXPIRY = 20
    assert ids() == []


def test_the_s3_target_needs_the_temporary_storage_on_s3(settings, tmp_path):
    settings.FILEPOND_SERVER_DIRECT_TARGET = "s3"
    (message,) = check_settings()
    assert message.id == "django_filepond_server.E032"
    assert message.msg == (
        "FILEPOND_SERVER_DIRECT_TARGET is 's3', but FILEPOND_SERVER_TEMP_STORAGE is not set, "
        "so direct uploads have no bucket to go to."
    )
    with_storages(
        settings,
        tmp=s3(location="filepond-tmp"),
        tmpdir={
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "scratch")},
        },
    )
    settings.FILEPOND_SERVER_TEMP_STORAGE = "tmpdir"
    sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    on_sqlite = ["django_filepond_server.W005"] if sqlite else []
    assert ids() == [*on_sqlite, "django_filepond_server.E032"]
    (message,) = [m for m in check_settings() if m.id.endswith("E032")]
    assert "('tmpdir') is not a django-storages S3Storage" in message.msg
    settings.FILEPOND_SERVER_TEMP_STORAGE = "tmp"
    assert ids() == on_sqlite
