"""Per-endpoint DRF classes (permissions, authentication, throttles) from settings.

Each of ``FILEPOND_SERVER_PERMISSION_CLASSES``, ``FILEPOND_SERVER_AUTHENTICATION_CLASSES`` and
``FILEPOND_SERVER_THROTTLE_CLASSES`` maps endpoint keys (such as ``"POST_PROCESS"``) to
classes or their dotted paths. An endpoint missing from a mapping gets DRF's default for that
kind, read at request time, so a project that locks DRF down globally never has an endpoint
open by accident.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from rest_framework.settings import api_settings

from django_filepond_server.conf import conf


def _classes_for(mapping: Mapping[str, Any], key: str, default: Any, setting: str) -> list[Any]:
    if key not in mapping:
        return list(default)
    classes = mapping[key]
    if isinstance(classes, (str, type)):
        classes = [classes]
    resolved = []
    for item in classes:
        if isinstance(item, str):
            try:
                item = import_string(item)
            except ImportError as exc:
                raise ImproperlyConfigured(
                    f"{setting}[{key!r}] names {item!r}, which cannot be imported: {exc}"
                ) from exc
        resolved.append(item)
    return resolved


def permission_classes_for(key: str) -> list[type[Any]]:
    """The permission classes of endpoint ``key``."""
    return _classes_for(
        conf.PERMISSION_CLASSES,
        key,
        api_settings.DEFAULT_PERMISSION_CLASSES,
        "FILEPOND_SERVER_PERMISSION_CLASSES",
    )


def authentication_classes_for(key: str) -> list[type[Any]]:
    """The authentication classes of endpoint ``key``."""
    return _classes_for(
        conf.AUTHENTICATION_CLASSES,
        key,
        api_settings.DEFAULT_AUTHENTICATION_CLASSES,
        "FILEPOND_SERVER_AUTHENTICATION_CLASSES",
    )


def throttle_classes_for(key: str) -> list[type[Any]]:
    """The throttle classes of endpoint ``key``."""
    return _classes_for(
        conf.THROTTLE_CLASSES,
        key,
        api_settings.DEFAULT_THROTTLE_CLASSES,
        "FILEPOND_SERVER_THROTTLE_CLASSES",
    )
