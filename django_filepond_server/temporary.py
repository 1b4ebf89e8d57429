"""The temporary upload area: where bytes live between the first byte and ``store_upload``.

It sits behind :class:`TemporaryArea`, the interface another implementation (object storage
shared by several app servers) will provide; today :func:`get_temporary_area` always returns
the local one. Callers validate upload ids before they reach it.
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import BinaryIO

from django_filepond_server.conf import conf


class TemporaryArea(ABC):
    """Byte storage for uploads in progress, keyed by upload id."""

    @abstractmethod
    def create(self, upload_id: str) -> BinaryIO:
        """Create an empty file for ``upload_id`` and return it open for writing at offset 0."""

    @abstractmethod
    def append(self, upload_id: str, offset: int, chunks: Iterable[bytes]) -> int:
        """Write ``chunks`` at ``offset``, dropping anything after ``offset`` first.

        Returns the number of bytes written. If reading ``chunks`` raises, the file is cut back
        to ``offset`` before the exception propagates, so a failed chunk leaves no trace.
        """

    @abstractmethod
    def size(self, upload_id: str) -> int:
        """Bytes held for ``upload_id``."""

    @abstractmethod
    def open(self, upload_id: str) -> BinaryIO:
        """Open the bytes of ``upload_id`` for reading."""

    @abstractmethod
    def delete(self, upload_id: str) -> None:
        """Remove ``upload_id``'s bytes; no error if they are already gone."""

    @abstractmethod
    def exists(self, upload_id: str) -> bool:
        """Whether bytes are held for ``upload_id``."""

    def local_path(self, upload_id: str) -> str | None:
        """A filesystem path to the bytes, when they are on a local disk (enables moves)."""
        return None


class LocalTemporaryArea(TemporaryArea):
    """One file per upload in a local directory; chunks are appended in place."""

    suffix = ".upload"

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def local_path(self, upload_id: str) -> str:
        return os.path.join(self.directory, upload_id + self.suffix)

    def create(self, upload_id: str) -> BinaryIO:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        fd = os.open(
            self.local_path(upload_id),
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
            0o600,
        )
        return os.fdopen(fd, "wb")

    def append(self, upload_id: str, offset: int, chunks: Iterable[bytes]) -> int:
        written = 0
        with open(self.local_path(upload_id), "r+b") as f:
            f.seek(offset)
            f.truncate()
            try:
                for chunk in chunks:
                    f.write(chunk)
                    written += len(chunk)
            except BaseException:
                f.seek(offset)
                f.truncate()
                raise
        return written

    def size(self, upload_id: str) -> int:
        return os.path.getsize(self.local_path(upload_id))

    def open(self, upload_id: str) -> BinaryIO:
        return open(self.local_path(upload_id), "rb")

    def delete(self, upload_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.local_path(upload_id))

    def exists(self, upload_id: str) -> bool:
        return os.path.exists(self.local_path(upload_id))


def get_temporary_area() -> TemporaryArea:
    """The temporary area configured by ``FILEPOND_SERVER_TEMP_DIR``."""
    return LocalTemporaryArea(conf.TEMP_DIR)
