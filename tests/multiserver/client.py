"""Requests straight to one app server, bypassing nginx, as FilePond would send them."""

from __future__ import annotations

import http.client

from tests.multiserver.cluster import AppServer

BOUNDARY = "multiserver-boundary"


def call(
    server: AppServer,
    method: str,
    url: str,
    cookie: str = "",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of one request to ``server``."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        all_headers = {"Cookie": cookie} if cookie else {}
        conn.request(method, url, body, {**all_headers, **(headers or {})})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def whole_file(content: bytes, name: str = "note.txt") -> tuple[bytes, dict[str, str]]:
    """Body and headers of FilePond's process request for a whole file."""
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="filepond"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    body = head.encode() + content + f"\r\n--{BOUNDARY}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def start_transfer(server: AppServer, length: int, cookie: str = "") -> tuple[str, str]:
    """Start a chunked transfer of ``length`` bytes on ``server``, as FilePond's first POST
    does; the upload id and the session cookie (``cookie``, or the one the server set)."""
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="filepond"\r\n\r\n{{}}\r\n'
        f"--{BOUNDARY}--\r\n"
    ).encode()
    headers = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Upload-Length": str(length),
    }
    status, answer, upload_id = call(server, "POST", "/fp/", cookie, body, headers)
    assert status == 200, upload_id
    return upload_id.decode(), cookie or answer.get("Set-Cookie", "").split(";", 1)[0]


def send_patch(
    server: AppServer, upload_id: str, cookie: str, body: bytes, offset: int, length: int
) -> tuple[int, str | None, bytes]:
    """One chunk to ``server``: the status, the answered ``Upload-Offset`` and the body."""
    status, headers, text = call(
        server,
        "PATCH",
        f"/fp/?patch={upload_id}",
        cookie,
        body,
        {
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": str(offset),
            "Upload-Length": str(length),
            "Upload-Name": "chunked.bin",
        },
    )
    return status, headers.get("Upload-Offset"), text
