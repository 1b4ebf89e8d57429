"""The randomized run: threads of visitors sending every kind of FilePond request, and worse.

Each thread has its own visitors and its own :class:`random.Random`, seeded from the run's
seed and the thread's number, so its requests depend only on the seed and on the answers it
gets (answers that depend on timing, such as a 503 while checks run, can steer a replay
elsewhere). Every answer is judged on the spot (:meth:`Fuzzer.judge`): no server error, no
2xx for an upload the requester may not touch or that is gone, no 404 for one its owner asks
for, no 2xx despite broken credentials, the bytes of every restore and load equal to what was
sent, offsets that never go backwards. A body on a HEAD answer shows in gunicorn's log, which
the test reads afterwards.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fuzz import chunks, others, shapes, uploads
from tests.fuzz.client import Request, Response, exchange
from tests.fuzz.visitors import IDENTITIES, Upload, Visitor

Action = Callable[["Fuzzer", Visitor], None]
#: What a thread's requests do, and how often (tests/fuzz/uploads.py, chunks.py, others.py).
ACTIONS: list[tuple[Action, int]] = [
    (uploads.process_whole, 14),
    (uploads.process_odd, 12),
    (uploads.start_chunked, 8),
    (uploads.fresh_pair, 1),
    (chunks.patch_next, 22),
    (chunks.patch_odd, 7),
    (chunks.patch_pair, 3),
    (chunks.head_resume, 6),
    (others.revert, 6),
    (others.restore, 7),
    (others.load, 4),
    (others.store, 4),
    (others.fetch, 3),
    (others.other_method, 3),
    (others.head_anywhere, 3),
]


@dataclass
class Shared:
    """What the threads of one run share: where to send, what the fetch server serves,
    what went wrong, and counts."""

    port: int
    fetch_base: str
    fetch_files: dict[str, bytes]
    failures: list[str] = field(default_factory=list)
    #: Answers by status, and by kind of request and status.
    statuses: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[tuple[str, int | None]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    unanswered: int = 0
    requests: int = 0
    #: The permitted 503s (with Retry-After), for the summary: they should stay rare.
    busy: list[str] = field(default_factory=list)


class Fuzzer:
    """One thread's visitors and requests."""

    def __init__(
        self, shared: Shared, seed: int, index: int, requests: int, users: tuple[str, str]
    ) -> None:
        self.shared = shared
        self.index = index
        self.budget = requests
        self.sent = 0
        self.rng = random.Random(f"{seed}-{index}")
        # Each visitor has a CSRF cookie of its own: visitors that share one are one owner.
        csrf = [shapes.token(self.rng, 32) for _ in range(4)]
        self.visitors = [
            Visitor(f"t{index}-session", "session", csrf[0]),
            Visitor(f"t{index}-basic", "basic", csrf[1], username=users[0]),
            Visitor(f"t{index}-login", "login", csrf[2], username=users[1]),
            Visitor(f"t{index}-cookieless", "cookieless", csrf[3]),
        ]
        self.newcomers: list[Visitor] = []  # of uploads.fresh_pair
        self.stored: dict[str, bytes | None] = {}  # load is public: every visitor may read

    # --- the loop -----------------------------------------------------------------------------

    def run(self) -> None:
        actions, weights = zip(*ACTIONS, strict=True)
        self.log_in(self.visitors[2])
        while self.sent < self.budget:
            visitor = self.rng.choices(self.visitors, [5, 3, 3, 1])[0]
            action = self.rng.choices(actions, weights)[0]
            # A visitor near its limits mostly makes room.
            owned = [u for u in visitor.live() if u.unsure or visitor.may_touch(u, "normal")]
            if len(owned) >= 13 and self.rng.random() < 0.5:
                action = self.rng.choice([others.revert, others.store])
            action(self, visitor)

    def send(
        self,
        what: str,
        visitor: Visitor,
        request: Request,
        *,
        identity: str | None = None,
        upload: Upload | None = None,
    ) -> tuple[Response | None, str]:
        """Send ``request`` as ``visitor`` and judge the answer; returns it and the identity
        the request carried."""
        identity = identity or self.rng.choice(IDENTITIES)
        self.prepare(request, visitor, identity)
        roll = self.rng.random()
        if roll < 0.02:
            request.version = "HTTP/1.0"
        elif roll < 0.04:
            request.headers.append(("Expect", "100-continue"))
        elif roll < 0.05:
            request.headers += [(f"X-Extra-{n}", "x" * 100) for n in range(60)]
        elif roll < 0.06:
            request.headers.append(
                ("Cookie", self.rng.choice(["sessionid=\xff", "a=b; ;; c", "x" * 3000]))
            )
            request.garbled = True
        response = exchange(self.shared.port, request)
        self.judge(what, visitor, identity, request, response, upload)
        return response, identity

    def prepare(self, request: Request, visitor: Visitor, identity: str) -> None:
        self.sent += 1
        with self.shared.lock:
            self.shared.requests += 1
            number = f"{self.index}.{self.sent}"
        request.sent = visitor.sent(identity)
        request.headers[:0] = [("X-Fuzz-Request", number), *visitor.headers(identity, self.rng)]

    def judge(
        self,
        what: str,
        visitor: Visitor,
        identity: str,
        request: Request,
        response: Response | None,
        upload: Upload | None,
        may_vanish: bool = False,
    ) -> None:
        """Count the answer and check it: no server error, no 2xx for an upload the
        requester may not touch or that is gone, no 404 for one its owner asks for (unless
        it ``may_vanish``: reverted meanwhile), no 2xx despite broken credentials."""
        shared = self.shared
        with shared.lock:
            shared.outcomes[what.split(":")[0], response.status if response else None] += 1
        if upload is not None and response is not None and response.status in (413, 415, 422):
            upload.refused = request.method in ("PATCH", "HEAD") or upload.refused
        if response is None:
            if not request.abandon:
                with shared.lock:
                    shared.unanswered += 1
            return
        status = response.status
        with shared.lock:
            shared.statuses[status] += 1
        problems = []
        if status == 503 and response.header("Retry-After"):
            with shared.lock:
                shared.busy.append(
                    f"{request.header('X-Fuzz-Request')} {what} {request.method} "
                    f"{request.target[:60]}: {response.body[:120]!r}"
                )
        elif status >= 500:
            problems.append(f"server error {status}: {response.body[:300]!r}")
        if response.body.endswith(b"\x00<cut short>"):
            problems.append("an answer shorter than its Content-Length")
        if upload is not None and upload.unsure:
            pass
        elif upload is not None and 200 <= status < 300:
            if upload.gone:
                problems.append(f"{status} for upload {upload.upload_id}, reverted or stored")
            elif not visitor.may_touch(upload, identity, request.method):
                problems.append(
                    f"{status} for upload {upload.upload_id} (user {upload.user}, token from "
                    f"{upload.token}) to {visitor.label} with identity {identity!r}"
                )
        if (
            upload is not None
            and not upload.unsure
            and status == 404
            and identity == "normal"
            and not may_vanish
            and visitor.may_touch(upload, identity, request.method)
        ):
            problems.append(f"404 for upload {upload.upload_id} to its owner {visitor.label}")
        if visitor.refused(identity, request.method) and 200 <= status < 300:
            problems.append(f"{status} despite a broken Authorization header")
        if not request.garbled:
            cookies = response.headers.get_all("Set-Cookie") or []
            visitor.adopt(identity, request.sent, cookies, login=what == "log in")
        if problems:
            self.fail(what, request, response, problems)

    def fail(
        self, what: str, request: Request, response: Response | None, problems: list[str]
    ) -> None:
        number = request.header("X-Fuzz-Request")
        head = request.encode(self.shared.port).split(b"\r\n\r\n", 1)[0]
        status = response.status if response else "no answer"
        answer = response.body[:200] if response else b""
        text = (
            f"request {number} ({what}, answered {status} {answer!r}): {'; '.join(problems)}\n"
            f"    {head[:600]!r}\n    body: {len(request.body)} bytes, cut at {request.cut_at}"
        )
        with self.shared.lock:
            self.shared.failures.append(text)

    def log_in(self, visitor: Visitor) -> None:
        """Log the visitor in through the session, as a site's login form does."""
        request = Request("POST", "/login/", [], (visitor.username or "").encode())
        response, _identity = self.send("log in", visitor, request, identity="normal")
        if response is None or response.status != 204:
            self.fail("log in", request, response, ["the login failed"])

    # --- choosing targets ---------------------------------------------------------------------

    def target(
        self, visitor: Visitor, want: Callable[[Upload], bool] | None = None
    ) -> tuple[str, Upload | None]:
        """An upload id to aim at: mostly one of the visitor's own, else another visitor's,
        a gone one, a made-up or a malformed one."""
        roll = self.rng.random()
        own = [u for u in visitor.live() if want is None or want(u)]
        if roll < 0.72 and own:
            upload = self.rng.choice(own)
            return upload.upload_id, upload
        others = [u for v in self.visitors if v is not visitor for u in v.live()]
        if roll < 0.84 and others:
            upload = self.rng.choice(others)
            return upload.upload_id, upload
        gone = [u for v in self.visitors for u in v.uploads if u.gone]
        if roll < 0.9 and gone:
            upload = self.rng.choice(gone)
            return upload.upload_id, upload
        if roll < 0.95:
            return shapes.token(self.rng), None
        return shapes.malformed_id(self.rng), None

    def quoted(self, raw: str) -> str:
        return shapes.quote_id(self.rng, raw)

    def record(
        self, visitor: Visitor, identity: str, request: Request, upload_id: str, **fields: Any
    ) -> Upload:
        """Remember an upload ``visitor`` made with ``request``, sent with ``identity``."""
        user, token = visitor.made(identity, request.sent)
        upload = Upload(upload_id, user, token, unsure=request.garbled, **fields)
        visitor.uploads.append(upload)
        return upload

    # --- judging what came back ---------------------------------------------------------------

    def took_offset(
        self,
        upload: Upload,
        request: Request,
        response: Response | None,
        head: bool = False,
        since: int | None = None,
    ) -> None:
        """Check and learn the offset a 2xx PATCH or HEAD reports: a number never below what
        was received ``since`` (by default: before this request) nor past the length, and
        for HEAD the length as declared."""
        if response is None or not 200 <= response.status < 300:
            return
        raw = response.header("Upload-Offset") or ""
        problems = []
        floor = upload.received if since is None else since
        if not raw.isdigit():
            problems.append(f"Upload-Offset {raw!r}")
        else:
            offset = int(raw)
            if offset < floor:
                problems.append(f"Upload-Offset went back from {floor} to {offset}")
            if upload.length is not None and upload.length >= 0 and offset > upload.length:
                problems.append(f"Upload-Offset {offset} past Upload-Length {upload.length}")
            upload.received = max(upload.received, offset)
            upload.finished = upload.finished or (
                request.method == "PATCH" and offset == upload.length
            )
        declared = str(upload.length) if upload.length is not None and upload.length >= 0 else None
        if head and declared is not None and response.header("Upload-Length") != declared:
            problems.append(f"Upload-Length {response.header('Upload-Length')!r}")
        if problems:
            self.fail("offset", request, response, problems)

    def check_bytes(
        self, what: str, expected: bytes | None, request: Request, response: Response | None
    ) -> None:
        """A GET answer must carry exactly the bytes (or the range of them) that were sent."""
        if expected is None or response is None or request.method != "GET":
            return
        if response.status == 200:
            got = response.body
        elif response.status == 206:
            match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", response.header("Content-Range") or "")
            if not match:
                self.fail(what, request, response, ["206 without a Content-Range"])
                return
            first, last, total = map(int, match.groups())
            expected = expected[first : last + 1] if total == len(expected) else None
            got = response.body
        else:
            return
        if expected is not None and got != expected:
            self.fail(
                what,
                request,
                response,
                [f"{len(got)} bytes that are not the {len(expected)} bytes uploaded"],
            )


def run_threads(
    shared: Shared, seed: int, requests: int, users: list[tuple[str, str]]
) -> list[Fuzzer]:
    """A thread of visitors per pair of ``users``, sharing ``requests`` between them."""
    threads = []
    fuzzers = []
    share = requests // len(users)
    errors: list[BaseException] = []

    def run(fuzzer: Fuzzer) -> None:
        try:
            fuzzer.run()
        except BaseException as exc:  # reported by the test, with the seed
            errors.append(exc)
            raise

    for index, user in enumerate(users):
        count = share + (requests - share * len(users) if index == 0 else 0)
        fuzzer = Fuzzer(shared, seed, index, count, user)
        fuzzers.append(fuzzer)
        threads.append(threading.Thread(target=run, args=(fuzzer,), name=f"fuzz-{index}"))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return fuzzers
