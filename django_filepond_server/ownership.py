"""Who a temporary upload belongs to: the user when authenticated, otherwise the session.

The session holds a random owner token (created on the first upload, so the session is
created if there is none yet). Django keeps session data when a visitor logs in, so uploads
made before logging in stay theirs afterwards.
"""

from __future__ import annotations

import functools
import secrets
import zlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
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
        # The secret the CSRF middleware read from the cookie: an old-style masked cookie (64
        # characters) and the secret Django replaces it with in its answer are one visitor.
        secret = getattr(request, "META", {}).get("CSRF_COOKIE") or csrf_cookie
        return salted_hmac(SESSION_KEY, secret, algorithm="sha256").hexdigest()[:43]
    return secrets.token_urlsafe(32)


def owner_for_new_upload(request: Any) -> Owner:
    """The owner of an upload this request starts; refused if there is no way to know one."""
    owner = owner_of(request, create=True)
    if conf.CHECK_OWNER and not owner.known:
        raise exceptions.PermissionRefused(
            _("Uploads need a session or a logged-in user; enable cookies and try again.")
        )
    return owner


def unknown_upload_for(request: Any) -> exceptions.UnknownUpload:
    """The 404 for an upload this request may not see. When the request carries no session
    cookie and no user, the answer says so: anonymous uploads belong to that cookie, and a
    client that drops it can never reach its own uploads. It depends on the request only, so
    it tells nothing about whether the id exists."""
    user = getattr(request, "user", None)
    cookies = getattr(request, "COOKIES", {})
    if (user is None or not user.is_authenticated) and settings.SESSION_COOKIE_NAME not in cookies:
        return exceptions.UnknownUpload(
            _(
                "No upload with that id was found for this visitor: uploads belong to the "
                "session cookie %(cookie)s, which this request did not send."
            )
            % {"cookie": settings.SESSION_COOKIE_NAME}
        )
    return exceptions.UnknownUpload()


def may_access(request: Any, upload: TemporaryUpload) -> bool:
    """Whether ``request`` may patch, resume, revert or restore ``upload``."""
    return not conf.CHECK_OWNER or owner_of(request).owns(upload)


def live_uploads() -> Q:
    """Uploads that count against their owner's limits: not refused, not expired."""
    now = timezone.now()
    return Q(rejected="") & (
        Q(complete=True, created__gte=now - conf.TEMPORARY_LIFETIME)
        | Q(complete=False, updated__gte=now - conf.TRANSFER_IDLE_TIMEOUT)
    )


