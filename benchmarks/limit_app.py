"""The "limit" of ``bench.py compare``: the least a server can do for FilePond's requests.

A bare WSGI application (standard library only, no Django) that gunicorn serves exactly as it
serves the two Django projects. It answers the same URLs as they do, with no checks beyond an
id's shape and no database:

===================================  ==========================================================
``GET /csrf/``                       a token (not checked), as the Django projects give one.
``POST /fp/process/``                with ``Upload-Length``: create an empty file (a chunked
                                     transfer's start); otherwise stream the whole request
                                     body to a new file. Answers the new id.
``PATCH /fp/patch/<id>``             write the body at ``Upload-Offset``, streamed.
``HEAD /fp/patch/<id>``              ``Upload-Offset``: the file's size.
``GET /fp/restore/?id=<id>``         the temporary file, through ``wsgi.file_wrapper``
                                     (gunicorn sends it with ``sendfile()``).
``POST /store/``                     ``os.rename`` of the temporary file whose id is the body
                                     into the store directory; answers the id.
``GET /fp/load/?id=<id>``            the stored file, as for restore.
``DELETE /fp/revert/``               remove the temporary file whose id is the body.
===================================  ==========================================================

Everything lives under ``$LIMIT_BENCH_DIR`` (``tmp/`` and ``store/``), which ``bench.py``
creates and removes. Benchmark only: it trusts its client completely.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

WORK_DIR = os.environ.get("LIMIT_BENCH_DIR", "")
TEMP_DIR = os.path.join(WORK_DIR, "tmp")
STORE_DIR = os.path.join(WORK_DIR, "store")
#: Bytes read from a request body at a time, as the app under test reads them.
READ_SIZE = 1024 * 1024
ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")

StartResponse = Callable[..., Any]


def _answer(
    start_response: StartResponse, status: str, body: bytes = b"", offset: int | None = None
) -> list[bytes]:
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    if offset is not None:
        headers.append(("Upload-Offset", str(offset)))
    start_response(status, headers)
    return [body]


def _copy_body(environ: dict[str, Any], f: Any) -> None:
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    while remaining:
        piece = stream.read(min(READ_SIZE, remaining))
        if not piece:
            raise ValueError("the request body ended early")
        f.write(piece)
        remaining -= len(piece)


def _body_id(environ: dict[str, Any]) -> str:
    length = min(int(environ.get("CONTENT_LENGTH") or 0), 1024)
    return environ["wsgi.input"].read(length).decode("ascii", "replace").strip()


def _serve(environ: dict[str, Any], start_response: StartResponse, path: str) -> Iterable[bytes]:
    f = open(path, "rb")  # noqa: SIM115  # closed by the server through the file wrapper
    size = os.fstat(f.fileno()).st_size
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(size)),
            ("Content-Disposition", 'inline; filename="bench.bin"'),
        ],
    )
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(f, READ_SIZE)
    return iter(lambda: f.read(READ_SIZE), b"")


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if method == "GET" and path == "/csrf/":
        return _answer(start_response, "200 OK", secrets.token_urlsafe(32).encode())
    if method == "POST" and path == "/fp/process/":
        upload_id = secrets.token_urlsafe(16)  # 22 characters, like the apps' ids
        os.makedirs(TEMP_DIR, exist_ok=True)
        with open(os.path.join(TEMP_DIR, upload_id), "xb") as f:
            if "HTTP_UPLOAD_LENGTH" not in environ:
                _copy_body(environ, f)
        return _answer(start_response, "200 OK", upload_id.encode())
    if path.startswith("/fp/patch/") and ID_RE.match(path[len("/fp/patch/") :]):
        temp_path = os.path.join(TEMP_DIR, path[len("/fp/patch/") :])
        if method == "HEAD":
            return _answer(start_response, "200 OK", offset=os.path.getsize(temp_path))
        if method == "PATCH":
            with open(temp_path, "r+b") as f:
                f.seek(int(environ["HTTP_UPLOAD_OFFSET"]))
                _copy_body(environ, f)
                offset = f.tell()
            return _answer(start_response, "204 No Content", offset=offset)
    if method == "GET" and path in ("/fp/restore/", "/fp/load/"):
        upload_id = query.get("id", [""])[0]
        if ID_RE.match(upload_id):
            directory = TEMP_DIR if path == "/fp/restore/" else STORE_DIR
            return _serve(environ, start_response, os.path.join(directory, upload_id))
    if method == "POST" and path == "/store/":
        upload_id = _body_id(environ)
        if ID_RE.match(upload_id):
            os.makedirs(STORE_DIR, exist_ok=True)
            os.rename(os.path.join(TEMP_DIR, upload_id), os.path.join(STORE_DIR, upload_id))
            return _answer(start_response, "200 OK", upload_id.encode())
    if method == "DELETE" and path == "/fp/revert/":
        upload_id = _body_id(environ)
        if ID_RE.match(upload_id):
            os.remove(os.path.join(TEMP_DIR, upload_id))
            return _answer(start_response, "204 No Content")
    return _answer(start_response, "404 Not Found", b"Not a request of the benchmark.")
