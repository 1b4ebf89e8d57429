"""Removing what the temporary area no longer needs (``manage.py filepond_cleanup``).

Expired uploads, abandoned transfers and refused uploads are removed row by row, each under
the row lock and re-checked after locking, so a transfer that is being written (and so holds
the lock, and is then no longer idle) is never removed. Files without a row are removed only
once they are older than the transfer idle timeout: a file is created just before its row.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from functools import partial

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from django_filepond_server import signals
from django_filepond_server.conf import conf
from django_filepond_server.models import TemporaryUpload, is_valid_upload_id, lock_row
from django_filepond_server.temporary import LocalTemporaryArea, get_temporary_area
from django_filepond_server.transfers import is_expired


@dataclass
class CleanupReport:
    expired: int = 0
    abandoned: int = 0
    rejected: int = 0
    missing_files: int = 0
    orphan_files: int = 0
    bytes: int = 0
    ids: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (
            self.expired + self.abandoned + self.rejected + self.missing_files + self.orphan_files
        )


def _candidates() -> Q:
    now = timezone.now()
    return (
        Q(complete=True, created__lt=now - conf.TEMPORARY_LIFETIME)
        | Q(complete=False, updated__lt=now - conf.TRANSFER_IDLE_TIMEOUT)
        | Q(rejected__gt="", updated__lt=now - conf.TRANSFER_IDLE_TIMEOUT)
    )


def _size(upload_id: str) -> int:
    area = get_temporary_area()
    try:
        return area.size(upload_id)
    except OSError:
        return 0


def cleanup(*, dry_run: bool = False) -> CleanupReport:
    """Remove expired, abandoned and refused uploads, and files or rows missing their half."""
    report = CleanupReport()
    area = get_temporary_area()
    candidate_ids = list(TemporaryUpload.objects.filter(_candidates()).values_list("pk", flat=True))
    for upload_id in candidate_ids:
        with transaction.atomic():
            if not lock_row(TemporaryUpload, upload_id):
                continue  # reverted or stored meanwhile
            upload = TemporaryUpload.objects.select_for_update().get(pk=upload_id)
            if upload.rejected:
                if upload.updated >= timezone.now() - conf.TRANSFER_IDLE_TIMEOUT:
                    continue
                report.rejected += 1
            elif not is_expired(upload):
                continue  # a chunk arrived while we waited for the lock
            elif upload.complete:
                report.expired += 1
            else:
                report.abandoned += 1
            report.bytes += _size(upload_id)
            report.ids.append(upload_id)
            if not dry_run:
                upload.delete()
                upload.upload_id = upload_id
                transaction.on_commit(partial(area.delete, upload_id))
                signals.send_on_commit(signals.upload_expired, upload)

    # Rows whose bytes are gone (removed by hand, or a full disk) can never be restored.
    for upload_id in TemporaryUpload.objects.values_list("pk", flat=True).iterator():
        if upload_id in report.ids or area.exists(upload_id):
            continue
        with transaction.atomic():
            if not lock_row(TemporaryUpload, upload_id) or area.exists(upload_id):
                continue
            upload = TemporaryUpload.objects.get(pk=upload_id)
            if upload.rejected:
                continue  # refused uploads keep their row, without bytes, until they expire
            report.missing_files += 1
            report.ids.append(upload_id)
            if not dry_run:
                upload.delete()

    if isinstance(area, LocalTemporaryArea):
        _remove_orphan_files(area, report, dry_run)
    return report


def _remove_orphan_files(area: LocalTemporaryArea, report: CleanupReport, dry_run: bool) -> None:
    if not os.path.isdir(area.directory):
        return
    old_enough = time.time() - conf.TRANSFER_IDLE_TIMEOUT.total_seconds()
    for entry in os.scandir(area.directory):
        if not entry.is_file() or not entry.name.endswith(area.suffix):
            continue
        upload_id = entry.name[: -len(area.suffix)]
        try:
            stat = entry.stat()
        except FileNotFoundError:  # removed meanwhile (by a revert, or another cleanup)
            continue
        if stat.st_mtime >= old_enough:
            continue
        if is_valid_upload_id(upload_id) and TemporaryUpload.objects.filter(pk=upload_id).exists():
            continue
        report.orphan_files += 1
        report.bytes += stat.st_size
        if not dry_run:
            with contextlib.suppress(FileNotFoundError):
                os.remove(entry.path)