def check_limits(owner: Owner, new_bytes: int) -> int:
    """Refuse a new upload of ``new_bytes`` that would pass the owner's limits; returns the
    bytes the owner may still add after it.

    This is a check ahead of the work (so a large body is refused before it is read); only
    :func:`insert_within_limits` makes the check and the new row one atomic step.
    """
    if not owner.known:
        return conf.MAX_BYTES_PER_OWNER
    totals = TemporaryUpload.objects.filter(owner.uploads() & live_uploads()).aggregate(
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


#: First key of the PostgreSQL advisory locks that serialise one owner's new uploads.
_LOCK_CLASS = 0x46504F57


def _lock_keys(owner: Owner) -> list[int]:
    keys = [f"user:{owner.user_id}"] if owner.user_id is not None else []
    if owner.token:
        keys.append(f"token:{owner.token}")
    # Signed 32-bit keys, in a fixed order so that two requests never wait on each other.
    return [zlib.crc32(key.encode()) - 2**31 for key in keys]


def insert_within_limits(upload: TemporaryUpload, owner: Owner, new_bytes: int) -> None:
    """Insert ``upload`` unless it would take ``owner`` past ``MAX_UPLOADS_PER_OWNER`` or
    ``MAX_BYTES_PER_OWNER`` (raising what :func:`check_limits` raises).

    Counting and inserting are one step, so simultaneous uploads of one owner cannot all slip
    under a limit: one ``INSERT ... SELECT`` whose ``WHERE`` counts the owner's live uploads.
    SQLite runs a writing statement under its database write lock; PostgreSQL first takes an
    advisory lock per owner (user and session token) for the transaction. Other databases
    check, then insert, in one transaction without that guarantee.
    """
    if not owner.known:
        upload.save(force_insert=True)
        return
    vendor = connection.vendor
    if vendor not in ("sqlite", "postgresql"):
        with transaction.atomic():
            check_limits(owner, new_bytes)
            upload.save(force_insert=True)
        return
    for _attempt in range(2):
        sql, params = _conditional_insert(upload, owner, new_bytes)
        if vendor == "sqlite":  # one statement, under SQLite's write lock from start to end
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                inserted = cursor.rowcount == 1
        else:
            inserted = _insert_under_owner_locks(owner, sql, params)
        if inserted:
            upload._state.adding = False
            upload._state.db = connection.alias
            return
        check_limits(owner, new_bytes)  # says which limit, unless room was made meanwhile
    raise exceptions.TooManyUploads()


def _insert_under_owner_locks(owner: Owner, sql: str, params: list[Any]) -> bool:
    """Run the conditional insert on PostgreSQL after taking the owner's advisory locks, which
    the transaction holds until it ends: the ``INSERT`` counts the owner's rows with a
    snapshot taken once the locks are held, so no other new upload of the owner is between
    its count and its row.

    With psycopg 3's client-side binding (Django's default) the locks and the insert go in one
    message, which PostgreSQL runs as one transaction: one round trip. Otherwise (psycopg 2,
    or ``server_side_binding``) they go one by one in a transaction of their own.
    """
    keys = _lock_keys(owner)
    lock = "SELECT pg_advisory_xact_lock(%s, %s)"
    lock_params = [value for key in keys for value in (_LOCK_CLASS, key)]
    with connection.cursor() as cursor:
        if _sends_statements_together(cursor):
            cursor.execute("; ".join([lock] * len(keys) + [sql]), [*lock_params, *params])
            for _key in keys:
                cursor.nextset()  # past each lock's result, to the insert's
            return bool(cursor.rowcount == 1)
    with transaction.atomic(), connection.cursor() as cursor:
        for key in keys:
            cursor.execute(lock, [_LOCK_CLASS, key])
        cursor.execute(sql, params)
        return bool(cursor.rowcount == 1)


def _sends_statements_together(cursor: Any) -> bool:
    """Whether ``cursor`` (Django's wrapper) runs several statements of one ``execute`` as one
    message: psycopg 3's client-side binding cursor does."""
    try:
        from psycopg import ClientCursor
    except ImportError:  # psycopg 2
        return False
    return isinstance(cursor.cursor, ClientCursor)


def _conditional_insert(
    upload: TemporaryUpload, owner: Owner, new_bytes: int
) -> tuple[str, list[Any]]:
    """``INSERT INTO <table> (<columns>) SELECT <values> FROM (<the owner's usage>) WHERE
    <room for one more upload of new_bytes>``, with its parameters.

    The statement is written here rather than compiled from a queryset on every upload (the
    compiler cost more than the database did); its ``WHERE`` selects what
    ``owner.uploads() & live_uploads()`` does, which the tests hold it to.
    """
    meta = TemporaryUpload._meta
    fields = meta.concrete_fields
    params: list[Any] = [
        field.get_db_prep_save(field.pre_save(upload, add=True), connection) for field in fields
    ]
    now = timezone.now()
    created = _db_value("created", now - conf.TEMPORARY_LIFETIME)
    updated = _db_value("updated", now - conf.TRANSFER_IDLE_TIMEOUT)
    owned: list[Any] = [owner.token] if owner.token else []
    if owner.user_id is not None:
        owned.insert(0, _db_value("owner", owner.user_id))
    sql = _insert_sql(connection.vendor, owner.user_id is not None, bool(owner.token))
    return sql, [
        *params,
        *owned,
        True,
        created,
        False,
        updated,
        conf.MAX_UPLOADS_PER_OWNER,
        new_bytes,
        conf.MAX_BYTES_PER_OWNER,
    ]


def _db_value(field_name: str, value: Any) -> Any:
    """``value`` as the database takes it for ``TemporaryUpload.<field_name>``."""
    field = TemporaryUpload._meta.get_field(field_name)
    assert isinstance(field, models.Field)
    return field.get_db_prep_value(value, connection)


@functools.cache
def _insert_sql(vendor: str, by_user: bool, by_token: bool) -> str:
    """The text of :func:`_conditional_insert`'s statement for one shape of owner."""
    meta = TemporaryUpload._meta
    quote = connection.ops.quote_name
    table = quote(str(meta.db_table))
    fields = list(meta.concrete_fields)
    typed = vendor == "postgresql"  # its SELECT list needs types for parameters
    values = [f"CAST(%s AS {field.db_type(connection)})" if typed else "%s" for field in fields]
    owner_id, token = quote("owner_id"), quote("owner_token")
    session = f"({token} = %s AND {owner_id} IS NULL)"
    if by_user and by_token:
        mine = f"({owner_id} = %s OR {session})"
    elif by_user:
        mine = f"{owner_id} = %s"
    else:
        mine = session
    live = (
        f"{quote('rejected')} = '' AND (({quote('complete')} = %s AND {quote('created')} >= %s)"
        f" OR ({quote('complete')} = %s AND {quote('updated')} >= %s))"
    )
    size = f"COALESCE({quote('upload_length')}, {quote('received')})"
    return (
        f"INSERT INTO {table} ({', '.join(quote(str(field.column)) for field in fields)}) "
        f"SELECT {', '.join(values)} FROM ("
        f"SELECT COUNT(*) AS uploads, COALESCE(SUM({size}), 0) AS bytes FROM {table} "
        f"WHERE {mine} AND {live}) owned "
        f"WHERE owned.uploads < %s AND owned.bytes + %s <= %s"
    )
