"""Requests of chunked transfers: PATCH in order and out of it, overlapping, in flight
together, with extreme headers, and HEAD to resume."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.fuzz import shapes, uploads
from tests.fuzz.client import Exchange, HeaderValue, Request
from tests.fuzz.visitors import Upload, Visitor

if TYPE_CHECKING:
    from tests.fuzz.run import Fuzzer

KiB = 1024
#: The server's chunk limit (tests/fuzz/settings.py): chunks stay below it but a few.
MAX_CHUNK = 48 * KiB


def patch_url(fuzzer: Fuzzer, raw_id: str) -> str:
    quoted = fuzzer.quoted(raw_id)
    return fuzzer.rng.choice(
        [
            f"/fp/?patch={quoted}",
            f"/fp/?patch={quoted}",
            f"/fp/patch/{quoted}",
            f"/fp/patch/{quoted}/",
            f"/fp/patch/?id={quoted}",
            f"/fp/patch?patch={quoted}",
        ]
    )


def chunk(
    fuzzer: Fuzzer, upload: Upload, offset: int, size: int, name: bytes | None = None
) -> Request:
    """A PATCH of ``size`` bytes of ``upload`` at ``offset`` (its own bytes where it has
    them, so that every chunk the server keeps is right)."""
    data = (upload.content or b"")[offset : offset + size]
    data += fuzzer.rng.randbytes(size - len(data))
    headers: list[tuple[str, HeaderValue]] = [
        ("Content-Type", "application/offset+octet-stream"),
        ("Upload-Offset", str(offset)),
        ("Upload-Length", str(upload.length)),
    ]
    if name is not None:
        headers.append(("Upload-Name", name))
    return Request("PATCH", patch_url(fuzzer, upload.upload_id), headers, data)


def name_header(fuzzer: Fuzzer) -> bytes:
    if fuzzer.rng.random() < 0.85:
        return fuzzer.rng.choice([b"file.bin", b"notes.txt", "résumé.pdf".encode(), b"p.png"])
    return shapes.upload_name_header(fuzzer.rng)


def in_progress(fuzzer: Fuzzer, visitor: Visitor) -> list[Upload]:
    """The visitor's own transfers that may still take chunks, as far as it knows."""
    return [
        u
        for u in visitor.live()
        if u.chunked
        and not u.unsure
        and visitor.may_touch(u, "normal")
        and not u.refused
        and u.content is not None
        and u.length is not None
        and u.length >= 0
    ]


def patch_next(fuzzer: Fuzzer, visitor: Visitor) -> None:
    """The next chunk of a transfer, mostly in order; sometimes a retry, an overlap, a
    gap, a restart, bytes past the end, the empty final chunk, or a body cut short."""
    rng = fuzzer.rng
    # An empty file's transfer takes one empty chunk.
    candidates = [u for u in in_progress(fuzzer, visitor) if not u.finished]
    if not candidates:
        return uploads.start_chunked(fuzzer, visitor)
    upload = rng.choice(candidates)
    length = upload.length or 0
    received = upload.received
    size = min(rng.choice([1, 100, 4096, 16 * KiB, 40 * KiB]), length - received)
    offset = received
    roll = rng.random()
    if roll < 0.1 and received:
        offset = max(0, received - rng.randrange(1, received + 1))  # a retry overlapping
        size = min(size + (received - offset), length - offset, MAX_CHUNK)
    elif roll < 0.15:
        offset = received + rng.randrange(1, 1000)  # a gap
    elif roll < 0.2:
        offset = 0
    elif roll < 0.25:
        size += rng.randrange(1, 100)  # past Upload-Length
    elif roll < 0.28:
        offset, size = length, 0  # the empty final chunk
    elif roll < 0.3:
        size = MAX_CHUNK + 1
    request = chunk(fuzzer, upload, offset, size, name_header(fuzzer))
    if roll > 0.9:
        request.cut_at = rng.randrange(0, max(size, 1))
        request.abandon = rng.random() < 0.5
    elif roll > 0.88:
        request.headers[2] = ("Upload-Length", str(length + rng.choice([-1, 1])))
    response, _identity = fuzzer.send("patch", visitor, request, upload=upload)
    fuzzer.took_offset(upload, request, response)


