"""Files of a model's ``FileField`` shown in FilePond as ``local`` items, served by load.

A ``local`` item's source goes to the browser and comes back in the load request and in the
submitted form. For a :class:`~django_filepond_server.models.StoredUpload` it is the upload
id; for a file of any other model field it is a value signed with ``SECRET_KEY`` that names
the model field and the file, so load only ever serves files a page was rendered with, and
only for as long as ``FILEPOND_SERVER_TEMPORARY_LIFETIME``.
"""

from __future__ import annotations

import logging
import mimetypes
import posixpath
from typing import Any

from django.apps import apps
from django.core import signing
from django.db import models
from django.http import HttpResponseBase
from django.utils.translation import gettext as _
from rest_framework.request import Request

from django_filepond_server import exceptions, offload
from django_filepond_server.conf import conf
from django_filepond_server.responses import file_response
from django_filepond_server.storage import open_stored

logger = logging.getLogger(__name__)

SALT = "django_filepond_server.local_files"
_LIFETIME: Any = object()
#: Every signed source starts with this, so load can tell it from an upload id at a glance.
PREFIX = "f:"


def sign_model_file(model_field: models.FileField, name: str) -> str:
    """The ``local`` source of the file ``name`` of ``model_field`` (a model's ``FileField``
    or ``ImageField``)."""
    model = model_field.model
    payload = [model._meta.label_lower, model_field.name, name]
    return PREFIX + signing.dumps(payload, salt=SALT, compress=True)


def is_model_file_source(source: str | None) -> bool:
    return bool(source) and str(source).startswith(PREFIX)


def read_model_file_source(
    source: str, *, max_age: Any = _LIFETIME
) -> tuple[models.FileField, str]:
    """``(model_field, name)`` of a signed source; :class:`UnknownUpload` (404) for anything
    forged, expired (older than ``max_age``, ``FILEPOND_SERVER_TEMPORARY_LIFETIME`` unless
    given; ``None`` for no limit) or naming a field that is no longer a file field."""
    if max_age is _LIFETIME:
        max_age = conf.TEMPORARY_LIFETIME
    try:
        label, field_name, name = signing.loads(source[len(PREFIX) :], salt=SALT, max_age=max_age)
        field = apps.get_model(label)._meta.get_field(field_name)
    except (signing.BadSignature, ValueError, TypeError, LookupError):
        raise exceptions.UnknownUpload() from None
    if not isinstance(field, models.FileField) or not isinstance(name, str) or not name:
        raise exceptions.UnknownUpload()
    return field, name


def load_model_file(request: Request, source: str) -> HttpResponseBase:
    """The load endpoint's answer for a signed source: the file, streamed from the field's
    storage, under its base name."""
    field, name = read_model_file_source(source)
    storage = field.storage
    try:
        size = storage.size(name)
        f = open_stored(name, storage)
    except FileNotFoundError:
        raise exceptions.UnknownUpload(_("That file is missing from its storage.")) from None
    except Exception:  # any failure of the storage backend (network, credentials...)
        logger.exception("Could not open %r of %s", name, field)
        raise exceptions.StorageUnavailable() from None
    return file_response(
        request._request,
        f,
        size=size,
        name=posixpath.basename(name),
        content_type=_guess_type(name),
        allow_ranges=True,
        path=offload.storage_path(storage, name),
    )


def _guess_type(name: str) -> str:
    content_type, _encoding = mimetypes.guess_type(name, strict=False)
    return content_type or "application/octet-stream"
