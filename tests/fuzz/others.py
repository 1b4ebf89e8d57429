"""Every other request: revert, restore, load, store, fetch, other methods, HEAD anywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from tests.fuzz import shapes
from tests.fuzz.client import HeaderValue, Request
from tests.fuzz.visitors import Visitor

if TYPE_CHECKING:
    from tests.fuzz.run import Fuzzer


def revert(fuzzer: Fuzzer, visitor: Visitor) -> None:
    rng = fuzzer.rng
    raw_id, upload = fuzzer.target(visitor)
    style = rng.random()
    if style < 0.75:
        url = rng.choice(["/fp/", "/fp/revert/", "/fp/revert"])
        body = raw_id.encode("utf-8", "surrogatepass")
        odd = rng.random()
        if odd < 0.05:
            body = b" \r\n" + body + b"\n"
        elif odd < 0.08:
            body = b"\xff\xfe" + body
        elif odd < 0.1:
            body = body * 100
    else:
        url, body = f"/fp/revert/?id={fuzzer.quoted(raw_id)}", b""
    headers: list[tuple[str, HeaderValue]] = [("Content-Type", "text/plain")]
    request = Request("DELETE", url, headers, body)
    response, _identity = fuzzer.send("revert", visitor, request, upload=upload)
    if upload is not None and response is not None and response.status == 204:
        upload.gone = True


def download(fuzzer: Fuzzer, url: str) -> Request:
    """A GET (or now and then a HEAD) of ``url``, with a ``Range`` header or none."""
    method = "GET" if fuzzer.rng.random() < 0.8 else "HEAD"
    headers: list[tuple[str, HeaderValue]] = []
    wanted = byte_range(fuzzer)
    if wanted:
        headers.append(("Range", wanted))
    return Request(method, url, headers, content_length=None)


def byte_range(fuzzer: Fuzzer) -> str | None:
    if fuzzer.rng.random() < 0.75:
        return None
    return fuzzer.rng.choice(
        ["bytes=0-9", "bytes=-5", "bytes=5-", "bytes=9-0", "bytes=0-0,5-6", "bytes=99999999-",
         "bytes=abc", "items=0-1", f"bytes={10**30}-", "bytes=-0", "bytes=0-",
         "bytes=" + "9" * 5000 + "-", "bytes=0-" + "9" * 5000, "bytes=\u00b2-"]
    )  # fmt: skip


def restore(fuzzer: Fuzzer, visitor: Visitor) -> None:
    rng = fuzzer.rng
    raw_id, upload = fuzzer.target(visitor)
    quoted = fuzzer.quoted(raw_id)
    url = rng.choice(
        [f"/fp/?restore={quoted}", f"/fp/restore/?id={quoted}", f"/fp/restore/{quoted}"]
    )
    request = download(fuzzer, url)
    response, _identity = fuzzer.send("restore", visitor, request, upload=upload)
    if upload is not None and (not upload.chunked or upload.received == upload.length):
        fuzzer.check_bytes("restore", upload.content, request, response)


def load(fuzzer: Fuzzer, visitor: Visitor) -> None:
    rng = fuzzer.rng
    if fuzzer.stored and rng.random() < 0.8:
        raw_id = rng.choice(sorted(fuzzer.stored))
    else:
        raw_id = fuzzer.target(visitor)[0]
    quoted = fuzzer.quoted(raw_id)
    url = rng.choice([f"/fp/?load={quoted}", f"/fp/load/?id={quoted}", f"/fp/load/{quoted}"])
    request = download(fuzzer, url)
    response, _identity = fuzzer.send("load", visitor, request)
    fuzzer.check_bytes("load", fuzzer.stored.get(raw_id), request, response)


def store(fuzzer: Fuzzer, visitor: Visitor) -> None:
    """What a project's form view does with a submitted id (``store_upload``)."""
    raw_id, upload = fuzzer.target(visitor)
    body = raw_id.encode("utf-8", "surrogatepass")
    request = Request("POST", "/store/", [("Content-Type", "text/plain")], body)
    response, _identity = fuzzer.send("store", visitor, request, upload=upload)
    if upload is not None and response is not None and response.status == 200:
        upload.gone = True
        fuzzer.stored[upload.upload_id] = upload.content


