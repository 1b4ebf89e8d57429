"""Small helpers shared by the test modules."""

from __future__ import annotations

import hashlib


def body_of(response) -> bytes:
    if getattr(response, "streaming", False):
        return response.streamed_body
    return response.content


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
