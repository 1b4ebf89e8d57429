"""Where the permanent store comes from: a ``STORAGES`` alias named by a setting."""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from django.core.files.storage import Storage, storages
from django.utils.functional import LazyObject

from django_filepond_server.conf import conf


def get_permanent_storage() -> Storage:
    """The storage backend of the ``STORAGES`` alias named by ``FILEPOND_SERVER_STORAGE``."""
    return storages[conf.STORAGE]


class _PermanentStorage(LazyObject):  # type: ignore[type-arg]
    """Stands for the configured backend, looked up again on every attribute access.

    ``StoredUpload.file`` uses it so that the model never pins one storage object (nor puts one
    in a migration) and a changed setting, ``override_settings`` included, takes effect at once.
    """

    def _setup(self) -> None:  # pragma: no cover  (only LazyObject's dunder proxies call it)
        self._wrapped = get_permanent_storage()

    def __getattr__(self, name: str) -> Any:
        return getattr(get_permanent_storage(), name)

    # FileField only checks isinstance(storage, Storage); answering that without a lookup keeps
    # a missing alias a system check error rather than an import-time crash.
    @property  # type: ignore[misc]
    def __class__(self) -> type[Storage]:  # type: ignore[override]
        return Storage

    def __reduce__(self) -> Any:
        return (stored_upload_storage, ())


_proxy = _PermanentStorage()


def stored_upload_storage() -> Storage:
    """Callable for ``FileField(storage=...)``: the permanent store, resolved lazily."""
    return _proxy  # type: ignore[return-value]


class _LazyRangeReader(io.RawIOBase):
    """Reads an S3 object as a stream, starting where ``seek`` (before the first read) says.

    django-storages' ``S3Storage.open`` downloads the whole object first (into memory unless
    ``max_memory_size`` is set); this asks S3 for the bytes from the offset on, as they are read.
    """

    def __init__(self, obj: Any) -> None:
        self._obj = obj
        self._offset = 0
        self._body: Any = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False  # only positioning before the first read, see seek()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self._body is not None or whence != io.SEEK_SET:
            raise io.UnsupportedOperation("seek is only possible before reading")
        self._offset = offset
        return offset

    def read(self, size: int = -1) -> bytes:
        if self._body is None:
            extra = {"Range": f"bytes={self._offset}-"} if self._offset else {}
            self._body = self._obj.get(**extra)["Body"]
        return self._body.read(None if size is None or size < 0 else size)  # type: ignore[no-any-return]

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
        super().close()


class _SFTPReader(io.RawIOBase):
    """Reads a remote SFTP file in pipelined requests, a bounded window at a time.

    paramiko's plain ``read`` waits for the server after every request (a few MB/s); ``readv``
    sends the requests for a whole window at once, and only that window is held in memory.
    """

    window = 4 * 1024 * 1024

    def __init__(self, remote: Any) -> None:
        self._remote = remote
        self._size = remote.stat().st_size
        self._position = 0  # of the next byte the caller reads
        self._buffer = b""  # the bytes from _position on that were already fetched

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False  # positioning is still possible, see seek(); FileResponse need not know

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET:
            raise io.UnsupportedOperation("only absolute positions")
        self._position, self._buffer = offset, b""
        return offset

    def read(self, size: int = -1) -> bytes:
        remaining = self._size - self._position
        size = remaining if size is None or size < 0 else min(size, remaining)
        if size <= 0:
            return b""
        if len(self._buffer) < size:
            start = self._position + len(self._buffer)
            length = min(max(size - len(self._buffer), self.window), self._size - start)
            self._buffer += b"".join(self._remote.readv([(start, length)]))
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        self._position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._remote.close()
        super().close()


def open_stored(name: str, storage: Storage | None = None) -> BinaryIO:
    """Open a stored file for reading as a stream.

    Two django-storages backends read a whole file on ``open()``: S3 (into a spooled temporary
    file, in memory by default) and SFTP (into memory). For those the backend's own client is
    used to stream; every other storage is opened the usual way.
    """
    storage = storage or get_permanent_storage()
    bucket = getattr(storage, "bucket", None)
    normalize = getattr(storage, "_normalize_name", None)
    if bucket is not None and normalize is not None:
        from storages.utils import clean_name

        obj = bucket.Object(normalize(clean_name(name)))
        try:
            obj.load()  # fails now (missing object, no access) rather than mid-response
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(name) from exc
            raise
        return _LazyRangeReader(obj)  # type: ignore[return-value]
    remote_path = getattr(storage, "_remote_path", None)
    if remote_path is not None and hasattr(storage, "sftp"):
        return _SFTPReader(storage.sftp.open(remote_path(name), "rb"))  # type: ignore[return-value]
    return storage.open(name, "rb")  # type: ignore[return-value]


@dataclass(frozen=True)
class StoredFile:
    """A file found in a storage: its name, size and modification time (``None`` if the
    storage cannot say)."""

    name: str
    size: int
    modified: datetime | None


def list_files(storage: Storage, prefix: str = "") -> Iterator[StoredFile]:
    """Every file under the directory ``prefix`` (``""`` for all, else ending in ``/``),
    recursively.

    On S3 one paginated listing gives names, sizes and times; every other storage is walked
    with ``listdir``, ``size`` and ``get_modified_time``. A directory that does not exist is
    empty.
    """
    bucket = getattr(storage, "bucket", None)
    normalize = getattr(storage, "_normalize_name", None)
    if bucket is not None and normalize is not None:
        from storages.utils import clean_name

        location = normalize("")  # the storage's prefix, ending in "/" (or empty)
        root = normalize(clean_name(prefix)) if prefix else location
        if root and not root.endswith("/"):
            root += "/"
        cut = len(location)
        paginator = bucket.meta.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket.name, Prefix=root):
            for entry in page.get("Contents", []):
                yield StoredFile(entry["Key"][cut:], entry["Size"], entry["LastModified"])
        return
    try:
        directories, files = storage.listdir(prefix)
    except FileNotFoundError:
        return
    for name in files:
        path = posixpath.join(prefix, name)
        try:
            modified: datetime | None = storage.get_modified_time(path)
        except (NotImplementedError, FileNotFoundError):
            modified = None
        try:
            size = storage.size(path)
        except FileNotFoundError:  # removed meanwhile
            continue
        yield StoredFile(path, size, modified)
    for directory in directories:
        yield from list_files(storage, posixpath.join(prefix, directory) + "/")
