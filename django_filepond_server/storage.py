"""Where the permanent store comes from: a ``STORAGES`` alias named by a setting."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import Storage, storages
from django.utils.functional import LazyObject

from django_filepond_server.conf import conf


def get_permanent_storage() -> Storage:
    """The storage backend of the ``STORAGES`` alias named by ``FILEPOND_SERVER_STORAGE``."""
    return storages[conf.STORAGE]


class _PermanentStorage(LazyObject):
    """Stands for the configured backend, looked up again on every attribute access.

    ``StoredUpload.file`` uses it so that the model never pins one storage object (nor puts one
    in a migration) and a changed setting, ``override_settings`` included, takes effect at once.
    """

    def _setup(self) -> None:
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
