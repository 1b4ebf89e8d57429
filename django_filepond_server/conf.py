"""Settings of django-filepond-server, read from ``django.conf.settings`` at call time.

Nothing is cached, so ``override_settings`` works everywhere. Each property names one
``FILEPOND_SERVER_*`` setting; ``checks.py`` validates their types.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from typing import Any

from django.conf import settings

#: Keys of :attr:`Settings.PERMISSION_CLASSES`: ``<HTTP method>_<endpoint>``.
ENDPOINT_KEYS = (
    "POST_PROCESS",
    "PATCH_PATCH",
    "HEAD_PATCH",
    "DELETE_REVERT",
    "GET_RESTORE",
    "GET_LOAD",
    "GET_FETCH",
    "POST_TUS",
    "HEAD_TUS",
    "PATCH_TUS",
    "DELETE_TUS",
    "POST_DIRECT",
    "POST_DIRECT_PARTS",
    "POST_DIRECT_COMPLETE",
    "POST_DIRECT_ABORT",
)

MiB = 1024 * 1024

DEFAULTS: dict[str, Any] = {
    "FILEPOND_SERVER_TEMP_DIR": None,
    "FILEPOND_SERVER_TEMP_STORAGE": None,
    "FILEPOND_SERVER_STORAGE": "default",
    "FILEPOND_SERVER_MAX_UPLOAD_SIZE": 2 * 1024 * MiB,
    "FILEPOND_SERVER_MAX_CHUNK_SIZE": 16 * MiB,
    "FILEPOND_SERVER_MAX_METADATA_SIZE": 16 * 1024,
    "FILEPOND_SERVER_FIELD_NAME": "filepond",
    "FILEPOND_SERVER_PERMISSION_CLASSES": {},
    "FILEPOND_SERVER_FETCH_ENABLED": False,
    "FILEPOND_SERVER_FETCH_ALLOWED_HOSTS": [],
    "FILEPOND_SERVER_FETCH_DENIED_HOSTS": [],
    "FILEPOND_SERVER_FETCH_MAX_REDIRECTS": 3,
    "FILEPOND_SERVER_FETCH_CONNECT_TIMEOUT": 5.0,
    "FILEPOND_SERVER_FETCH_READ_TIMEOUT": 10.0,
    "FILEPOND_SERVER_FETCH_DEADLINE": 60.0,
    "FILEPOND_SERVER_FETCH_MAX_SIZE": None,
    "FILEPOND_SERVER_CHECK_OWNER": True,
    "FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER": 100,
    "FILEPOND_SERVER_MAX_BYTES_PER_OWNER": 10 * 1024 * MiB,
    "FILEPOND_SERVER_UPLOAD_RULES": {},
    "FILEPOND_SERVER_VALIDATORS": [],
    "FILEPOND_SERVER_TEMPORARY_LIFETIME": 24 * 60 * 60,
    "FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT": 60 * 60,
    "FILEPOND_SERVER_VALIDATION_TIMEOUT": 10 * 60,
    "FILEPOND_SERVER_THROTTLE_CLASSES": {},
    "FILEPOND_SERVER_AUTHENTICATION_CLASSES": {},
    "FILEPOND_SERVER_CLAMD_ADDRESS": "unix:///run/clamav/clamd.ctl",
    "FILEPOND_SERVER_CLAMD_TIMEOUT": 60.0,
    "FILEPOND_SERVER_LOAD_REDIRECT": False,
    "FILEPOND_SERVER_LOAD_URL_EXPIRY": 60,
    "FILEPOND_SERVER_FILE_OFFLOAD": None,
    "FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS": {},
    "FILEPOND_SERVER_WIDGET_JS": ["filepond/dist/filepond.min.js"],
    "FILEPOND_SERVER_WIDGET_CSS": ["filepond/dist/filepond.min.css"],
    "FILEPOND_SERVER_WIDGET_LOCALE_URL": "filepond/locale/",
    "FILEPOND_SERVER_WIDGET_CHUNK_SIZE": None,
    "FILEPOND_SERVER_TUS_CLIENT_JS": ["tus-js-client/dist/tus.min.js"],
    "FILEPOND_SERVER_TUS_CORS_ORIGINS": [],
    "FILEPOND_SERVER_DIRECT_TARGET": "auto",
    "FILEPOND_SERVER_DIRECT_PART_SIZE": 8 * MiB,
    "FILEPOND_SERVER_DIRECT_URL_EXPIRY": 15 * 60,
}


def _get(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])


class Settings:
    @property
    def TEMP_DIR(self) -> str:
        """Directory of the temporary upload area (one file per upload)."""
        value = _get("FILEPOND_SERVER_TEMP_DIR")
        if value is None:
            return os.path.join(tempfile.gettempdir(), "django_filepond_server")
        return str(os.fspath(value))

    @property
    def TEMP_STORAGE(self) -> str | None:
        """The ``STORAGES`` alias of a temporary area shared by every app server (S3, ...);
        ``None`` keeps the temporary area in ``TEMP_DIR``."""
        value = _get("FILEPOND_SERVER_TEMP_STORAGE")
        return None if value is None else str(value)

    @property
    def STORAGE(self) -> str:
        """The ``STORAGES`` alias of the permanent store."""
        return str(_get("FILEPOND_SERVER_STORAGE"))

    @property
    def MAX_UPLOAD_SIZE(self) -> int:
        """Largest file accepted, in bytes."""
        return _get("FILEPOND_SERVER_MAX_UPLOAD_SIZE")  # type: ignore[no-any-return]

    @property
    def MAX_CHUNK_SIZE(self) -> int:
        """Largest PATCH body accepted, in bytes."""
        return _get("FILEPOND_SERVER_MAX_CHUNK_SIZE")  # type: ignore[no-any-return]

    @property
    def MAX_METADATA_SIZE(self) -> int:
        """Largest metadata JSON kept with an upload, in bytes of UTF-8."""
        return _get("FILEPOND_SERVER_MAX_METADATA_SIZE")  # type: ignore[no-any-return]

    @property
    def FIELD_NAME(self) -> str:
        """Form field FilePond sends the metadata under when starting a chunked transfer."""
        return _get("FILEPOND_SERVER_FIELD_NAME")  # type: ignore[no-any-return]

    @property
    def PERMISSION_CLASSES(self) -> dict[str, Any]:
        """Per-endpoint DRF permission classes (dotted paths or classes)."""
        return _get("FILEPOND_SERVER_PERMISSION_CLASSES")  # type: ignore[no-any-return]

    @property
    def FETCH_ENABLED(self) -> bool:
        """Whether the fetch endpoint downloads remote files (off by default)."""
        return bool(_get("FILEPOND_SERVER_FETCH_ENABLED"))

    @property
    def FETCH_ALLOWED_HOSTS(self) -> list[str]:
        """Hosts, networks and http(s) URLs (one scheme and port, or a path prefix) fetch may
        reach even though they are not public."""
        return list(_get("FILEPOND_SERVER_FETCH_ALLOWED_HOSTS"))

    @property
    def FETCH_DENIED_HOSTS(self) -> list[str]:
        """Hosts, networks and http(s) URLs fetch never reaches, public or not."""
        return list(_get("FILEPOND_SERVER_FETCH_DENIED_HOSTS"))

    @property
    def FETCH_MAX_REDIRECTS(self) -> int:
        """Redirects followed by fetch, each checked like the first URL."""
        return _get("FILEPOND_SERVER_FETCH_MAX_REDIRECTS")  # type: ignore[no-any-return]

    @property
    def FETCH_CONNECT_TIMEOUT(self) -> float:
        """Seconds to wait for a connection to the remote server."""
        return float(_get("FILEPOND_SERVER_FETCH_CONNECT_TIMEOUT"))

    @property
    def FETCH_READ_TIMEOUT(self) -> float:
        """Seconds to wait for each piece of the remote answer."""
        return float(_get("FILEPOND_SERVER_FETCH_READ_TIMEOUT"))

    @property
    def FETCH_DEADLINE(self) -> float:
        """Seconds a whole fetch may take, name lookups, redirects and body included."""
        return float(_get("FILEPOND_SERVER_FETCH_DEADLINE"))

    @property
    def FETCH_MAX_SIZE(self) -> int:
        """Largest remote file fetched, in bytes; defaults to the maximum upload size."""
        value = _get("FILEPOND_SERVER_FETCH_MAX_SIZE")
        return self.MAX_UPLOAD_SIZE if value is None else int(value)

    @property
    def CHECK_OWNER(self) -> bool:
        """Whether only an upload's owner (user or session) may patch, resume, revert,
        restore or store it."""
        return bool(_get("FILEPOND_SERVER_CHECK_OWNER"))

    @property
    def MAX_UPLOADS_PER_OWNER(self) -> int:
        """Temporary uploads one owner may hold at once."""
        return _get("FILEPOND_SERVER_MAX_UPLOADS_PER_OWNER")  # type: ignore[no-any-return]

    @property
    def MAX_BYTES_PER_OWNER(self) -> int:
        """Bytes of temporary uploads one owner may hold at once."""
        return _get("FILEPOND_SERVER_MAX_BYTES_PER_OWNER")  # type: ignore[no-any-return]

    @property
    def UPLOAD_RULES(self) -> dict[str, Any]:
        """Rules (max_size, types, extensions, match_extension) per FilePond field name."""
        return _get("FILEPOND_SERVER_UPLOAD_RULES")  # type: ignore[no-any-return]

    @property
    def VALIDATORS(self) -> list[Any]:
        """Callables (or dotted paths) run on every completed upload."""
        return list(_get("FILEPOND_SERVER_VALIDATORS"))

    @property
    def TEMPORARY_LIFETIME(self) -> timedelta:
        """How long a finished temporary upload is kept."""
        return _duration(_get("FILEPOND_SERVER_TEMPORARY_LIFETIME"))

    @property
    def TRANSFER_IDLE_TIMEOUT(self) -> timedelta:
        """How long a chunked transfer may go without a chunk before it is abandoned."""
        return _duration(_get("FILEPOND_SERVER_TRANSFER_IDLE_TIMEOUT"))

    @property
    def VALIDATION_TIMEOUT(self) -> timedelta:
        """How long the checks of a completed upload may run before another request may run
        them again (the server running them is then presumed gone)."""
        return _duration(_get("FILEPOND_SERVER_VALIDATION_TIMEOUT"))

    @property
    def THROTTLE_CLASSES(self) -> dict[str, Any]:
        """Per-endpoint DRF throttle classes (dotted paths or classes)."""
        return _get("FILEPOND_SERVER_THROTTLE_CLASSES")  # type: ignore[no-any-return]

    @property
    def AUTHENTICATION_CLASSES(self) -> dict[str, Any]:
        """Per-endpoint DRF authentication classes (dotted paths or classes)."""
        return _get("FILEPOND_SERVER_AUTHENTICATION_CLASSES")  # type: ignore[no-any-return]

    @property
    def CLAMD_ADDRESS(self) -> str:
        """Where clamd listens, for the ClamAV validator."""
        return _get("FILEPOND_SERVER_CLAMD_ADDRESS")  # type: ignore[no-any-return]

    @property
    def CLAMD_TIMEOUT(self) -> float:
        """Seconds the ClamAV validator waits for clamd."""
        return float(_get("FILEPOND_SERVER_CLAMD_TIMEOUT"))

    @property
    def LOAD_REDIRECT(self) -> bool:
        """Whether load redirects to a signed URL when the storage can sign (S3)."""
        return bool(_get("FILEPOND_SERVER_LOAD_REDIRECT"))

    @property
    def LOAD_URL_EXPIRY(self) -> int:
        """Seconds a signed load URL stays valid."""
        return int(_get("FILEPOND_SERVER_LOAD_URL_EXPIRY"))

    @property
    def FILE_OFFLOAD(self) -> str | None:
        """How restore and load hand a local file to the front server: ``None`` (the app
        sends the bytes), ``"x-accel-redirect"`` (nginx) or ``"x-sendfile"`` (Apache's
        mod_xsendfile, lighttpd)."""
        value = _get("FILEPOND_SERVER_FILE_OFFLOAD")
        return None if value is None else str(value)

    @property
    def FILE_OFFLOAD_LOCATIONS(self) -> dict[str, str]:
        """Local directories (keys) and where the front server finds each: an internal URI
        prefix for ``"x-accel-redirect"``, a directory for ``"x-sendfile"`` (values)."""
        return {
            os.fspath(directory): os.fspath(place)
            for directory, place in dict(_get("FILEPOND_SERVER_FILE_OFFLOAD_LOCATIONS")).items()
        }

    @property
    def WIDGET_JS(self) -> list[Any]:
        """Scripts the form widget's media loads before its own: FilePond and its plugins
        (static paths, URLs, or dicts of ``<script>`` attributes)."""
        return list(_get("FILEPOND_SERVER_WIDGET_JS"))

    @property
    def WIDGET_CSS(self) -> list[Any]:
        """Style sheets of the form widget's media (static paths, URLs, or dicts of
        ``<link>`` attributes)."""
        return list(_get("FILEPOND_SERVER_WIDGET_CSS"))

    @property
    def WIDGET_LOCALE_URL(self) -> str | None:
        """Where FilePond's locale modules are (``<url><locale>.js``); ``None`` for English."""
        value = _get("FILEPOND_SERVER_WIDGET_LOCALE_URL")
        return None if value is None else str(value)

    @property
    def WIDGET_CHUNK_SIZE(self) -> int:
        """Bytes per PATCH the form widget asks FilePond for: FilePond's 5,000,000 by
        default, never more than :attr:`MAX_CHUNK_SIZE`."""
        value = _get("FILEPOND_SERVER_WIDGET_CHUNK_SIZE")
        return min(5_000_000 if value is None else int(value), self.MAX_CHUNK_SIZE)

    @property
    def TUS_CLIENT_JS(self) -> list[Any]:
        """Scripts a page of the ``"tus"`` transport loads for tus-js-client (static paths,
        URLs, or dicts of ``<script>`` attributes), before the transport's own script."""
        return list(_get("FILEPOND_SERVER_TUS_CLIENT_JS"))

    @property
    def TUS_CORS_ORIGINS(self) -> list[str]:
        """Origins (``https://app.example.com``) whose pages may send tus requests with
        their cookies and read the tus headers of the answers."""
        return list(_get("FILEPOND_SERVER_TUS_CORS_ORIGINS"))

    @property
    def DIRECT_TARGET(self) -> str:
        """Where direct uploads send their bytes: ``"s3"`` (the temporary storage's bucket),
        ``"app"`` (this app's own signed target) or ``"auto"`` (S3 when the temporary
        storage is on S3, else the app)."""
        return str(_get("FILEPOND_SERVER_DIRECT_TARGET"))

    @property
    def DIRECT_PART_SIZE(self) -> int:
        """Direct uploads up to this size are sent in one request; larger ones in parts of
        this size (S3 multipart uploads)."""
        return int(_get("FILEPOND_SERVER_DIRECT_PART_SIZE"))

    @property
    def DIRECT_URL_EXPIRY(self) -> int:
        """Seconds a presigned request (or the app's signed target) of a direct upload stays
        valid; the client asks for fresh ones as it goes."""
        return int(_get("FILEPOND_SERVER_DIRECT_URL_EXPIRY"))


def _duration(value: Any) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=value)


conf = Settings()
