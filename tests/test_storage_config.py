"""The documented STORAGES examples pass ``manage.py check``; a missing backend package is a
check error that says what to install."""

from __future__ import annotations

import importlib.util
import os
import pickle
import sys
import tempfile

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_filepond_server.checks import check_settings
from django_filepond_server.temporary import get_temporary_area

# The same configurations as docs/storage.rst shows.
EXAMPLES = {
    "s3": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "uploads",
            "region_name": "eu-west-1",
            "file_overwrite": False,
            "max_memory_size": 16 * 1024 * 1024,
        },
    },
    "s3-compatible": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "uploads",
            "endpoint_url": "https://minio.internal.example:9000",
            "access_key": "filepond",
            "secret_key": "change-me",
            "addressing_style": "path",
        },
    },
    "sftp": {
        "BACKEND": "storages.backends.sftpstorage.SFTPStorage",
        "OPTIONS": {
            "host": "files.internal.example",
            "root_path": "/srv/uploads",
            "params": {"username": "filepond", "key_filename": "/etc/filepond/id_ed25519"},
        },
    },
    "gcs": {
        "BACKEND": "storages.backends.gcloud.GoogleCloudStorage",
        "OPTIONS": {"bucket_name": "uploads"},
    },
    "azure": {
        "BACKEND": "storages.backends.azure_storage.AzureStorage",
        "OPTIONS": {"account_name": "uploads", "azure_container": "filepond"},
    },
}
NEEDS = {
    "s3": ("boto3", "[s3]"),
    "s3-compatible": ("boto3", "[s3]"),
    "sftp": ("paramiko", "[sftp]"),
    "gcs": ("google.cloud.storage", "[gcs]"),
    "azure": ("azure.storage.blob", "[azure]"),
}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def use(settings, alias: str) -> None:
    settings.STORAGES = {**settings.STORAGES, alias: EXAMPLES[alias]}
    settings.FILEPOND_SERVER_STORAGE = alias


@pytest.mark.parametrize("alias", sorted(EXAMPLES))
def test_each_documented_backend_is_checked(settings, alias):
    use(settings, alias)
    module, extra = NEEDS[alias]
    if installed(module):
        call_command("check")
        assert check_settings() == []
    else:
        (message,) = check_settings()
        assert message.id == "django_filepond_server.E017"
        assert extra in message.hint
        with pytest.raises(SystemCheckError, match="E017"):
            call_command("check")


@pytest.mark.parametrize(("alias", "hidden"), [("s3", "boto3"), ("sftp", "paramiko")])
def test_a_missing_dependency_is_reported_with_the_extra_to_install(
    settings, monkeypatch, alias, hidden
):
    backend_module = EXAMPLES[alias]["BACKEND"].rpartition(".")[0]
    monkeypatch.setitem(sys.modules, hidden, None)  # import now fails as if not installed
    monkeypatch.delitem(sys.modules, backend_module, raising=False)
    use(settings, alias)
    (message,) = check_settings()
    assert message.id == "django_filepond_server.E017"
    assert message.msg.startswith(f"The STORAGES alias {alias!r} uses ")
    assert message.hint == (f"pip install 'django-filepond-server{NEEDS[alias][1]}' ({hidden})")


def test_a_missing_alias_is_reported(settings):
    settings.FILEPOND_SERVER_STORAGE = "s3"
    (message,) = check_settings()
    assert message.id == "django_filepond_server.E002"


@pytest.mark.django_db
def test_without_a_temp_dir_uploads_wait_in_the_system_temp_directory(settings, process):
    settings.FILEPOND_SERVER_TEMP_DIR = None
    directory = os.path.join(tempfile.gettempdir(), "django_filepond_server")
    upload_id = process(b"in /tmp")
    try:
        path = get_temporary_area().local_path(upload_id)
        assert os.path.dirname(path) == directory and os.path.isfile(path)
    finally:
        get_temporary_area().delete(upload_id)


def test_the_file_fields_storage_pickles_as_the_proxy_not_the_backend():
    # Pickling the backend would carry its configuration (credentials) along.
    from django_filepond_server.storage import stored_upload_storage

    assert pickle.loads(pickle.dumps(stored_upload_storage())) is stored_upload_storage()
