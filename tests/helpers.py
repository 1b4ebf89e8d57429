"""Small helpers shared by the test modules."""

from __future__ import annotations

import hashlib
import struct
import zlib


def body_of(response) -> bytes:
    if getattr(response, "streaming", False):
        return response.streamed_body
    return response.content


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tiny_png(padding: int = 0) -> bytes:
    """A valid 1x1 PNG (libmagic reads it as image/png), optionally followed by filler."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    image = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )
    return image + bytes(range(256)) * (padding // 256 + 1) if padding else image


#: The 404 for a request that carries no session cookie (and no user): it names the cookie.
NOT_FOUND_WITHOUT_SESSION = (
    "No upload with that id was found for this visitor: uploads belong to the session cookie "
    "sessionid, which this request did not send."
)
