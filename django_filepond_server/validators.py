"""Validation hooks: dotted paths in ``FILEPOND_SERVER_VALIDATORS``, run on completion.

A validator is a callable ``validator(upload, file)`` taking the
:class:`~django_filepond_server.models.TemporaryUpload` and its bytes open for reading. It
refuses the upload by raising :class:`django.core.exceptions.ValidationError`; the message is
shown to the user by FilePond. This is the place for virus scanning
(:func:`django_filepond_server.clamav.scan`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, BinaryIO

from django.core.exceptions import ValidationError
from django.utils.module_loading import import_string

from django_filepond_server.conf import conf
from django_filepond_server.exceptions import UploadRejected
from django_filepond_server.models import TemporaryUpload

Validator = Callable[[TemporaryUpload, BinaryIO], Any]


def configured_validators() -> list[Validator]:
    return [import_string(item) if isinstance(item, str) else item for item in conf.VALIDATORS]


def run_validators(upload: TemporaryUpload, opener: Callable[[], BinaryIO]) -> None:
    """Run every configured validator on the bytes ``opener`` opens (afresh for each); the
    first refusal raises :class:`UploadRejected`."""
    for validator in configured_validators():
        with opener() as f:
            try:
                validator(upload, f)
            except ValidationError as exc:
                raise UploadRejected(" ".join(exc.messages), status_code=422) from exc
