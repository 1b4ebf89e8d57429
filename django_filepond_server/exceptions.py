"""Errors of the HTTP endpoints (shown to the user by FilePond) and of the Python API."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException

# --- Python API -------------------------------------------------------------------------------


class FilePondServerError(Exception):
    """Base class of the errors raised by :mod:`django_filepond_server.api`."""


class UploadNotFound(FilePondServerError, ObjectDoesNotExist, LookupError):
    """No upload with that id exists (or the id is not a valid upload id).

    It is an :class:`~django.core.exceptions.ObjectDoesNotExist` (so ``except
    ObjectDoesNotExist`` catches it) and a :class:`LookupError`.
    """


class UploadIncomplete(FilePondServerError, ValueError):
    """The temporary upload has not received all of its bytes yet."""


class UploadNotOwned(FilePondServerError, PermissionError):
    """The upload belongs to another user or session than the one given."""


class StorageFailed(FilePondServerError):
    """The permanent store (a remote backend, a full disk...) failed; the original error is
    chained as ``__cause__``."""


class UploadRejected(FilePondServerError, ValueError):
    """The upload breaks a rule (size, type, extension) or a validator refused it.

    ``status_code`` is what the HTTP endpoints answer with; the message is for the user.
    """

    def __init__(self, message: str, status_code: int = 415) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


# --- HTTP -------------------------------------------------------------------------------------


class BadUploadRequest(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = _("The upload request is not valid.")
    default_code = "bad_request"


class InvalidUploadId(BadUploadRequest):
    default_detail = _("That is not a valid upload id.")
    default_code = "invalid_upload_id"


class UnknownUpload(APIException):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = _("No upload with that id was found.")
    default_code = "not_found"


class UploadConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The upload is not in a state that allows this request.")
    default_code = "conflict"


class UploadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The file is too large.")
    default_code = "too_large"


class PermissionRefused(APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = _("You are not allowed to do that.")
    default_code = "permission_denied"


class TooManyUploads(APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = _("You have too many temporary uploads.")
    default_code = "too_many_uploads"


class LengthRequired(APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_detail = _("The request needs a Content-Length header.")
    default_code = "length_required"


class WrongContentType(APIException):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_detail = _("The request body has the wrong content type.")
    default_code = "unsupported_media_type"


class RangeNotSatisfiable(APIException):
    status_code = status.HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE
    default_detail = _("The requested range is outside the file.")
    default_code = "range_not_satisfiable"


class StorageUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The server could not read or write the file storage. Try again later.")
    default_code = "storage_unavailable"

    def __init__(self, detail: str | None = None, code: str | None = None) -> None:
        super().__init__(detail, code)
        self.wait = 1  # DRF turns this into a Retry-After header


class UploadElsewhere(APIException):
    """A local temporary area on another app server holds the upload (no shared storage)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("This upload is held by another server. Try again in a moment.")
    default_code = "upload_elsewhere"

    def __init__(self, detail: str | None = None, code: str | None = None) -> None:
        super().__init__(detail, code)
        self.wait = 1  # DRF turns this into a Retry-After header


class UploadBeingChecked(APIException):
    """The upload has all its bytes and its checks (type, rules, validators) are running."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The file is still being checked. Try again in a moment.")
    default_code = "being_checked"

    def __init__(self, detail: str | None = None, code: str | None = None) -> None:
        super().__init__(detail, code)
        self.wait = 2


class ServerBusy(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The server is busy with other uploads. Try again in a moment.")
    default_code = "busy"

    def __init__(self, detail: str | None = None, code: str | None = None) -> None:
        super().__init__(detail, code)
        self.wait = 1  # DRF turns this into a Retry-After header
