"""The temporary upload area: where bytes live between the first byte and ``store_upload``.

Two kinds exist. :class:`LocalTemporaryArea` keeps one file per upload in a directory of the
app server (``FILEPOND_SERVER_TEMP_DIR``) and appends chunks in place. :class:`StorageTemporaryArea`
keeps uploads in any Django storage (``FILEPOND_SERVER_TEMP_STORAGE`` names its ``STORAGES``
alias), shared by every app server: object stores cannot append, so each chunk is an object of
its own and the database lists the parts (:class:`~django_filepond_server.models.UploadPart`).

Each upload row records the area that holds its bytes (:func:`area_for`), so uploads in flight
when the setting changes finish where they started. Callers validate upload ids before they
reach an area.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import secrets
import socket
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, BinaryIO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages

from django_filepond_server.conf import conf
from django_filepond_server.storage import list_files, open_stored

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: chunks of one upload take turns per process
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)
_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()

#: Chunk bodies up to this size are spooled in memory before they go to a storage; larger ones
#: go to a temporary file (``FILE_UPLOAD_TEMP_DIR``).
SPOOL_IN_MEMORY = 1024 * 1024
#: Objects up to this size go to S3 with one ``PutObject``; larger ones (whole files sent
#: without chunks) through the storage's ``save()``, a multipart upload.
PUT_LIMIT = 64 * 1024 * 1024


class TemporaryArea(ABC):
    """Byte storage for uploads in progress, keyed by upload id."""

    #: The ``STORAGES`` alias recorded on the upload row; empty for the local directory.
    alias = ""

    @abstractmethod
    def create(self, upload_id: str) -> BinaryIO:
        """A writer for the whole file of a new upload: ``write`` the bytes, then ``close``
        to keep them. On failure, :meth:`delete` removes what was written."""

    @abstractmethod
    def open(self, upload_id: str) -> BinaryIO:
        """The bytes of ``upload_id`` for reading, with ``seek``. ``FileNotFoundError`` if
        the area holds none."""

    def open_whole(self, upload_id: str, size: int) -> BinaryIO:
        """The bytes of a whole file that :meth:`create` wrote, before its row exists."""
        return self.open(upload_id)

    @abstractmethod
    def delete(self, upload_id: str) -> None:
        """Remove everything the area holds for ``upload_id``; no error if nothing is left."""

    @abstractmethod
    def exists(self, upload_id: str) -> bool:
        """Whether the area holds bytes of ``upload_id``."""

    @abstractmethod
    def size(self, upload_id: str) -> int:
        """Bytes the area holds for ``upload_id``."""

    def local_path(self, upload_id: str) -> str | None:
        """A filesystem path to the bytes, when they are one file on a local disk (enables
        moves)."""
        return None


class LocalTemporaryArea(TemporaryArea):
    """One file per upload in a local directory; chunks are appended in place.

    A chunk is written while its writer holds an exclusive ``flock`` on the upload's file, so
    requests for the same upload take turns without holding any database lock while a body
    arrives.
    """

    suffix = ".upload"

    def __init__(self, directory: str) -> None:
        self.directory = directory

    @property
    def node(self) -> str:
        """Which machine and directory hold this area's files, as recorded on upload rows."""
        return f"{socket.gethostname()}:{os.path.realpath(self.directory)}"[:255]

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

    @contextlib.contextmanager
    def locked(self, upload_id: str) -> Iterator[BinaryIO]:
        """The upload's file, open for writing and exclusively ``flock``-ed until the block
        ends. ``FileNotFoundError`` if this area does not hold it."""
        with open(self.local_path(upload_id), "r+b") as f, _flocked(f, upload_id):
            yield f

    def settled_size(self, upload_id: str) -> int | None:
        """The size of the upload's file once no chunk is being written to it (waiting for
        the one that is), or ``None`` if this area does not hold it."""
        try:
            f = open(self.local_path(upload_id), "rb")  # noqa: SIM115  # closed just below
        except FileNotFoundError:
            return None
        with f, _flocked(f, upload_id, shared=True):
            return os.fstat(f.fileno()).st_size

    @staticmethod
    def write_at(f: BinaryIO, position: int, pieces: Iterable[bytes]) -> int:
        """Write ``pieces`` at ``position`` of the locked file ``f``, dropping anything after
        ``position`` first. If reading ``pieces`` raises, the file is cut back to
        ``position`` before the exception propagates, so a failed chunk leaves no trace."""
        written = 0
        f.seek(position)
        f.truncate()
        try:
            for piece in pieces:
                f.write(piece)
                written += len(piece)
            f.flush()
        except BaseException:
            f.seek(position)
            f.truncate()
            raise
        return written

    def open(self, upload_id: str) -> BinaryIO:
        return open(self.local_path(upload_id), "rb")

    def delete(self, upload_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.local_path(upload_id))

    def exists(self, upload_id: str) -> bool:
        return os.path.exists(self.local_path(upload_id))

    def size(self, upload_id: str) -> int:
        return os.path.getsize(self.local_path(upload_id))


