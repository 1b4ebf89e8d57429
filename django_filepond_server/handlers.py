"""A Django upload handler that streams multipart file parts straight into the temporary area."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers, StopUpload

from django_filepond_server.exceptions import UploadRejected
from django_filepond_server.models import new_upload_id
from django_filepond_server.names import safe_name
from django_filepond_server.rules import rules_for
from django_filepond_server.temporary import TemporaryArea
from django_filepond_server.transfers import delete_bytes, storage_failures


class StagedFile(UploadedFile):  # type: ignore[type-arg]
    """A file part already written to the temporary area under ``upload_id``."""

    def __init__(self, upload_id: str, name: str, size: int, content_type: str | None) -> None:
        super().__init__(file=None, name=name, content_type=content_type, size=size)
        self.upload_id = upload_id

    def close(self) -> None:
        pass


class TemporaryAreaUploadHandler(FileUploadHandler):
    """Writes each file part to the temporary area in the pieces the parser hands over.

    Nothing is held in memory beyond one parser chunk. The upload stops (and the connection is
    not drained) as soon as a second file part starts or the byte count passes ``max_size``;
    the caller reads :attr:`refusal` and removes :attr:`staged_ids`.
    """

    TOO_LARGE = "too_large"
    SEVERAL_FILES = "several_files"

    REJECTED = "rejected"

    def __init__(self, area: TemporaryArea, request: Any = None) -> None:
        super().__init__(request)
        self.area = area
        self.max_size = 0
        self.staged_ids: list[str] = []
        self.refusal: str | None = None
        self.rejection: UploadRejected | None = None
        self._file: Any = None
        self._written = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        if self.staged_ids:
            self.refusal = self.SEVERAL_FILES
            raise StopUpload(connection_reset=True)
        # The field's rules are known from the part's headers, before any byte is stored.
        rules = rules_for(self.field_name)
        self.max_size = rules.max_size
        try:
            rules.check_name(safe_name(self.file_name))
        except UploadRejected as exc:
            self.refusal, self.rejection = self.REJECTED, exc
            raise StopUpload(connection_reset=True) from None
        upload_id = new_upload_id()
        self.staged_ids.append(upload_id)
        self._file = self.area.create(upload_id)
        self._written = 0
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self._written += len(raw_data)
        if self._written > self.max_size:
            self.refusal = self.TOO_LARGE
            self._abandon()
            raise StopUpload(connection_reset=True)
        self._file.write(raw_data)

    def file_complete(self, file_size: int) -> StagedFile:
        file, self._file = self._file, None
        with storage_failures(self.area, self.staged_ids[-1]):
            file.close()  # keeps the bytes (a storage area saves them now)
        return StagedFile(self.staged_ids[-1], self.file_name or "", file_size, self.content_type)

    def upload_interrupted(self) -> None:
        self._abandon()

    def _abandon(self) -> None:
        """Stop writing the current part without keeping it."""
        if self._file is not None:
            abandon = getattr(self._file, "abandon", None)
            (abandon or self._file.close)()
            self._file = None

    def discard(self, keep: str | None = None) -> None:
        """Remove every file part this handler wrote, but ``keep``."""
        self._abandon()
        for upload_id in self.staged_ids:
            if upload_id != keep:
                delete_bytes(self.area, upload_id)
