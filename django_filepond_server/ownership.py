"""Who a temporary upload belongs to: the user when authenticated, otherwise the session.

The session holds a random owner token (created on the first upload, so the session is
created if there is none yet). Django keeps session data when a visitor logs in, so uploads
made before logging in stay theirs afterwards.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from django_filepond_server import exceptions
from django_filepond_server.conf import conf
from django_filepond_server.models import TemporaryUpload

SESSION_KEY = "_filepond_server_owner"


@dataclass(frozen=True)
class Owner:
    """The requester as an owner: a user id, a session token, or both."""

    user_id: Any = None
    token: str = ""

    @property
    def known(self) -> bool:
        return self.user_id is not None or bool(self.token)

    def uploads(self) -> Q:
        """Filter for the temporary uploads this owner made (as a user, and in this session
        before logging in)."""
        session = Q(owner_token=self.token, owner__isnull=True) if self.token else Q(pk__in=[])
        if self.user_id is not None:
            return Q(owner_id=self.user_id) | session
        return session

    def owns(self, upload: TemporaryUpload) -> bool:
        if upload.owner_id is not None and upload.owner_id == self.user_id:
            return True
        return bool(
            upload.owner_token
            and self.token
            and constant_time_compare(upload.owner_token, self.token)
        )


def owner_of(request: Any, *, create: bool = False) -> Owner:
    """The owner a request stands for; ``create`` starts the session token if missing."""
    user = getattr(request, "user", None)
    user_id = user.pk if user is not None and user.is_authenticated else None
    session = getattr(request, "session", None)
    token = ""
    if session is not None:
        token = session.get(SESSION_KEY, "")
        if not token and create:
            token = _new_token(request)
            session[SESSION_KEY] = token
    return Owner(user_id, token)


def _new_token(request: Any) -> str:
    """A new owner token; the same for every request that carries the same CSRF cookie.

    A visitor without a session who picks several files at once sends several uploads before
    any session cookie comes back; each creates a session and the browser keeps only one.
    Deriving the token from the CSRF cookie (which the page set, as FilePond needs its
    token) gives all those sessions the same owner, so no upload is lost.
    """
    cookies = getattr(request, "COOKIES", {})
    csrf_cookie = "" if settings.CSRF_USE_SESSIONS else cookies.get(settings.CSRF_COOKIE_NAME, "")
    if csrf_cookie:
        return salted_hmac(SESSION_KEY, csrf_cookie, algorithm="sha256").hexdigest()[:43]
    return secrets.token_urlsafe(32)


def owner_for_new_upload(request: Any) -> Owner:
    """The owner of an upload this request starts; refused if there is no way to know one."""
    owner = owner_of(request, create=True)
    if conf.CHECK_OWNER and not owner.known:
        raise exceptions.PermissionRefused(
            _("Uploads need a session or a logged-in user; enable cookies and try again.")
        )
    return owner


def may_access(request: Any, upload: TemporaryUpload) -> bool:
    """Whether ``request`` may patch, resume, revert or restore ``upload``."""
    return not conf.CHECK_OWNER or owner_of(request).owns(upload)


def check_limits(owner: Owner, new_bytes: int) -> int:
    """Refuse a new upload of ``new_bytes`` that would pass the owner's limits; returns the
    bytes the owner may still add after it."""
    if not owner.known:
        return conf.MAX_BYTES_PER_OWNER
    now = timezone.now()
    live = Q(rejected="") & (
        Q(complete=True, created__gte=now - conf.TEMPORARY_LIFETIME)
        | Q(complete=False, updated__gte=now - conf.TRANSFER_IDLE_TIMEOUT)
    )
    totals = TemporaryUpload.objects.filter(owner.uploads() & live).aggregate(
        count=Count("pk"), size=Coalesce(Sum(Coalesce("upload_length", "received")), 0)
    )
    if totals["count"] >= conf.MAX_UPLOADS_PER_OWNER:
        raise exceptions.TooManyUploads(
            _(
                "You already have %(count)d temporary uploads, the most allowed; submit or "
                "remove some first."
            )
            % {"count": totals["count"]}
        )
    if totals["size"] + new_bytes > conf.MAX_BYTES_PER_OWNER:
        raise exceptions.UploadTooLarge(
            _(
                "This file would take your temporary uploads past the limit of %(max)d "
                "bytes; submit or remove some first."
            )
            % {"max": conf.MAX_BYTES_PER_OWNER}
        )
    return int(conf.MAX_BYTES_PER_OWNER - totals["size"] - new_bytes)
