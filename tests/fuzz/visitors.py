"""The run's visitors, what they believe they uploaded, and who may touch what.

Four kinds of visitor, each with a CSRF cookie of its own:

- ``session``: anonymous, keeps the session cookie the server gives it;
- ``basic``: a user who sends HTTP Basic credentials on every request (and keeps a session);
- ``login``: a user logged in through the session, who sends ``X-CSRFToken`` as FilePond
  pages do (DRF then checks CSRF on every unsafe request);
- ``cookieless``: never sends a cookie, so it can never reach its own uploads again.

A request may leave out the visitor's credentials or send broken ones (:data:`IDENTITIES`).

The server ties an upload to the user the request was authenticated as, and to an owner
token: the one in the request's session, else one derived from the CSRF cookie (stored in the
session). The model here follows that exactly, so the oracle knows which requests may touch
which upload: an upload is reachable by its user, or through a session holding its token.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field

from tests.fuzz import shapes

#: Identities a request can carry: the visitor's own (``"normal"``) most of the time. "no
#: header" leaves out X-CSRFToken (and Basic credentials), which DRF then requires of a user
#: logged in by session for every unsafe method.
IDENTITIES = ["normal"] * 88 + [
    "none", "csrf only", "bad session", "bad basic", "bearer", "no header"
] * 2  # fmt: skip
#: Identities that send the visitor's session cookie.
WITH_SESSION = ("normal", "bad basic", "bearer", "no header")
#: Identities that send X-CSRFToken (for the "login" visitor).
WITH_CSRF_HEADER = ("normal", "bad basic", "bearer")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


@dataclass(eq=False)
class Upload:
    """A temporary upload as its visitor knows it."""

    upload_id: str
    user: str | None  # the user it belongs to, if any
    token: str | None  # the CSRF value its owner token derives from; None: no one's
    content: bytes | None  # None: the client cannot know the bytes the server kept
    chunked: bool
    length: int | None = None
    received: int = 0
    gone: bool = False  # reverted or stored: every later request must miss it
    refused: bool = False  # the server refused its bytes: its chunks are mostly over
    finished: bool = False  # a PATCH was answered with the whole length as its offset
    #: Made by a request whose cookies were garbled: whose it is cannot be known, so no
    #: answer about it is judged (the visitor still tries to revert it, to make room).
    unsure: bool = False


@dataclass(frozen=True)
class Sent:
    """The credentials a request carried: the visitor's session cookie (and the CSRF value
    that session's owner token derives from, if it has one yet) and its CSRF cookie."""

    session: str | None = None
    session_token: str | None = None
    csrf: str | None = None


@dataclass(eq=False)
class Visitor:
    label: str
    kind: str
    csrf: str
    username: str | None = None
    session: str | None = None
    #: The CSRF value the session's owner token derives from; None until the server gives
    #: the session one (on its first upload).
    session_token: str | None = None
    #: Whether that session is logged in as the user: only the one a login answered with is.
    #: A visitor that did not keep the login's answer (a garbled request) gets an anonymous
    #: session from its first upload instead.
    authenticated: bool = False
    uploads: list[Upload] = field(default_factory=list)

    @property
    def keeps_cookies(self) -> bool:
        return self.kind != "cookieless"

    def live(self) -> list[Upload]:
        return [upload for upload in self.uploads if not upload.gone]

    def sent(self, identity: str) -> Sent:
        if not self.keeps_cookies or identity == "none":
            return Sent()
        if identity in WITH_SESSION and self.session:
            return Sent(self.session, self.session_token, self.csrf)
        return Sent(csrf=self.csrf)

    def headers(self, identity: str, rng: random.Random) -> list[tuple[str, str]]:
        """Cookie, Authorization and CSRF headers of a request with ``identity``."""
        sent = self.sent(identity)
        cookies = [f"sessionid={sent.session}"] if sent.session else []
        if sent.csrf:
            cookies.append(f"csrftoken={sent.csrf}")
        if identity == "bad session" and self.keeps_cookies:
            cookies.append(f"sessionid={shapes.token(rng, 32)}")
        headers = [("Cookie", "; ".join(cookies))] if cookies else []
        if self.kind == "login" and identity in WITH_CSRF_HEADER:
            headers.append(("X-CSRFToken", self.csrf))
        if self.kind == "basic" and identity == "normal":
            basic = base64.b64encode(f"{self.username}:pw".encode()).decode()
            headers.append(("Authorization", f"Basic {basic}"))
        elif identity == "bad basic":
            headers.append(
                ("Authorization", rng.choice(["Basic !!!", "Basic " + "QQ==" * 3, "Basic"]))
            )
        elif identity == "bearer":
            headers.append(("Authorization", "Bearer " + shapes.token(rng, 40)))
        return headers

    def logged_in(self, identity: str) -> bool:
        """Whether DRF authenticates the request as the visitor's user. The session comes
        first among DRF's authenticators, so broken Basic credentials do not matter then."""
        if self.kind == "basic":
            return identity == "normal"
        return self.kind == "login" and self.authenticated and identity in WITH_SESSION

    def refused(self, identity: str, method: str) -> bool:
        """Whether DRF refuses a request with ``identity``: broken Basic credentials, unless
        the session already authenticated the user; a session user's unsafe request without
        X-CSRFToken."""
        if identity == "bad basic" and not self.logged_in(identity):
            return True
        return (
            self.logged_in(identity)
            and self.kind == "login"
            and identity not in WITH_CSRF_HEADER
            and method not in SAFE_METHODS
        )

    def made(self, identity: str, sent: Sent) -> tuple[str | None, str | None]:
        """The user and owner token of an upload made with ``identity`` and ``sent``
        credentials: the session's token, else one from the CSRF cookie, else nobody's."""
        user = self.username if self.logged_in(identity) else None
        return user, (sent.session and sent.session_token) or sent.csrf

    def may_touch(self, upload: Upload, identity: str, method: str = "GET") -> bool:
        """Whether a request of this visitor with ``identity`` may get a 2xx for ``upload``:
        as the user it belongs to, or through a session holding its owner token."""
        if upload.gone or self.refused(identity, method):
            return False
        if upload.user is not None and self.logged_in(identity) and upload.user == self.username:
            return True
        sent = self.sent(identity)
        return bool(sent.session and sent.session_token and sent.session_token == upload.token)

    def adopt(self, identity: str, sent: Sent, set_cookies: list[str], login: bool) -> None:
        """Keep the cookies the server set, as a browser does for the visitor's own requests.

        The server only sends the session cookie when the session changed: when it gave the
        session an owner token (derived from the CSRF cookie the request carried), or on
        login (which keeps the session's data but rotates its key and the CSRF token).
        """
        if not self.keeps_cookies:
            return
        for header in set_cookies:
            name, _, rest = header.partition("=")
            name, value = name.strip(), rest.split(";", 1)[0]
            if name == "sessionid" and value:
                if sent.session and value == sent.session:
                    self.session_token = self.session_token or sent.csrf  # got its token
                elif identity == "normal":
                    self.session = value
                    self.authenticated = login
                    if not login:  # a new session, made with a token from the CSRF cookie
                        self.session_token = sent.csrf
            elif name == "csrftoken" and value and identity == "normal":
                self.csrf = value
