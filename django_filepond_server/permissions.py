"""Per-endpoint DRF permission classes from ``FILEPOND_SERVER_PERMISSION_CLASSES``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from rest_framework.settings import api_settings

from django_filepond_server.conf import conf


def permission_classes_for(key: str) -> list[type[Any]]:
    """The permission classes of endpoint ``key`` (such as ``"POST_PROCESS"``).

    An endpoint missing from the mapping gets DRF's ``DEFAULT_PERMISSION_CLASSES``, read now,
    so a project that locks down DRF globally never has an endpoint open by accident.
    """
    mapping = conf.PERMISSION_CLASSES
    if key not in mapping:
        return list(api_settings.DEFAULT_PERMISSION_CLASSES)
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
                    f"FILEPOND_SERVER_PERMISSION_CLASSES[{key!r}] names {item!r}, "
                    f"which cannot be imported: {exc}"
                ) from exc
        resolved.append(item)
    return resolved
