"""System checks of the ``FILEPOND_SERVER_*`` settings (ids ``django_filepond_server.E0NN``)."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage, storages
from django.utils.module_loading import import_string

from django_filepond_server.conf import DEFAULTS, ENDPOINT_KEYS
from django_filepond_server.guard import parse_host_entry
from django_filepond_server.rules import RULE_KEYS

SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"


class Ids:
    """Every check id with its message and hint, in one place. An id is never reused."""

    TEMP_DIR_TYPE = (
        "E001",
        "FILEPOND_SERVER_TEMP_DIR should be a path (str or Path) or None.",
        None,
    )
    STORAGE_ALIAS = (
        "E002",
        "FILEPOND_SERVER_STORAGE should name an alias of the STORAGES setting; {value!r} is "
        "not one.",
        "Add {value!r} to STORAGES, or set FILEPOND_SERVER_STORAGE to one of: {aliases}.",
    )
    SIZE = ("E003", "{name} should be a positive integer (bytes); found {value!r}.", None)
    FIELD_NAME = ("E004", "FILEPOND_SERVER_FIELD_NAME should be a non-empty string.", None)
    PERMISSIONS_SHAPE = (
        "E005",
        "{name} should be a dict mapping endpoint keys to lists of classes.",
        None,
    )
    PERMISSIONS_KEY = (
        "E006",
        "{name} has an unknown key {value!r}.",
        "Endpoint keys are: {keys}.",
    )
    PERMISSIONS_CLASS = (
        "E007",
        "{name}[{key!r}] should list classes or their dotted paths; {value!r} cannot be imported.",
        None,
    )
    DRF_MISSING = (
        "E008",
        "django_filepond_server needs Django REST framework in INSTALLED_APPS.",
        "Add 'rest_framework' to INSTALLED_APPS.",
    )
    FETCH_ENABLED = ("E009", "FILEPOND_SERVER_FETCH_ENABLED should be True or False.", None)
    FETCH_HOSTS = (
        "E010",
        '{name} should be a list of host names (".example.com" for subdomains too), '
        "addresses, networks or http(s) URLs; {value!r} is not one.",
        "For example 'files.example.com', '.example.com', '10.0.0.0/8', "
        "'https://images.internal:8443' (one scheme and port) or "
        "'https://cdn.example.com/public/' (the paths below it).",
    )
    SECONDS = (
        "E011",
        "{name} should be a positive number of seconds; found {value!r}.",
        None,
    )
    FETCH_REDIRECTS = (
        "E012",
        "FILEPOND_SERVER_FETCH_MAX_REDIRECTS should be a whole number of 0 or more.",
        None,
    )
    FETCH_ALLOWS_EVERYTHING = (
        "W002",
        "FILEPOND_SERVER_FETCH_ALLOWED_HOSTS contains {value!r}, which lets the fetch endpoint "
        "reach every internal address (SSRF).",
        "List only the hosts or networks that must be reachable.",
    )
    CHECK_OWNER = ("E013", "FILEPOND_SERVER_CHECK_OWNER should be True or False.", None)
    UPLOAD_RULES = (
        "E014",
        "FILEPOND_SERVER_UPLOAD_RULES should map field names to dicts with the keys "
        "max_size, types, extensions and match_extension; {problem}.",
        None,
    )
    VALIDATORS = (
        "E015",
        "FILEPOND_SERVER_VALIDATORS should list callables or their dotted paths; {value!r} "
        "cannot be imported.",
        None,
    )
    DURATION = (
        "E016",
        "{name} should be a positive number of seconds or a timedelta; found {value!r}.",
        None,
    )
    NO_SESSIONS = (
        "W003",
        "FILEPOND_SERVER_CHECK_OWNER is on but SessionMiddleware is not installed, so "
        "anonymous visitors cannot own uploads and are refused.",
        "Add django.contrib.sessions.middleware.SessionMiddleware to MIDDLEWARE, or require "
        "authentication for the upload endpoints.",
    )
    STORAGE_BACKEND = (
        "E017",
        "The STORAGES alias {alias!r} uses {backend!r}, which cannot be imported: {error}",
        "{hint}",
    )
    LOAD_REDIRECT = ("E018", "FILEPOND_SERVER_LOAD_REDIRECT should be True or False.", None)
    WHOLE_SECONDS = (
        "E019",
        "{name} should be a positive whole number of seconds; found {value!r}.",
        None,
    )
    COUNT = ("E020", "{name} should be a positive whole number; found {value!r}.", None)
    NO_LIBMAGIC = (
        "E021",
        "python-magic cannot use the libmagic library, so uploads cannot be checked by "
        "content: {error}",
        "Install libmagic: 'apt-get install libmagic1' (Debian, Ubuntu), 'brew install "
        "libmagic' (macOS).",
    )
    CLAMD_ADDRESS = (
        "E022",
        "FILEPOND_SERVER_CLAMD_ADDRESS should look like 'unix:///path/to/clamd.ctl' or "
        "'tcp://host:port'; found {value!r}.",
        None,
    )
    WIDGET_JS = (
        "E023",
        "FILEPOND_SERVER_WIDGET_JS should list script URLs or static paths, or dicts of "
        "<script> attributes with a 'src'; found {value!r}.",
        None,
    )
    WIDGET_CSS = (
        "E024",
        "FILEPOND_SERVER_WIDGET_CSS should list style sheet URLs or static paths, or dicts of "
        "<link> attributes with an 'href'; found {value!r}.",
        None,
    )
    WIDGET_LOCALE_URL = (
        "E025",
        "FILEPOND_SERVER_WIDGET_LOCALE_URL should be None or a URL or static path ending in "
        "'/'; found {value!r}.",
        None,
    )
    WIDGET_CHUNK_SIZE = (
        "E026",
        "FILEPOND_SERVER_WIDGET_CHUNK_SIZE should be None or a positive integer no larger than "
        "FILEPOND_SERVER_MAX_CHUNK_SIZE ({max!r}); found {value!r}.",
        "The server refuses larger chunks; lower the chunk size or raise the maximum.",
    )
    TEMP_STORAGE_ALIAS = (
        "E027",
        "FILEPOND_SERVER_TEMP_STORAGE should be None or name an alias of the STORAGES "
        "setting; {value!r} is not one.",
        "Add {value!r} to STORAGES, or set FILEPOND_SERVER_TEMP_STORAGE to one of: {aliases}.",
    )
    TEMP_STORAGE_OVERLAP = (
        "E028",
        "FILEPOND_SERVER_TEMP_STORAGE ({temp!r}) and FILEPOND_SERVER_STORAGE ({store!r}) "
        "share a place, so filepond_cleanup would take stored files for orphans of the "
        "temporary area.",
        "Give the temporary area a bucket or a location (prefix) of its own.",
    )
    TUS_CLIENT_JS = (
        "E029",
        "FILEPOND_SERVER_TUS_CLIENT_JS should list script URLs or static paths, or dicts of "
        "<script> attributes with a 'src'; found {value!r}.",
        None,
    )
    TUS_CORS_ORIGINS = (
        "E030",
        "FILEPOND_SERVER_TUS_CORS_ORIGINS should list origins such as "
        "'https://app.example.com' (scheme, host and optional port, nothing after); found "
        "{value!r}.",
        None,
    )
    SHARED_AREA_ON_SQLITE = (
        "W005",
        "FILEPOND_SERVER_TEMP_STORAGE shares the temporary area between app servers, but the "
        "database is SQLite, a file on one machine.",
        "App servers that share uploads also need a shared database, such as PostgreSQL.",
    )
    LOCAL_AREA_ON_SEVERAL_SERVERS = (
        "W006",
        "Live uploads in the local temporary area are held by {count} app servers "
        "({nodes}); a request that reaches another server than the one holding its upload "
        "cannot be answered.",
        "Set FILEPOND_SERVER_TEMP_STORAGE to a storage every app server shares (see the "
        "deployment documentation).",
    )
    DIRECT_TARGET = (
        "E031",
        "FILEPOND_SERVER_DIRECT_TARGET should be 'auto', 's3' or 'app'; found {value!r}.",
        None,
    )
    DIRECT_NEEDS_S3 = (
        "E032",
        "FILEPOND_SERVER_DIRECT_TARGET is 's3', but FILEPOND_SERVER_TEMP_STORAGE {problem}, so "
        "direct uploads have no bucket to go to.",
        "Point FILEPOND_SERVER_TEMP_STORAGE at a STORAGES alias whose BACKEND is "
        "storages.backends.s3.S3Storage, or set FILEPOND_SERVER_DIRECT_TARGET to 'auto' to "
        "send direct uploads to the app's own target where there is no S3.",
    )
    DIRECT_PART_SIZE = (
        "E033",
        "FILEPOND_SERVER_DIRECT_PART_SIZE should be a whole number of bytes from 5 MiB "
        "(5242880) to 5 GiB (5368709120), the part sizes S3 accepts; found {value!r}.",
        None,
    )
    DIRECT_URL_EXPIRY = (
        "E034",
        "FILEPOND_SERVER_DIRECT_URL_EXPIRY should be at most 604800 seconds (7 days), the "
        "longest S3 signs a request for; found {value!r}.",
        None,
    )
    DIRECT_URLS_OUTLIVE_UPLOADS = (
        "W007",
        "FILEPOND_SERVER_DIRECT_URL_EXPIRY ({expiry} s) is longer than "
        "FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT ({idle} s): a presigned request could still "
        "send bytes after filepond_cleanup removed the begun upload they were for.",
        "Keep the expiry shorter than the idle timeout; the client asks for fresh URLs as it goes.",
    )
    FILE_OFFLOAD = (
        "E035",
        "FILEPOND_SERVER_FILE_OFFLOAD should be None, 'x-accel-redirect' or 'x-sendfile'; "
        "found {value!r}.",
        None,
    )
    FILE_OFFLOAD_LOCATIONS = (
        "E036",
        "FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS should map absolute directories to {what}; "
        "{problem}.",
        "For example {{'/srv/uploads/tmp/': {example!r}}}.",
    )
    FILE_OFFLOAD_UNCOVERED = (
        "W008",
        "FILEPOND_SERVER_FILE_OFFLOAD is on, but no entry of "
        "FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS covers {place} ({directory}), so the app "
        "still sends its files itself.",
        "Add an entry for {directory!r} and serve it from the front server (see the "
        "deployment documentation).",
    )
    TEMP_DIR_IN_MEDIA = (
        "W001",
        "FILEPOND_SERVER_TEMP_DIR is inside MEDIA_ROOT, so unchecked temporary uploads may be "
        "served publicly.",
        "Put the temporary area outside MEDIA_ROOT.",
    )
    STORE_IN_WORKING_DIR = (
        "W004",
        "MEDIA_ROOT is empty and the STORAGES alias {alias!r} is a FileSystemStorage without "
        "a location of its own, so store_upload() writes into the current working directory "
        "of the process.",
        "Set MEDIA_ROOT, or give STORAGES[{alias!r}] a 'location' in its OPTIONS.",
    )


def _message(
    kind: type[Error] | type[Warning], entry: tuple[str, str, str | None], **values: Any
) -> CheckMessage:
    code, msg, hint = entry
    return kind(
        msg.format(**values),
        hint=hint.format(**values) if hint else None,
        id=f"django_filepond_server.{code}",
    )


def _setting(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []

    if not apps.is_installed("rest_framework"):
        errors.append(_message(Error, Ids.DRF_MISSING))

    temp_dir = _setting("FILEPOND_SERVER_TEMP_DIR")
    if temp_dir is not None and not isinstance(temp_dir, (str, os.PathLike)):
        errors.append(_message(Error, Ids.TEMP_DIR_TYPE))
    elif temp_dir is not None and settings.MEDIA_ROOT:
        media = os.path.abspath(os.fspath(settings.MEDIA_ROOT))
        temp = os.path.abspath(os.fspath(temp_dir))
        if temp == media or temp.startswith(media + os.sep):
            errors.append(_message(Warning, Ids.TEMP_DIR_IN_MEDIA))

    alias = _setting("FILEPOND_SERVER_STORAGE")
    aliases = list(getattr(settings, "STORAGES", {}) or {})
    if alias not in aliases:
        errors.append(
            _message(Error, Ids.STORAGE_ALIAS, value=alias, aliases=", ".join(aliases) or "none")
        )
    else:
        errors.extend(_check_backend(alias, settings.STORAGES[alias].get("BACKEND", "")))
        errors.extend(_check_store_location(alias, settings.STORAGES[alias]))
    errors.extend(_check_temporary_storage(alias, aliases))
    if not isinstance(_setting("FILEPOND_SERVER_LOAD_REDIRECT"), bool):
        errors.append(_message(Error, Ids.LOAD_REDIRECT))
    expiry = _setting("FILEPOND_SERVER_LOAD_URL_EXPIRY")
    if isinstance(expiry, bool) or not isinstance(expiry, int) or expiry <= 0:
        errors.append(
            _message(Error, Ids.WHOLE_SECONDS, name="FILEPOND_SERVER_LOAD_URL_EXPIRY", value=expiry)
        )
    errors.extend(_check_libmagic())

    for name in (
        "FILEPOND_SERVER_MAX_UPLOAD_SIZE",
        "FILEPOND_SERVER_MAX_CHUNK_SIZE",
        "FILEPOND_SERVER_MAX_METADATA_SIZE",
    ):
        value = _setting(name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            errors.append(_message(Error, Ids.SIZE, name=name, value=value))

    field_name = _setting("FILEPOND_SERVER_FIELD_NAME")
    if not isinstance(field_name, str) or not field_name:
        errors.append(_message(Error, Ids.FIELD_NAME))

    for name in (
        "FILEPOND_SERVER_PERMISSION_CLASSES",
        "FILEPOND_SERVER_AUTHENTICATION_CLASSES",
        "FILEPOND_SERVER_THROTTLE_CLASSES",
    ):
        errors.extend(_check_endpoint_classes(name, _setting(name)))
    errors.extend(_check_fetch())
    errors.extend(_check_lifecycle())
    errors.extend(_check_widget())
    errors.extend(_check_tus_origins())
    errors.extend(_check_direct())
    errors.extend(_check_offload(alias if alias in aliases else None))
    return errors


_OFFLOAD_PLACES = {
    "x-accel-redirect": ("internal URI prefixes such as '/_filepond/tmp/'", "/_filepond/tmp/"),
    "x-sendfile": ("the absolute directories the front server reads", "/srv/uploads/tmp/"),
}


def _check_offload(store: str | None) -> list[CheckMessage]:
    mode = _setting("FILEPOND_SERVER_FILE_OFFLOAD")
    if mode is None:
        return []
    if mode not in _OFFLOAD_PLACES:
        return [_message(Error, Ids.FILE_OFFLOAD, value=mode)]
    what, example = _OFFLOAD_PLACES[mode]
    locations = _setting("FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS")
    problem = None
    if not isinstance(locations, Mapping):
        problem = f"found {locations!r}"
    else:
        for directory, place in locations.items():
            if not isinstance(directory, (str, os.PathLike)) or not os.path.isabs(directory):
                problem = f"{directory!r} is not an absolute directory"
            elif not isinstance(place, (str, os.PathLike)) or not os.fspath(place).startswith("/"):
                problem = f"{place!r} (for {directory!r}) does not start with '/'"
    if problem is not None:
        return [
            _message(Error, Ids.FILE_OFFLOAD_LOCATIONS, what=what, problem=problem, example=example)
        ]
    from django_filepond_server.offload import covering, storage_path

    places = []
    if _setting("FILEPOND_SERVER_TEMP_STORAGE") is None:
        temp_dir = _setting("FILEPOND_SERVER_TEMP_DIR")
        if isinstance(temp_dir, (str, os.PathLike)):  # E001 otherwise
            places.append(("the temporary area", os.fspath(temp_dir)))
    if store is not None:
        try:
            directory = storage_path(storages[store], "")
        except Exception:  # a broken alias is reported by the checks of its own setting
            directory = None
        if directory is not None:
            places.append((f"the permanent store {store!r}", directory))
    found = {os.fspath(d): os.fspath(p) for d, p in locations.items()}
    return [
        _message(Warning, Ids.FILE_OFFLOAD_UNCOVERED, place=place, directory=directory)
        for place, directory in places
        if covering(os.path.join(os.path.abspath(directory), "file"), found) is None
    ]


_ORIGIN = re.compile(r"https?://[^/?#\s]+")


def _check_tus_origins() -> list[CheckMessage]:
    value = _setting("FILEPOND_SERVER_TUS_CORS_ORIGINS")
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [_message(Error, Ids.TUS_CORS_ORIGINS, value=value)]
    return [
        _message(Error, Ids.TUS_CORS_ORIGINS, value=item)
        for item in value
        if not (isinstance(item, str) and _ORIGIN.fullmatch(item))
    ]


def _check_direct() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    target = _setting("FILEPOND_SERVER_DIRECT_TARGET")
    if target not in ("auto", "s3", "app"):
        errors.append(_message(Error, Ids.DIRECT_TARGET, value=target))
    elif target == "s3":
        problem = _not_s3(_setting("FILEPOND_SERVER_TEMP_STORAGE"))
        if problem:
            errors.append(_message(Error, Ids.DIRECT_NEEDS_S3, problem=problem))
    part_size = _setting("FILEPOND_SERVER_DIRECT_PART_SIZE")
    if (
        isinstance(part_size, bool)
        or not isinstance(part_size, int)
        or not 5 * 1024**2 <= part_size <= 5 * 1024**3
    ):
        errors.append(_message(Error, Ids.DIRECT_PART_SIZE, value=part_size))
    expiry = _setting("FILEPOND_SERVER_DIRECT_URL_EXPIRY")
    if isinstance(expiry, bool) or not isinstance(expiry, int) or expiry <= 0:
        errors.append(
            _message(
                Error, Ids.WHOLE_SECONDS, name="FILEPOND_SERVER_DIRECT_URL_EXPIRY", value=expiry
            )
        )
        return errors
    if expiry > 7 * 24 * 60 * 60:
        errors.append(_message(Error, Ids.DIRECT_URL_EXPIRY, value=expiry))
    idle = _setting("FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT")
    idle_seconds = idle.total_seconds() if isinstance(idle, timedelta) else idle
    if isinstance(idle_seconds, (int, float)) and 0 < idle_seconds < expiry:
        errors.append(
            _message(
                Warning, Ids.DIRECT_URLS_OUTLIVE_UPLOADS, expiry=expiry, idle=f"{idle_seconds:g}"
            )
        )
    return errors


def _not_s3(alias: Any) -> str | None:
    """What keeps the temporary storage ``alias`` from being S3, or None if it is S3."""
    if alias is None:
        return "is not set"
    config = (getattr(settings, "STORAGES", {}) or {}).get(alias)
    if config is None:
        return f"({alias!r}) is not an alias of STORAGES"
    try:
        backend = import_string(config.get("BACKEND", ""))
        from storages.backends.s3 import S3Storage
    except (ImportError, ImproperlyConfigured):
        return f"({alias!r}) cannot be imported with boto3"
    if not (isinstance(backend, type) and issubclass(backend, S3Storage)):
        return f"({alias!r}) is not a django-storages S3Storage"
    return None


def _check_widget() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name, entry, key in (
        ("FILEPOND_SERVER_WIDGET_JS", Ids.WIDGET_JS, "src"),
        ("FILEPOND_SERVER_WIDGET_CSS", Ids.WIDGET_CSS, "href"),
        ("FILEPOND_SERVER_TUS_CLIENT_JS", Ids.TUS_CLIENT_JS, "src"),
    ):
        value = _setting(name)
        if isinstance(value, str) or not isinstance(value, Sequence):
            errors.append(_message(Error, entry, value=value))
            continue
        errors.extend(
            _message(Error, entry, value=item) for item in value if not _is_asset(item, key)
        )
    locale = _setting("FILEPOND_SERVER_WIDGET_LOCALE_URL")
    if locale is not None and not (isinstance(locale, str) and locale.endswith("/")):
        errors.append(_message(Error, Ids.WIDGET_LOCALE_URL, value=locale))
    chunk = _setting("FILEPOND_SERVER_WIDGET_CHUNK_SIZE")
    largest = _setting("FILEPOND_SERVER_MAX_CHUNK_SIZE")
    if chunk is not None and (
        isinstance(chunk, bool)
        or not isinstance(chunk, int)
        or chunk <= 0
        or (isinstance(largest, int) and chunk > largest)
    ):
        errors.append(_message(Error, Ids.WIDGET_CHUNK_SIZE, value=chunk, max=largest))
    return errors


def _is_asset(item: Any, key: str) -> bool:
    """A path or URL, or a mapping of tag attributes (strings, or True for a bare attribute)
    that names the file under ``key``."""
    if isinstance(item, str):
        return bool(item.strip())
    return (
        isinstance(item, Mapping)
        and isinstance(item.get(key), str)
        and bool(item[key].strip())
        and all(
            isinstance(name, str) and (isinstance(v, str) or v is True) for name, v in item.items()
        )
    )


# What to install when a django-storages backend cannot be imported.
_BACKEND_HINTS = {
    "storages.backends.s3": "pip install 'django-filepond-server[s3]' (boto3)",
    "storages.backends.s3boto3": "pip install 'django-filepond-server[s3]' (boto3)",
    "storages.backends.sftpstorage": "pip install 'django-filepond-server[sftp]' (paramiko)",
    "storages.backends.gcloud": "pip install 'django-filepond-server[gcs]' (google-cloud-storage)",
    "storages.backends.azure_storage": (
        "pip install 'django-filepond-server[azure]' (azure-storage-blob)"
    ),
}


def _check_backend(alias: str, backend: str) -> list[CheckMessage]:
    try:
        import_string(backend)
    except (ImportError, ImproperlyConfigured) as exc:
        module = backend.rpartition(".")[0]
        hint = _BACKEND_HINTS.get(module, f"Install the package that provides {module}.")
        error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return [
            _message(
                Error, Ids.STORAGE_BACKEND, alias=alias, backend=backend, error=error, hint=hint
            )
        ]
    return []


def _check_temporary_storage(store: Any, aliases: list[str]) -> list[CheckMessage]:
    temp = _setting("FILEPOND_SERVER_TEMP_STORAGE")
    if temp is None:
        return []
    if temp not in aliases:
        return [
            _message(
                Error, Ids.TEMP_STORAGE_ALIAS, value=temp, aliases=", ".join(aliases) or "none"
            )
        ]
    errors = _check_backend(temp, settings.STORAGES[temp].get("BACKEND", ""))
    if errors:
        return errors
    if store in aliases and _same_place(temp, store):
        errors.append(_message(Error, Ids.TEMP_STORAGE_OVERLAP, temp=temp, store=store))
    if any(db.get("ENGINE", "").endswith("sqlite3") for db in settings.DATABASES.values()):
        errors.append(_message(Warning, Ids.SHARED_AREA_ON_SQLITE))
    return errors


def _same_place(first: str, second: str) -> bool:
    """Whether two ``STORAGES`` aliases can hold the same files: one alias, or one bucket or
    directory with locations where one contains the other."""
    if first == second:
        return True
    try:
        a, b = storages[first], storages[second]
    except Exception:  # a broken alias is reported by the checks of its own setting
        return False
    if getattr(a, "bucket_name", None) and getattr(b, "bucket_name", None):
        if (a.bucket_name, getattr(a, "endpoint_url", None)) != (  # type: ignore[attr-defined]
            b.bucket_name,  # type: ignore[attr-defined]
            getattr(b, "endpoint_url", None),
        ):
            return False
        return _nested(getattr(a, "location", ""), getattr(b, "location", ""))
    if isinstance(a, FileSystemStorage) and isinstance(b, FileSystemStorage):
        return _nested(os.path.abspath(a.base_location), os.path.abspath(b.base_location))
    return False


def _nested(first: str, second: str) -> bool:
    first, second = first.strip("/") + "/", second.strip("/") + "/"
    return first == "/" or second == "/" or first.startswith(second) or second.startswith(first)


@register(Tags.database)
def check_uploads_held(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """With a local temporary area, live uploads held by several app servers show that
    requests are spread over machines that cannot see each other's files. Runs with
    ``check --database default`` and before ``migrate``."""
    from django.db import DatabaseError, router

    from django_filepond_server.models import TemporaryUpload
    from django_filepond_server.ownership import live_uploads

    if _setting("FILEPOND_SERVER_TEMP_STORAGE") is not None:
        return []
    if router.db_for_read(TemporaryUpload) not in (databases or ()):
        return []  # database checks only look at the databases they are given
    try:
        nodes = sorted(
            TemporaryUpload.objects.filter(live_uploads(), area="")
            .exclude(node="")
            .order_by()
            .values_list("node", flat=True)
            .distinct()
        )
    except DatabaseError:  # not migrated yet
        return []
    if len(nodes) < 2:
        return []
    return [
        _message(
            Warning, Ids.LOCAL_AREA_ON_SEVERAL_SERVERS, count=len(nodes), nodes=", ".join(nodes)
        )
    ]


def _check_store_location(alias: str, config: Mapping[str, Any]) -> list[CheckMessage]:
    # A fresh startproject sets no MEDIA_ROOT; FileSystemStorage then resolves names against
    # the process's current directory.
    if settings.MEDIA_ROOT or (config.get("OPTIONS") or {}).get("location"):
        return []
    try:
        backend = import_string(config.get("BACKEND", ""))
    except (ImportError, ImproperlyConfigured):
        return []  # E017 already says so
    if isinstance(backend, type) and issubclass(backend, FileSystemStorage):
        return [_message(Warning, Ids.STORE_IN_WORKING_DIR, alias=alias)]
    return []


def _check_lifecycle() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    check_owner = _setting("FILEPOND_SERVER_CHECK_OWNER")
    if not isinstance(check_owner, bool):
        errors.append(_message(Error, Ids.CHECK_OWNER))
    elif check_owner and SESSION_MIDDLEWARE not in getattr(settings, "MIDDLEWARE", []):
        errors.append(_message(Warning, Ids.NO_SESSIONS))
    count = _setting("FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER")
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        errors.append(
            _message(Error, Ids.COUNT, name="FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER", value=count)
        )
    size = _setting("FILEPOND_SERVER_MAX_BYTES_PER_OWNER")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        errors.append(
            _message(Error, Ids.SIZE, name="FILEPOND_SERVER_MAX_BYTES_PER_OWNER", value=size)
        )
    for name in (
        "FILEPOND_SERVER_TEMPORARY_LIFETIME",
        "FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT",
        "FILEPOND_SERVER_VALIDATION_TIMEOUT",
    ):
        value = _setting(name)
        seconds = value.total_seconds() if isinstance(value, timedelta) else value
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            errors.append(_message(Error, Ids.DURATION, name=name, value=value))
    problem = _rules_problem(_setting("FILEPOND_SERVER_UPLOAD_RULES"))
    if problem:
        errors.append(_message(Error, Ids.UPLOAD_RULES, problem=problem))
    errors.extend(_check_clamd())
    validators = _setting("FILEPOND_SERVER_VALIDATORS")
    if isinstance(validators, str) or not isinstance(validators, Sequence):
        errors.append(_message(Error, Ids.VALIDATORS, value=validators))
    else:
        for item in validators:
            if callable(item):
                continue
            try:
                import_string(item)
            except (ImportError, TypeError, ValueError, AttributeError):
                errors.append(_message(Error, Ids.VALIDATORS, value=item))
    return errors


def _check_libmagic() -> list[CheckMessage]:
    try:
        import magic

        magic.from_buffer(b"%PDF-1.4", mime=True)
    except Exception as exc:  # ImportError: no libmagic; MagicException: a broken database
        error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        return [_message(Error, Ids.NO_LIBMAGIC, error=error)]
    return []


def _check_clamd() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    address = _setting("FILEPOND_SERVER_CLAMD_ADDRESS")
    parts = urlsplit(address) if isinstance(address, str) else None
    valid = parts is not None and (
        (parts.scheme == "unix" and bool(parts.path))
        or (parts.scheme == "tcp" and bool(parts.hostname) and _has_port(parts))
    )
    if not valid:
        errors.append(_message(Error, Ids.CLAMD_ADDRESS, value=address))
    timeout = _setting("FILEPOND_SERVER_CLAMD_TIMEOUT")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        errors.append(
            _message(Error, Ids.SECONDS, name="FILEPOND_SERVER_CLAMD_TIMEOUT", value=timeout)
        )
    return errors


def _has_port(parts: Any) -> bool:
    try:
        return parts.port is not None
    except ValueError:
        return False


def _rules_problem(rules: Any) -> str | None:
    if not isinstance(rules, Mapping):
        return f"found {type(rules).__name__}"
    for field_name, entry in rules.items():
        if not isinstance(entry, Mapping):
            return f"{field_name!r} maps to {type(entry).__name__}"
        unknown = set(entry) - RULE_KEYS
        if unknown:
            return f"{field_name!r} has unknown keys {sorted(unknown)}"
        max_size = entry.get("max_size", 1)
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= 0:
            return f"{field_name!r} has max_size {max_size!r}, not a positive integer"
        for key in ("types", "extensions"):
            value = entry.get(key)
            if value is not None and (
                isinstance(value, str)
                or not isinstance(value, Sequence)
                or not all(isinstance(item, str) and item for item in value)
            ):
                return f"{field_name!r} has {key} {value!r}, not a list of strings"
    return None


def _check_fetch() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if not isinstance(_setting("FILEPOND_SERVER_FETCH_ENABLED"), bool):
        errors.append(_message(Error, Ids.FETCH_ENABLED))
    for name in ("FILEPOND_SERVER_FETCH_ALLOWED_HOSTS", "FILEPOND_SERVER_FETCH_DENIED_HOSTS"):
        value = _setting(name)
        if isinstance(value, str) or not isinstance(value, Sequence):
            errors.append(_message(Error, Ids.FETCH_HOSTS, name=name, value=value))
            continue
        for entry in value:
            try:
                parse_host_entry(entry)
            except ValueError:
                errors.append(_message(Error, Ids.FETCH_HOSTS, name=name, value=entry))
                continue
            if name.endswith("ALLOWED_HOSTS") and _covers_everything(entry):
                errors.append(_message(Warning, Ids.FETCH_ALLOWS_EVERYTHING, value=entry))
    for name in (
        "FILEPOND_SERVER_FETCH_CONNECT_TIMEOUT",
        "FILEPOND_SERVER_FETCH_READ_TIMEOUT",
        "FILEPOND_SERVER_FETCH_DEADLINE",
    ):
        value = _setting(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            errors.append(_message(Error, Ids.SECONDS, name=name, value=value))
    redirects = _setting("FILEPOND_SERVER_FETCH_MAX_REDIRECTS")
    if isinstance(redirects, bool) or not isinstance(redirects, int) or redirects < 0:
        errors.append(_message(Error, Ids.FETCH_REDIRECTS))
    max_size = _setting("FILEPOND_SERVER_FETCH_MAX_SIZE")
    if max_size is not None and (
        isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= 0
    ):
        errors.append(
            _message(Error, Ids.SIZE, name="FILEPOND_SERVER_FETCH_MAX_SIZE", value=max_size)
        )
    return errors


def _covers_everything(entry: str) -> bool:
    try:
        return ipaddress.ip_network(entry.strip(), strict=False).prefixlen == 0
    except ValueError:
        return False


def _check_endpoint_classes(name: str, mapping: Any) -> list[CheckMessage]:
    if not isinstance(mapping, Mapping):
        return [_message(Error, Ids.PERMISSIONS_SHAPE, name=name)]
    errors: list[CheckMessage] = []
    for key, classes in mapping.items():
        if key not in ENDPOINT_KEYS:
            errors.append(
                _message(
                    Error, Ids.PERMISSIONS_KEY, name=name, value=key, keys=", ".join(ENDPOINT_KEYS)
                )
            )
            continue
        items = [classes] if isinstance(classes, (str, type)) else classes
        if not isinstance(items, Sequence):
            errors.append(_message(Error, Ids.PERMISSIONS_CLASS, name=name, key=key, value=classes))
            continue
        for item in items:
            if isinstance(item, type):
                continue
            try:
                import_string(item)
            except (ImportError, TypeError, ValueError, AttributeError):
                errors.append(
                    _message(Error, Ids.PERMISSIONS_CLASS, name=name, key=key, value=item)
                )
    return errors