def patch_odd(fuzzer: Fuzzer, visitor: Visitor) -> None:
    """PATCH with extreme or repeated Upload-* headers, wrong types, wrong framing."""
    rng = fuzzer.rng
    raw_id, upload = fuzzer.target(visitor, lambda u: u.chunked)
    numbers = ["", "-1", "0x10", "1e3", " 5", "+5", "99999999999999999999", str(2**63),
               "1, 2", "٣", "0", "5"]  # fmt: skip
    headers: list[tuple[str, HeaderValue]] = []
    body = rng.randbytes(rng.choice([0, 1, 10, 1000]))
    declared: int | None | str = "auto"
    for name in ("Upload-Offset", "Upload-Length"):
        for _ in range(rng.choice([0, 1, 1, 1, 2])):
            headers.append((name, rng.choice(numbers)))
    for _ in range(rng.choice([0, 1, 1, 2])):
        headers.append(("Upload-Name", shapes.upload_name_header(rng)))
    content_type = rng.choice(
        ["application/offset+octet-stream", "APPLICATION/OFFSET+OCTET-STREAM; q=1",
         "application/octet-stream", "", "multipart/form-data; boundary=x"]
    )  # fmt: skip
    if content_type:
        headers.append(("Content-Type", content_type))
    framing = rng.random()
    if framing < 0.1:
        declared = None
        headers.append(("Transfer-Encoding", "chunked"))
        body = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    elif framing < 0.2:
        declared = len(body) + rng.randrange(1, 100)  # the client stops early
    elif framing < 0.25:
        declared = str(10**12)
    url = patch_url(fuzzer, raw_id)
    if rng.random() < 0.1:
        url = f"/fp/patch/{fuzzer.quoted(raw_id)}?patch={fuzzer.quoted(shapes.token(rng))}"
    request = Request("PATCH", url, headers, body, declared)
    if declared not in ("auto", None) and isinstance(declared, int):
        request.cut_at = len(body)
    response, _identity = fuzzer.send("patch odd", visitor, request, upload=upload)
    if upload is not None and upload.chunked and upload.content is not None:
        fuzzer.took_offset(upload, request, response)


def patch_pair(fuzzer: Fuzzer, visitor: Visitor) -> None:
    """A chunk (often the last) still arriving while a second request for the same
    transfer is sent whole: the same chunk, an overlapping one, the next one, a resume HEAD,
    a revert, a restore or a store."""
    rng = fuzzer.rng
    candidates = [u for u in in_progress(fuzzer, visitor) if (u.length or 0) - u.received >= 2]
    if not candidates:
        return patch_next(fuzzer, visitor)
    upload = rng.choice(candidates)
    length, received = upload.length or 0, upload.received
    first_size = min(rng.choice([100, 4096, 32 * KiB, length]), length - received)
    first = chunk(fuzzer, upload, received, first_size, b"pair.bin")
    kind = rng.choice(["same", "overlap", "next", "head", "revert", "restore", "store"])
    if kind == "same":
        second = chunk(fuzzer, upload, received, first_size, b"pair.bin")
    elif kind in ("overlap", "next"):
        start = received + (rng.randrange(0, first_size) if kind == "overlap" else first_size)
        second = chunk(fuzzer, upload, start, min(4096, length - start), b"pair.bin")
    elif kind == "head":
        second = Request("HEAD", patch_url(fuzzer, upload.upload_id), content_length=None)
    elif kind == "revert":
        second = Request("DELETE", "/fp/", [], upload.upload_id.encode())
    elif kind == "restore":
        second = Request("GET", f"/fp/?restore={upload.upload_id}", content_length=None)
    else:
        second = Request("POST", "/store/", [], upload.upload_id.encode())
    fuzzer.prepare(first, visitor, "normal")
    fuzzer.prepare(second, visitor, "normal")
    slow = Exchange(fuzzer.shared.port, first)
    slow.send(leave=rng.randrange(1, first_size + 1))
    fast = Exchange(fuzzer.shared.port, second)
    fast.send()
    answers = [(first, slow.finish()), (second, fast.finish())]
    for request, response in answers:
        what = f"pair ({kind}) {request.method}"
        # The chunk may find its upload reverted or stored by the second request.
        vanish = kind in ("revert", "store") and request is first
        fuzzer.judge(what, visitor, "normal", request, response, upload, may_vanish=vanish)
    for request, response in answers:
        if request.method in ("PATCH", "HEAD"):
            fuzzer.took_offset(upload, request, response, request.method == "HEAD", received)
    done = answers[1][1] is not None and answers[1][1].status in (200, 204)
    if kind in ("revert", "store") and done:
        upload.gone = True
    if kind == "store" and done:
        fuzzer.stored[upload.upload_id] = upload.content
    if kind == "restore":
        fuzzer.check_bytes("restore", upload.content, *answers[1])


def head_resume(fuzzer: Fuzzer, visitor: Visitor) -> None:
    raw_id, upload = fuzzer.target(visitor, lambda u: u.chunked)
    request = Request("HEAD", patch_url(fuzzer, raw_id), content_length=None)
    response, _identity = fuzzer.send("head resume", visitor, request, upload=upload)
    if upload is not None and upload.content is not None and upload.chunked:
        fuzzer.took_offset(upload, request, response, head=True)
