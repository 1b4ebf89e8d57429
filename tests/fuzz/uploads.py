"""Requests that start uploads: whole files, broken multipart bodies, chunked starts.

Each function sends one request as ``visitor`` (see :class:`tests.fuzz.run.Fuzzer`) and
records the upload a 200 made, with the bytes the server should have kept when the client can
know them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.fuzz import shapes
from tests.fuzz.client import Exchange, HeaderValue, Request, Response
from tests.fuzz.visitors import Visitor

if TYPE_CHECKING:
    from tests.fuzz.run import Fuzzer


def process_url(fuzzer: Fuzzer) -> str:
    return fuzzer.rng.choice(["/fp/", "/fp/", "/fp/process/", "/fp/process", "/fp/?x=1"])


def upload_field(fuzzer: Fuzzer) -> str:
    roll = fuzzer.rng.random()
    if roll < 0.7:
        return "filepond"
    if roll < 0.8:
        return "images"
    if roll < 0.9:
        return "notes"
    return shapes.field_name(fuzzer.rng)


def process_whole(fuzzer: Fuzzer, visitor: Visitor) -> None:
    """A whole file the way FilePond sends it, with odd names, fields and metadata."""
    rng = fuzzer.rng
    data = shapes.content(rng)
    field_name = upload_field(fuzzer)
    name = shapes.file_name(rng) if rng.random() < 0.4 else rng.choice(["a.txt", "p.png"])
    meta = "{}" if rng.random() < 0.6 else shapes.metadata(rng)
    boundary = "----fuzz" + shapes.token(rng, 16)
    file, kept = shapes.file_part(rng, field_name, name, data)
    parts = [([shapes.disposition(field_name)], meta.encode("utf-8", "surrogatepass")), file]
    if rng.random() < 0.1:
        parts.reverse()
    request = Request(
        "POST",
        process_url(fuzzer),
        [("Content-Type", f"multipart/form-data; boundary={boundary}")],
        shapes.multipart(parts, boundary),
    )
    response, identity = fuzzer.send("process", visitor, request)
    took_process(fuzzer, visitor, identity, request, response, kept)


def took_process(
    fuzzer: Fuzzer,
    visitor: Visitor,
    identity: str,
    request: Request,
    response: Response | None,
    kept: bytes | None,
    length: int | None = None,
) -> None:
    """Record the upload a 200 made; ``kept`` is the file part's bytes, ``length`` the
    Upload-Length of a chunked start (the client cannot always tell which one it got)."""
    if response is None or response.status != 200:
        return
    upload_id = response.body.decode("latin-1")
    if not shapes.ID_RE.fullmatch(upload_id):
        fuzzer.fail("process", request, response, ["200 with a body that is no id"])
        return
    if length is None:
        fuzzer.record(visitor, identity, request, upload_id, content=kept, chunked=False)
    else:
        fuzzer.record(
            visitor, identity, request, upload_id, content=kept, chunked=True, length=length
        )


def process_odd(fuzzer: Fuzzer, visitor: Visitor) -> None:
    """Multipart bodies and headers of every broken shape."""
    rng = fuzzer.rng
    boundary = "----fuzz" + shapes.token(rng, 16)
    field_name = upload_field(fuzzer)
    data = shapes.content(rng)
    meta = shapes.metadata(rng).encode("utf-8", "surrogatepass")
    meta_part = ([shapes.disposition(field_name)], meta)
    file, _kept = shapes.file_part(rng, field_name, shapes.file_name(rng), data)
    content_type = f"multipart/form-data; boundary={boundary}"
    headers: list[tuple[str, HeaderValue]] = []
    shape = rng.choice(
        [
            "no boundary",
            "wrong boundary",
            "odd boundary",
            "cut",
            "cut with length",
            "abandoned",
            "never closes",
            "several files",
            "huge field name",
            "odd field name",
            "metadata only",
            "not multipart",
            "empty",
            "longer than said",
            "chunked encoding",
            "bare newlines",
            "many fields",
            "file and length",
            "no disposition",
            "no name",
            "odd content length",
            "charset",
            "binary part headers",
        ]
    )
    parts = [meta_part, file]
    close, newline, cut_at, abandon = True, b"\r\n", None, False
    declared: int | None | str = "auto"
    if shape == "no boundary":
        content_type = "multipart/form-data"
    elif shape == "wrong boundary":
        content_type = "multipart/form-data; boundary=other"
    elif shape == "odd boundary":
        content_type = "multipart/form-data; boundary=" + rng.choice(
            ['""', "a" * 200, "a b", "é", "x;y", boundary + "; boundary=again"]
        )
    elif shape in ("cut", "cut with length", "abandoned"):
        if shape == "cut with length":
            headers.append(("Upload-Length", str(len(data))))
        abandon = shape == "abandoned"
    elif shape == "never closes":
        close = False
        if rng.random() < 0.5:
            headers.append(("Upload-Length", str(len(data))))
    elif shape == "several files":
        extra = [
            shapes.file_part(rng, rng.choice([field_name, "other"]), "v.txt", b"v")[0]
            for _ in range(rng.randrange(1, 4))
        ]
        parts = [meta_part, file, *extra]
    elif shape in ("huge field name", "odd field name"):
        if shape == "huge field name":
            name = "f" * rng.choice([256, 1000, 10000, 100000])
        else:
            name = shapes.field_name(rng)
        parts = [
            ([shapes.disposition(name)], meta),
            shapes.file_part(rng, name, "a.txt", data)[0],
        ]
        if rng.random() < 0.5:
            parts = parts[:1]
            headers.append(("Upload-Length", "10"))
    elif shape == "metadata only":
        parts = [meta_part]
        if rng.random() < 0.7:
            headers.append(("Upload-Length", str(len(data))))
    elif shape == "not multipart":
        content_type = rng.choice(
            ["application/json", "application/x-www-form-urlencoded", "text/plain", ""]
        )
    elif shape == "empty":
        parts, declared = [], 0
    elif shape == "longer than said":
        declared = rng.randrange(0, 200)
    elif shape == "chunked encoding":
        declared = None
        headers.append(("Transfer-Encoding", "chunked"))
    elif shape == "bare newlines":
        newline = b"\n"
    elif shape == "many fields":
        parts = [([shapes.disposition(f"f{i}")], b"x") for i in range(1100)]
    elif shape == "file and length":
        headers.append(("Upload-Length", str(rng.choice([len(data), 5, 0]))))
    elif shape == "no disposition":
        parts = [([b"Content-Type: text/plain"], meta), file]
    elif shape == "no name":
        parts = [meta_part, ([b'Content-Disposition: form-data; filename="a.txt"'], data)]
    elif shape == "odd content length":
        declared = rng.choice(
            ["-1", "abc", "1e3", str(10**12), "5, 5", "99999999999999999999", "9" * 5000, "\u00b2"]
        )
    elif shape == "binary part headers":
        parts = [
            ([b'Content-Disposition: form-data; name="\xff\xfe"'], meta),
            ([b'Content-Disposition: form-data; name="\xff\xfe"; filename="\xe9\xff.txt"'], data),
        ]
    elif shape == "charset":
        content_type += "; charset=" + rng.choice(["utf-16", "bogus", "latin-1"])
    body = shapes.multipart(parts, boundary, close=close, newline=newline) if parts else b""
    if shape == "chunked encoding":
        body = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    if shape in ("cut", "cut with length", "abandoned"):
        cut_at = rng.randrange(0, max(len(body), 1))
    if content_type:
        headers.append(("Content-Type", content_type))
    request = Request(
        "POST", process_url(fuzzer), headers, body, declared, cut_at=cut_at, abandon=abandon
    )
    response, identity = fuzzer.send("process odd: " + shape, visitor, request)
    length = None
    raw_length = request.header("Upload-Length")
    if raw_length is not None:
        length = int(raw_length)
    # Which bytes the server kept (if it took the file part whole) cannot be known here.
    took_process(fuzzer, visitor, identity, request, response, None, length)


def start_chunked(fuzzer: Fuzzer, visitor: Visitor) -> None:
    rng = fuzzer.rng
    data = shapes.content(rng)
    field_name = upload_field(fuzzer)
    boundary = "----fuzz" + shapes.token(rng, 16)
    meta = "{}" if rng.random() < 0.7 else shapes.metadata(rng)
    parts = [([shapes.disposition(field_name)], meta.encode("utf-8", "surrogatepass"))]
    if rng.random() < 0.1:
        named = field_name if rng.random() < 0.7 else shapes.field_name(rng)
        parts.append(([shapes.disposition("fp_upload_field")], named.encode("utf-8")))
    length: str | None = str(len(data))
    headers: list[tuple[str, HeaderValue]] = [
        ("Content-Type", f"multipart/form-data; boundary={boundary}")
    ]
    odd = rng.random() < 0.15
    if odd:
        length = rng.choice(
            ["-1", "0x10", "1e3", " 12 ", "+5", "99999999999999999999", str(10**30), "", "5,5"]
        )
        headers.append(("Upload-Length", length))
        if rng.random() < 0.3:
            headers.append(("Upload-Length", str(len(data))))
    else:
        headers.append(("Upload-Length", length))
    request = Request("POST", process_url(fuzzer), headers, shapes.multipart(parts, boundary))
    response, identity = fuzzer.send("start chunked", visitor, request)
    if response is not None and response.status == 200:
        if odd:  # the server took a length the client did not mean: judge nothing more
            took_process(fuzzer, visitor, identity, request, response, None, -1)
        else:
            took_process(fuzzer, visitor, identity, request, response, data, len(data))


def fresh_pair(fuzzer: Fuzzer, visitor: Visitor) -> None:
    """A new visitor (a CSRF cookie, no session yet) picks two files at once: both uploads
    start before any session cookie comes back, yet both must be the visitor's afterwards."""
    rng = fuzzer.rng
    newcomer = Visitor(
        f"t{fuzzer.index}-new{len(fuzzer.newcomers)}", "session", shapes.token(rng, 64)
    )
    fuzzer.newcomers.append(newcomer)
    contents = [b"first file\n", b"second file\n"]
    requests = []
    for number, data in enumerate(contents):
        boundary = "----fuzz" + shapes.token(rng, 16)
        parts = [
            ([shapes.disposition("filepond")], b"{}"),
            ([shapes.disposition("filepond", f"{number}.txt")], data),
        ]
        content_type = f"multipart/form-data; boundary={boundary}"
        request = Request(
            "POST", "/fp/", [("Content-Type", content_type)], shapes.multipart(parts, boundary)
        )
        fuzzer.prepare(request, newcomer, "normal")
        requests.append(request)
    slow = Exchange(fuzzer.shared.port, requests[0])
    slow.send(leave=rng.randrange(1, 20))
    fast = Exchange(fuzzer.shared.port, requests[1])
    fast.send()
    answers = [slow.finish(), fast.finish()]
    made = []
    for request, response, data in zip(requests, answers, contents, strict=True):
        fuzzer.judge("fresh pair", newcomer, "normal", request, response, None)
        if response is not None and response.status == 200:
            made.append(
                fuzzer.record(
                    newcomer, "normal", request, response.body.decode(), content=data, chunked=False
                )
            )
    if len(made) < 2:
        return  # a 503 (busy) or the like: the browser would retry
    for upload in made:
        request = Request("GET", f"/fp/?restore={upload.upload_id}", content_length=None)
        response, _identity = fuzzer.send(
            "fresh pair restore", newcomer, request, identity="normal", upload=upload
        )
        if response is not None and response.status != 200 and response.status != 503:
            fuzzer.fail(
                "fresh pair restore",
                request,
                response,
                [f"{response.status} for one of two first uploads picked together"],
            )
        fuzzer.check_bytes("fresh pair restore", upload.content, request, response)