def fetch(fuzzer: Fuzzer, visitor: Visitor) -> None:
    """Fetch from the run's file server, or from addresses the server must refuse."""
    rng = fuzzer.rng
    base = fuzzer.shared.fetch_base
    path = rng.choice(sorted(fuzzer.shared.fetch_files))
    if rng.random() < 0.6:
        target = base + path + rng.choice(["", "", "?q=" + shapes.token(rng, 5)])
    else:
        target = rng.choice(
            [
                f"http://127.0.0.1:{fuzzer.shared.port}/fp/",
                "http://localhost/",
                "http://[::1]/",
                "http://10.0.0.1/",
                "http://0x7f000001/",
                "http://2130706433/",
                "file:///etc/passwd",
                "ftp://127.0.0.2/",
                "gopher://127.0.0.2/",
                base.replace("http://", "http://user:pw@") + path,
                "http://127.0.0.2:99999/",
                "http:///x",
                "not a url",
                "",
                base + "/" + "a" * 5000,
            ]
        )
    quoted = quote(target, safe="")
    url = rng.choice([f"/fp/?fetch={quoted}", f"/fp/fetch/?target={quoted}"])
    method = "GET" if rng.random() < 0.8 else "HEAD"
    request = Request(method, url, content_length=None)
    response, identity = fuzzer.send("fetch", visitor, request)
    if response is None or response.status != 200:
        return
    upload_id = response.header("X-Content-Transfer-Id") or ""
    expected = fuzzer.shared.fetch_files.get(target[len(base) :].split("?", 1)[0])
    if not shapes.ID_RE.fullmatch(upload_id):
        fuzzer.fail("fetch", request, response, ["200 without X-Content-Transfer-Id"])
        return
    fuzzer.record(visitor, identity, request, upload_id, content=expected, chunked=False)
    fuzzer.check_bytes("fetch", expected, request, response)


def any_url(fuzzer: Fuzzer, *, unserved: bool = True) -> str:
    """Any URL of the app; with ``unserved``, also the run's store view and a path under
    the app's mount that no pattern matches. Those two answer HEAD with a body (DRF's
    405, Django's own 404 page), which is the project's business and not the app's."""
    rng = fuzzer.rng
    raw_id, _upload = fuzzer.target(rng.choice(fuzzer.visitors))
    quoted = fuzzer.quoted(raw_id)
    return rng.choice(
        [
            "/fp/",
            "/fp/process/",
            f"/fp/?patch={quoted}",
            f"/fp/patch/{quoted}",
            "/fp/patch/",
            "/fp/patch//",
            "/fp/revert/",
            f"/fp/?restore={quoted}",
            f"/fp/restore/{quoted}",
            f"/fp/?load={quoted}",
            f"/fp/load/?id={quoted}",
            "/fp/?fetch=",
            "/fp/fetch/",
            "/fp/?patch",
            f"/fp/?restore=&restore={quoted}",
            f"/fp/?load=%ff&load={quoted}",
            "/fp/?" + "a" * 4000,
            f"/fp/?patch={quoted}&restore={quoted}",
            "/fp/restore/%00",
            *(["/store/", "/fp/nothing/"] if unserved else []),
        ]
    )


def other_method(fuzzer: Fuzzer, visitor: Visitor) -> None:
    method = fuzzer.rng.choice(
        ["PUT", "OPTIONS", "TRACE", "PROPFIND", "FOO", "get", "PATCH", "POST", "DELETE", "GET"]
    )
    body = fuzzer.rng.randbytes(fuzzer.rng.choice([0, 0, 10, 500]))
    request = Request(method, any_url(fuzzer), [("Content-Type", "text/plain")], body)
    fuzzer.send("other method", visitor, request)


def head_anywhere(fuzzer: Fuzzer, visitor: Visitor) -> None:
    request = Request("HEAD", any_url(fuzzer, unserved=False), content_length=None)
    fuzzer.send("head anywhere", visitor, request)