@contextlib.contextmanager
def _flocked(f: IO[bytes], upload_id: str, shared: bool = False) -> Iterator[None]:
    """Hold the ``flock`` of upload ``upload_id``'s open file ``f`` for the block: exclusive
    for a writer, ``shared`` for a reader of its size."""
    if fcntl is None:  # pragma: no cover - Windows: one lock per upload in this process
        with _process_locks_guard:
            lock = _process_locks.setdefault(upload_id, threading.Lock())
        with lock:
            yield
        return
    fcntl.flock(f.fileno(), fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@dataclass(frozen=True)
class Part:
    """``length`` bytes of an upload from ``offset`` on: the object ``name`` from ``skip`` on."""

    name: str
    offset: int
    length: int
    skip: int = 0


class StorageTemporaryArea(TemporaryArea):
    """Uploads in a Django storage shared by every app server (S3 and other object stores,
    or any storage that can save, open and delete files).

    Every object of upload ``<id>`` is named ``<id>/...``: ``<id>/whole`` for a file that
    arrived whole, ``<id>/<offset>-<random>`` for a chunk. Chunk objects are written before the
    upload's row is locked; the row's :class:`~django_filepond_server.models.UploadPart` rows
    say which of them make up the upload.
    """

    def __init__(self, alias: str) -> None:
        self.alias = alias

    @property
    def storage(self) -> Storage:
        return storages[self.alias]

    @staticmethod
    def whole_name(upload_id: str) -> str:
        return f"{upload_id}/whole"

    @staticmethod
    def chunk_name(upload_id: str, offset: int) -> str:
        return f"{upload_id}/{offset:015d}-{secrets.token_hex(4)}"

    def create(self, upload_id: str) -> BinaryIO:
        return _StorageWriter(self, self.whole_name(upload_id))  # type: ignore[return-value]

    def save(self, name: str, content: IO[bytes]) -> None:
        """Save ``content`` (seekable, at its start) as ``name`` exactly.

        A storage that saved under another name (because the name was taken) is refused: the
        name is random or the upload's own, so that can only mean someone else's object. On
        S3 an object of up to :data:`PUT_LIMIT` bytes is written with one ``PutObject``
        under that name.
        """
        storage = self.storage
        if _writes_s3_objects(storage) and _length(content) <= PUT_LIMIT:
            # One PutObject from the spooled file. django-storages' save() starts a pool of
            # transfer threads for every object, whose memory glibc keeps: a worker taking
            # chunk after chunk grew by about 50 MiB that way.
            from storages.utils import clean_name

            parameters = storage.get_object_parameters(name)  # type: ignore[attr-defined]
            parameters.setdefault("ContentType", "application/octet-stream")
            if "ACL" not in parameters and getattr(storage, "default_acl", None):
                parameters["ACL"] = storage.default_acl  # type: ignore[attr-defined]
            storage.connection.meta.client.put_object(  # type: ignore[attr-defined]
                Bucket=storage.bucket_name,  # type: ignore[attr-defined]
                Key=storage._normalize_name(clean_name(name)),  # type: ignore[attr-defined]
                Body=content,
                **parameters,
            )
            return
        saved = storage.save(name, File(content, name=name))
        if saved != name:
            with contextlib.suppress(Exception):
                self.storage.delete(saved)
            raise FileExistsError(f"the temporary storage already holds {name!r}")

    def save_chunk(self, upload_id: str, offset: int, pieces: Iterable[bytes]) -> Part:
        """Spool a chunk body (bounded in memory) and save it as an object of its own; only a
        body that arrived whole becomes an object. Returns the part it could become."""
        name = self.chunk_name(upload_id, offset)
        with _spool() as spool:
            length = 0
            for piece in pieces:
                spool.write(piece)
                length += len(piece)
            spool.seek(0)
            try:
                self.save(name, spool)
            except BaseException:
                self.discard(name)  # a backend may leave a partial object behind
                raise
        return Part(name, offset, length)

    def discard(self, name: str) -> None:
        """Delete the object ``name``, logging (not raising) a failure: cleanup finds it later."""
        try:
            self.storage.delete(name)
        except Exception:
            logger.warning("Could not delete %s from the temporary storage %r", name, self.alias)

    def parts(self, upload_id: str) -> list[Part]:
        from django_filepond_server.models import UploadPart

        rows = UploadPart.objects.filter(upload_id=upload_id).order_by("offset")
        return [Part(row.name, row.offset, row.length, row.skip) for row in rows]

    def open_whole(self, upload_id: str, size: int) -> BinaryIO:
        return PartsReader(self.storage, [Part(self.whole_name(upload_id), 0, size)])  # type: ignore[return-value]

    def open(self, upload_id: str) -> BinaryIO:
        parts = self.parts(upload_id)
        if not parts and not _empty(upload_id):
            raise FileNotFoundError(upload_id)
        reader = PartsReader(self.storage, parts)
        # Reach the storage now: a storage that is down fails here, before an answer starts.
        reader.open_part()
        return reader  # type: ignore[return-value]

    def names(self, upload_id: str) -> list[str]:
        """Every object the storage holds for ``upload_id``, listed or not."""
        return [entry.name for entry in list_files(self.storage, upload_id + "/")]

    def delete(self, upload_id: str) -> None:
        for name in self.names(upload_id):
            self.storage.delete(name)

    def exists(self, upload_id: str) -> bool:
        return bool(self.parts(upload_id)) or _empty(upload_id)

    def size(self, upload_id: str) -> int:
        return sum(part.length for part in self.parts(upload_id))


def _empty(upload_id: str) -> bool:
    """Whether ``upload_id`` is an upload of no bytes yet: in a storage area it has no
    object at all (an empty file sent in chunks is one empty PATCH), which is not missing."""
    from django_filepond_server.models import TemporaryUpload

    return bool(TemporaryUpload.objects.filter(pk=upload_id, received=0).exists())


class _StorageWriter(io.RawIOBase):
    """Collects a whole file in a spool and saves it to the storage on ``close``."""

    def __init__(self, area: StorageTemporaryArea, name: str) -> None:
        self._area = area
        self._name = name
        self._spool = _spool()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._spool.write(data)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._spool.seek(0)
            self._area.save(self._name, self._spool)
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Drop what was written; nothing reaches the storage."""
        self._spool.close()
        super().close()

    def __exit__(self, *exc_info: Any) -> None:
        if exc_info[0] is None:
            self.close()
        else:
            self.abandon()


def _writes_s3_objects(storage: Storage) -> bool:
    """Whether ``storage`` is django-storages' S3 backend (or one like it)."""
    return all(
        hasattr(storage, attribute)
        for attribute in ("bucket_name", "connection", "_normalize_name", "get_object_parameters")
    )


def _length(content: IO[bytes]) -> int:
    """The bytes left in the seekable ``content``, which stays where it was."""
    start = content.tell()
    end = content.seek(0, io.SEEK_END)
    content.seek(start)
    return end - start


def _spool() -> tempfile.SpooledTemporaryFile[bytes]:
    return tempfile.SpooledTemporaryFile(
        max_size=SPOOL_IN_MEMORY, dir=settings.FILE_UPLOAD_TEMP_DIR
    )


class PartsReader(io.RawIOBase):
    """The parts of an upload read as one stream, any position reachable with ``seek``.

    Only the part being read is open at a time, and it is read as a stream from the storage
    (ranged requests on S3), so memory stays flat and ``Range`` works across parts.
    """

    def __init__(self, storage: Storage, parts: list[Part]) -> None:
        self._storage = storage
        self._parts = parts
        self._size = parts[-1].offset + parts[-1].length if parts else 0
        self._position = 0
        self._current: tuple[int, BinaryIO] | None = None  # (index of the part, its stream)
        self._left = 0  # bytes left to read from the current stream

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence == io.SEEK_END:
            offset += self._size
        if offset < 0:
            raise ValueError("negative seek position")
        if offset != self._position:
            self._close_current()
            self._position = offset
        return self._position

    def open_part(self) -> None:
        """Open the part that holds the current position (reading would, on the first read)."""
        if self._current is None and self._position < self._size:
            self._open_at(self._position)

    def _open_at(self, position: int) -> None:
        for index, part in enumerate(self._parts):
            if part.offset <= position < part.offset + part.length:
                stream = open_stored(part.name, self._storage)
                try:
                    stream.seek(part.skip + position - part.offset)
                except BaseException:
                    stream.close()
                    raise
                self._current = (index, stream)
                self._left = part.offset + part.length - position
                return
        raise FileNotFoundError(f"no part holds byte {position}")

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left for a negative ``size``), across parts."""
        if size is None or size < 0:
            size = self._size - self._position
        size = min(size, self._size - self._position)
        pieces = []
        while size > 0:
            if self._current is None:
                self._open_at(self._position)
            assert self._current is not None
            data = self._current[1].read(min(size, self._left))
            if not data:
                raise OSError(f"part {self._parts[self._current[0]].name} ended early")
            pieces.append(data)
            size -= len(data)
            self._position += len(data)
            self._left -= len(data)
            if not self._left:
                self._close_current()
        return b"".join(pieces)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _close_current(self) -> None:
        if self._current is not None:
            self._current[1].close()
            self._current = None

    def close(self) -> None:
        self._close_current()
        super().close()


def get_temporary_area() -> TemporaryArea:
    """The area new uploads go to: ``FILEPOND_SERVER_TEMP_STORAGE``'s storage when set,
    otherwise the directory ``FILEPOND_SERVER_TEMP_DIR``."""
    alias = conf.TEMP_STORAGE
    if alias:
        return StorageTemporaryArea(alias)
    return LocalTemporaryArea(conf.TEMP_DIR)


def area_for(upload: Any) -> TemporaryArea:
    """The area that holds ``upload``'s bytes: the one it was created in."""
    if upload.area:
        return StorageTemporaryArea(upload.area)
    return LocalTemporaryArea(conf.TEMP_DIR)


def is_older(modified: datetime | None, than: datetime) -> bool:
    """Whether a file's modification time (``None`` when unknown) is before ``than``."""
    return modified is not None and modified < than
