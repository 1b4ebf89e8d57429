"""Removing what the temporary area no longer needs (``manage.py filepond_cleanup``).

Expired uploads, abandoned transfers and refused uploads are removed row by row, each under
the row lock and re-checked after locking. A local transfer whose chunk is being written
holds its file's ``flock``, and is left alone. Bytes without a row (a crash between writing
them and recording them) are removed only once they are older than the transfer idle
timeout, since bytes are always written before their row. Nothing another app server still
holds is ever removed: a row whose local file is missing is only removed by the server whose
directory it names.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from django_filepond_server import direct, signals, stores
from django_filepond_server.conf import conf
from django_filepond_server.models import TemporaryUpload, UploadPart, is_valid_upload_id, lock_row
from django_filepond_server.storage import list_files
from django_filepond_server.temporary import (
    LocalTemporaryArea,
    StorageTemporaryArea,
    TemporaryArea,
    area_for,
    get_temporary_area,
    is_older,
)
from django_filepond_server.transfers import delete_bytes, is_expired

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; transfers there take turns
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)


@dataclass
class CleanupReport:
    expired: int = 0
    abandoned: int = 0
    rejected: int = 0
    missing_files: int = 0
    orphan_files: int = 0
    aborted_stores: int = 0
    aborted_transfers: int = 0
    bytes: int = 0
    ids: list[str] = field(default_factory=list)
    #: What could not be done (a storage that could not be reached), one sentence each.
    failures: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (
            self.expired
            + self.abandoned
            + self.rejected
            + self.missing_files
            + self.orphan_files
            + self.aborted_stores
            + self.aborted_transfers
        )


def _candidates() -> Q:
    now = timezone.now()
    return (
        Q(complete=True, created__lt=now - conf.TEMPORARY_LIFETIME)
        | Q(complete=False, updated__lt=now - conf.TRANSFER_IDLE_TIMEOUT)
        | Q(rejected__gt="", updated__lt=now - conf.TRANSFER_IDLE_TIMEOUT)
    )


def _size(area: TemporaryArea, upload_id: str) -> int:
    try:
        return area.size(upload_id)
    except OSError:
        return 0


@contextlib.contextmanager
def _unless_being_written(area: TemporaryArea, upload_id: str) -> Iterator[bool]:
    """Whether nothing writes the upload's bytes now; for a local upload, its ``flock`` is
    held until the block ends, so no chunk starts meanwhile."""
    path = area.local_path(upload_id)
    if fcntl is None or path is None:
        yield True
        return
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        yield True
        return
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False  # a chunk is being written right now
            return
        try:
            yield True
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def cleanup(*, dry_run: bool = False) -> CleanupReport:
    """Remove expired, abandoned and refused uploads, rows whose local file is gone, bytes
    without a row, multipart uploads that an interrupted ``store_upload`` left behind, and
    those of direct uploads that are gone."""
    report = CleanupReport()
    candidate_ids = list(TemporaryUpload.objects.filter(_candidates()).values_list("pk", flat=True))
    for upload_id in candidate_ids:
        _remove_candidate(upload_id, report, dry_run)
    _remove_rows_without_bytes(report, dry_run)
    area = get_temporary_area()
    if isinstance(area, LocalTemporaryArea):
        _remove_orphan_files(area, report, dry_run)
    aliases = set(TemporaryUpload.objects.exclude(area="").values_list("area", flat=True))
    if isinstance(area, StorageTemporaryArea):
        aliases.add(area.alias)
    for alias in sorted(aliases):
        with _step(report, f"look for orphan objects in the temporary storage {alias!r}"):
            _remove_orphan_objects(StorageTemporaryArea(alias), report, dry_run)
    with _step(report, "abort the multipart uploads of interrupted stores"):
        report.aborted_stores += stores.abort_stale(
            older_than=conf.TRANSFER_IDLE_TIMEOUT, dry_run=dry_run
        )
    # After the rows above: the multipart uploads of direct uploads removed just now go too.
    with _step(report, "abort the multipart uploads of direct uploads that are gone"):
        report.aborted_transfers += direct.abort_stale(
            aliases, older_than=conf.TRANSFER_IDLE_TIMEOUT, dry_run=dry_run
        )
    return report


@contextlib.contextmanager
def _step(report: CleanupReport, what: str) -> Iterator[None]:
    """Run one storage-dependent step; a storage that fails it is reported, and the other
    steps still run (what they left is there for the next run)."""
    try:
        yield
    except Exception as exc:
        logger.warning("filepond_cleanup could not %s", what, exc_info=True)
        report.failures.append(f"Could not {what}: {type(exc).__name__}: {exc}")


def _remove_candidate(upload_id: str, report: CleanupReport, dry_run: bool) -> None:
    try:
        area = area_for(TemporaryUpload.objects.only("area").get(pk=upload_id))
    except TemporaryUpload.DoesNotExist:
        return  # reverted or stored meanwhile
    with _unless_being_written(area, upload_id) as idle:
        if not idle:
            return
        with transaction.atomic():
            if not lock_row(TemporaryUpload, upload_id):
                return
            upload = TemporaryUpload.objects.select_for_update().get(pk=upload_id)
            if upload.rejected:
                if upload.updated >= timezone.now() - conf.TRANSFER_IDLE_TIMEOUT:
                    return
                report.rejected += 1
            elif not is_expired(upload):
                return  # a chunk arrived meanwhile
            elif upload.complete:
                report.expired += 1
            else:
                report.abandoned += 1
            report.bytes += _size(area, upload_id)
            report.ids.append(upload_id)
            if not dry_run:
                upload.delete()
                upload.upload_id = upload_id
                transaction.on_commit(lambda: delete_bytes(area, upload_id))
                signals.send_on_commit(signals.upload_expired, upload)


def _remove_rows_without_bytes(report: CleanupReport, dry_run: bool) -> None:
    """Rows of this server's local area whose file is gone (removed by hand, a lost disk) can
    never be restored. Rows of another server's directory are that server's business."""
    local = LocalTemporaryArea(conf.TEMP_DIR)
    rows = TemporaryUpload.objects.filter(area="", node__in=["", local.node]).exclude(
        pk__in=report.ids
    )
    for upload_id in rows.values_list("pk", flat=True).iterator():
        if local.exists(upload_id):
            continue
        with transaction.atomic():
            if not lock_row(TemporaryUpload, upload_id) or local.exists(upload_id):
                continue
            upload = TemporaryUpload.objects.get(pk=upload_id)
            if upload.rejected:
                continue  # refused uploads keep their row, without bytes, until they expire
            report.missing_files += 1
            report.ids.append(upload_id)
            if not dry_run:
                upload.delete()


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


def _remove_orphan_objects(
    area: StorageTemporaryArea, report: CleanupReport, dry_run: bool
) -> None:
    """Objects of a storage area that no row lists: chunks whose request failed before it was
    recorded, the bytes of a crashed request, what a failed delete left. Only objects older
    than the transfer idle timeout go: a chunk object is written before its row is."""
    cutoff = timezone.now() - conf.TRANSFER_IDLE_TIMEOUT
    by_upload: dict[str, list[tuple[str, int, bool]]] = defaultdict(list)
    for entry in list_files(area.storage):
        upload_id, _slash, _rest = entry.name.partition("/")
        if not is_valid_upload_id(upload_id):
            continue  # markers, and anything this app did not write: never touched
        by_upload[upload_id].append((entry.name, entry.size, is_older(entry.modified, cutoff)))
    for upload_id, entries in by_upload.items():
        recorded = set(
            UploadPart.objects.filter(upload_id=upload_id).values_list("name", flat=True)
        )
        has_row = bool(recorded) or TemporaryUpload.objects.filter(pk=upload_id).exists()
        for name, size, old in entries:
            if not old or name in recorded:
                continue
            if has_row and _recorded_again(upload_id, name):
                continue
            report.orphan_files += 1
            report.bytes += size
            if not dry_run:
                area.discard(name)


def _recorded_again(upload_id: str, name: str) -> bool:
    """Re-read under the row lock: a part may have been recorded since the listing."""
    with transaction.atomic():
        if not lock_row(TemporaryUpload, upload_id):
            return False
        return bool(UploadPart.objects.filter(upload_id=upload_id, name=name).exists())
