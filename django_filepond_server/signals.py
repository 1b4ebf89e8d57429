"""Signals of the upload lifecycle, each sent once the database change has been committed.

Every signal is sent with ``sender`` the model class and ``upload`` the instance:

- ``upload_started``: a chunked transfer began (``upload`` is a ``TemporaryUpload``).
- ``upload_completed``: a temporary upload has all its bytes and passed its rules and
  validators (``TemporaryUpload``).
- ``upload_reverted``: FilePond reverted a temporary upload; ``upload`` is the deleted
  instance.
- ``upload_stored``: ``store_upload`` promoted an upload; ``upload`` is the ``StoredUpload``
  and ``temporary_upload`` the deleted ``TemporaryUpload``.
- ``upload_saved``: ``save_upload`` put an upload into another storage (a model's
  ``FileField``); ``upload`` is the deleted ``TemporaryUpload``, ``storage`` the storage and
  ``name`` the name it saved.
- ``upload_expired``: ``filepond_cleanup`` removed an expired, abandoned or refused temporary
  upload; ``upload`` is the deleted instance.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal

upload_started = Signal()
upload_completed = Signal()
upload_reverted = Signal()
upload_stored = Signal()
upload_saved = Signal()
upload_expired = Signal()


def send_on_commit(signal: Signal, upload: Any, **extra: Any) -> None:
    """Send ``signal`` after the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: signal.send(sender=type(upload), upload=upload, **extra))
