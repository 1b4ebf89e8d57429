from __future__ import annotations

import re
from typing import TypeVar

import shortuuid
from django.conf import settings
from django.db import connection, models
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from django_filepond_server.storage import stored_upload_storage

_M = TypeVar("_M", bound=models.Model)

#: Upload ids are 22 shortuuid characters; anything else is refused before any lookup.
UPLOAD_ID_RE = re.compile(r"[A-Za-z0-9_-]{22}")


def new_upload_id() -> str:
    """An unguessable id: a random UUID4 (122 random bits) written as 22 shortuuid characters,
    all within ``[A-Za-z0-9]``."""
    return shortuuid.uuid()


def is_valid_upload_id(value: object) -> bool:
    return isinstance(value, str) and UPLOAD_ID_RE.fullmatch(value) is not None


def locked_row(model: type[_M], pk: str) -> _M:
    """The row ``pk`` of ``model``, locked until the end of the current transaction.

    ``select_for_update`` locks it where the database can (PostgreSQL: one statement); SQLite
    cannot, so there :func:`lock_row` takes the write lock first. Raises ``DoesNotExist``.
    """
    if connection.vendor == "sqlite" and not lock_row(model, pk):
        raise model.DoesNotExist  # type: ignore[attr-defined]
    row: _M = model._default_manager.select_for_update().get(pk=pk)
    return row


def lock_row(model: type[models.Model], pk: str) -> bool:
    """Lock the row ``pk`` of ``model`` until the end of the current transaction.

    A no-op UPDATE takes the row lock on PostgreSQL (like ``select_for_update``) and the write
    lock on SQLite (where ``select_for_update`` does nothing and two readers that both go on to
    write would deadlock). Returns whether the row exists.
    """
    pk_name = model._meta.pk.attname
    return bool(model._default_manager.filter(pk=pk).update(**{pk_name: F(pk_name)}))


class TemporaryUpload(models.Model):
    """A file received from FilePond (whole or in chunks) and not yet stored permanently.

    The bytes live in the temporary area under ``upload_id``: in a local directory (``area``
    empty; ``node`` names the machine and directory) or in the storage of the ``STORAGES``
    alias ``area``, as the objects listed by :class:`UploadPart`. For a chunked transfer,
    ``upload_length`` is the size the client declared and ``received`` the contiguous bytes
    written so far (in the local area, as of the last chunk that recorded itself: the file
    is ahead by up to 30 seconds of chunks, see
    :func:`~django_filepond_server.api.received_bytes`). When they are equal the upload's
    checks run (``checking_since`` says since when) and ``complete`` is set once they pass.
    """

    upload_id = models.CharField(_("upload id"), max_length=22, primary_key=True)
    file_name = models.CharField(_("file name"), max_length=255)
    field_name = models.CharField(_("form field"), max_length=255, blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    chunked = models.BooleanField(_("chunked"), default=False)
    upload_length = models.BigIntegerField(_("declared length"), null=True, blank=True)
    received = models.BigIntegerField(_("bytes received"), default=0)
    complete = models.BooleanField(_("complete"), default=False)
    content_type = models.CharField(_("content type"), max_length=255, blank=True)
    detected_type = models.CharField(_("detected type"), max_length=255, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    owner_token = models.CharField(_("owner session token"), max_length=64, blank=True)
    rejected = models.TextField(_("rejected because"), blank=True)
    rejected_status = models.PositiveSmallIntegerField(_("rejection status"), default=0)
    checking_since = models.DateTimeField(_("checks running since"), null=True, blank=True)
    area = models.CharField(_("temporary storage"), max_length=64, blank=True)
    node = models.CharField(_("held by"), max_length=255, blank=True)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    updated = models.DateTimeField(_("last activity"), auto_now=True)

    class Meta:
        verbose_name = _("temporary upload")
        verbose_name_plural = _("temporary uploads")
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["owner"], name="filepond_tmp_owner"),
            models.Index(fields=["owner_token"], name="filepond_tmp_token"),
            models.Index(fields=["updated"], name="filepond_tmp_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.upload_id})"


class UploadPart(models.Model):
    """One object of an upload in a storage temporary area: ``length`` bytes of the upload from
    ``offset`` on, which are the object's bytes from ``skip`` on.

    Object stores cannot append, so every chunk is its own object, written before the row lock
    is taken; a part row is only created, under that lock, for bytes that extend the upload
    contiguously. A whole file is one part at offset 0.
    """

    upload = models.ForeignKey(
        TemporaryUpload, on_delete=models.CASCADE, related_name="parts", verbose_name=_("upload")
    )
    offset = models.BigIntegerField(_("offset"))
    length = models.BigIntegerField(_("length"))
    skip = models.BigIntegerField(_("bytes skipped"), default=0)
    name = models.CharField(_("storage name"), max_length=1024)

    class Meta:
        verbose_name = _("upload part")
        verbose_name_plural = _("upload parts")
        ordering = ["upload", "offset"]
        constraints = [
            models.UniqueConstraint(fields=["upload", "offset"], name="filepond_part_offset")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.offset}+{self.length})"


class StoredUpload(models.Model):
    """A file promoted from the temporary area into the permanent store by ``store_upload``."""

    upload_id = models.CharField(_("upload id"), max_length=22, primary_key=True)
    file = models.FileField(_("file"), storage=stored_upload_storage, max_length=1024)
    original_name = models.CharField(_("original name"), max_length=255)
    size = models.BigIntegerField(_("size"))
    content_type = models.CharField(_("content type"), max_length=255, blank=True)
    detected_type = models.CharField(_("detected type"), max_length=255, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    uploaded = models.DateTimeField(_("uploaded"))
    stored = models.DateTimeField(_("stored"), auto_now_add=True)

    class Meta:
        verbose_name = _("stored upload")
        verbose_name_plural = _("stored uploads")
        ordering = ["-stored"]

    def __str__(self) -> str:
        return f"{self.file.name} ({self.upload_id})"


class DirectTransfer(models.Model):
    """A temporary upload whose bytes go from the browser straight to the temporary area:
    to S3 through presigned requests, or to the app's own signed target where there is no S3.

    ``key`` is the name the client writes and completes: an object key for S3, the upload's
    name in the area otherwise. ``part_size`` is 0 for a file sent in one request, else the
    size of every part but the last; ``multipart_id`` is S3's id of the multipart upload.
    """

    upload = models.OneToOneField(
        TemporaryUpload,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="direct",
        verbose_name=_("upload"),
    )
    target = models.CharField(_("target"), max_length=8)
    key = models.CharField(_("key"), max_length=1024)
    part_size = models.BigIntegerField(_("part size"), default=0)
    multipart_id = models.CharField(_("multipart upload id"), max_length=1024, blank=True)

    class Meta:
        verbose_name = _("direct transfer")
        verbose_name_plural = _("direct transfers")

    def __str__(self) -> str:
        return f"{self.key} ({self.target})"
