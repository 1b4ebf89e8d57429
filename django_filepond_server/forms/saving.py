"""Storing a form's (or a serializer's) uploads into a model, all or nothing.

Forms and serializers share this: a single file goes into the model's ``FileField`` with
:func:`~django_filepond_server.api.save_upload`, several files into a many-to-many relation
to :class:`~django_filepond_server.models.StoredUpload` with
:func:`~django_filepond_server.api.store_upload`. Everything happens in one transaction; if
anything fails, the files written so far are deleted again and the temporary uploads stay.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.core.files.storage import Storage
from django.db import models, transaction

from django_filepond_server.api import save_upload, store_upload, undo_write
from django_filepond_server.models import StoredUpload, TemporaryUpload
from django_filepond_server.storage import get_permanent_storage

logger = logging.getLogger(__name__)


class Saving:
    """The files one save wrote (deleted again if it fails) and the files it replaced
    (deleted once it has committed, when asked to)."""

    def __init__(self) -> None:
        self.written: list[tuple[Storage, str]] = []
        self.replaced: list[tuple[Storage, str]] = []

    def undo(self, error: BaseException) -> None:
        """Delete what was written before ``error``; a file that cannot be deleted is
        logged and noted on ``error`` (see :func:`~django_filepond_server.api.undo_write`)."""
        for storage, name in reversed(self.written):
            undo_write(storage, name, error)


@contextlib.contextmanager
def all_or_nothing(current: Saving | None = None) -> Iterator[Saving]:
    """A transaction for one save; joins ``current`` when one is under way."""
    if current is not None:
        yield current
        return
    saving = Saving()
    try:
        with transaction.atomic():
            yield saving
            for storage, name in saving.replaced:
                transaction.on_commit(_deleter(storage, name))
    except BaseException as exc:
        saving.undo(exc)
        raise


def _deleter(storage: Storage, name: str) -> Callable[[], None]:
    def delete() -> None:
        try:
            storage.delete(name)
        except Exception:  # committed: the save stands, the old file is left over
            logger.warning("Could not delete the replaced file %r", name, exc_info=True)

    return delete


def model_file_field(model: type[models.Model], name: str) -> models.FileField | None:
    """The ``FileField`` (or ``ImageField``) ``name`` of ``model``, if it has one."""
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return field if isinstance(field, models.FileField) else None


def stored_upload_relation(model: type[models.Model], name: str) -> models.ManyToManyField | None:  # type: ignore[type-arg]
    """The many-to-many field ``name`` of ``model`` to ``StoredUpload``, if it has one."""
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if isinstance(field, models.ManyToManyField) and field.related_model is StoredUpload:
        return field
    return None


def check_target(model: type[models.Model], name: str, *, several: bool) -> None:
    """Refuse, at once, a field that has a model field of the same name it cannot fill."""
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return  # a form-only field: its value is left to the form's own code
    if several and stored_upload_relation(model, name) is None:
        raise ImproperlyConfigured(
            f"{model.__name__}.{name} should be a ManyToManyField to StoredUpload for a "
            f"FilePondMultipleField; it is a {type(field).__name__}."
        )
    if not several and model_file_field(model, name) is None:
        raise ImproperlyConfigured(
            f"{model.__name__}.{name} should be a FileField or ImageField for a "
            f"FilePondField; it is a {type(field).__name__}."
        )


def save_file(
    saving: Saving,
    instance: models.Model,
    field: models.FileField,
    value: Any,
    *,
    request: Any,
    rules: Any,
    delete_replaced: bool,
) -> bool:
    """Put ``value`` into ``instance``'s ``field``: a ``TemporaryUpload`` is saved into the
    field's storage under a name from its ``upload_to``, ``None`` clears the field, anything
    else keeps the current file. Returns whether the field changed."""
    current = getattr(instance, field.attname)
    old_name = str(current.name) if current else ""
    if isinstance(value, TemporaryUpload):
        name = save_upload(
            value.upload_id,
            field.storage,
            lambda upload: field.generate_filename(instance, upload.file_name),
            request=request,
            rules=rules,
        )
        saving.written.append((field.storage, name))
        setattr(instance, field.attname, name)
    elif value is None and old_name:
        setattr(instance, field.attname, "")
    else:
        return False
    if delete_replaced and old_name:
        saving.replaced.append((field.storage, old_name))
    return True


def store_files(
    saving: Saving,
    new: Iterable[TemporaryUpload],
    destination: str,
    *,
    request: Any,
    rules: Any,
) -> list[StoredUpload]:
    """Store each new upload as a ``StoredUpload`` under ``destination``."""
    stored: list[StoredUpload] = []
    storage = get_permanent_storage()
    for upload in new:
        row = store_upload(upload.upload_id, destination, request=request, rules=rules)
        saving.written.append((storage, str(row.file.name)))
        stored.append(row)
    return stored


def relation_rows(
    saving: Saving,
    submitted: Any,
    destination: str,
    *,
    request: Any,
    rules: Any,
    delete_removed: bool,
) -> list[Any]:
    """The rows a relation to ``StoredUpload`` holds after a save: the kept ones, then the
    new uploads of ``submitted`` (a ``SubmittedFiles``) stored under ``destination``. The
    rows of removed files are deleted too when ``delete_removed`` asks for it."""
    stored = store_files(saving, submitted.new, destination, request=request, rules=rules)
    if delete_removed:
        drop_stored(saving, submitted.removed)
    return [*submitted.kept, *stored]


def drop_stored(saving: Saving, removed: Iterable[StoredUpload]) -> None:
    """Delete the rows of removed stored uploads now and their files once committed."""
    storage = get_permanent_storage()
    for row in removed:
        name = str(row.file.name)
        StoredUpload.objects.filter(pk=row.pk).delete()
        saving.replaced.append((storage, name))
