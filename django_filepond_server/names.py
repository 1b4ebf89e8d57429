"""File names from clients, and how names and types go back out in response headers."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from urllib.parse import quote

#: Longest file name kept, in characters.
MAX_NAME_LENGTH = 150
#: Longest file name kept, in UTF-8 bytes: most filesystems allow 255 bytes per name, and
#: storages may add a suffix to a name that is taken.
MAX_NAME_BYTES = 200

FALLBACK_NAME = "file"

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f/\\]")
_ASCII_SAFE_FOR_QUOTED = re.compile(r"^[ !#-$&(-\[\]-~]*$")  # printable ASCII minus " % ' \

# Types that a browser would run or render as active content on our origin.
_ACTIVE_TYPES = {
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "text/javascript",
    "application/javascript",
    "application/ecmascript",
    "text/ecmascript",
    "application/x-javascript",
    "text/xsl",
    "application/xslt+xml",
    "application/rdf+xml",
    "application/mathml+xml",
    "application/pdf+xml",
    "text/vtt",
    "application/x-shockwave-flash",
    "multipart/x-mixed-replace",
}


def decode_header_name(value: str) -> str:
    """Turn an ``Upload-Name`` header back into text.

    FilePond sends header values as raw UTF-8 bytes; WSGI hands them to Django decoded as
    Latin-1. Re-encode and decode as UTF-8, keeping the Latin-1 reading for old clients whose
    bytes are not UTF-8.
    """
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def safe_name(name: str | None) -> str:
    """Reduce a client-supplied file name to a safe basename.

    The result has no path separators, no NUL or control characters, is never ``.`` or
    ``..`` nor starts with a dot run that could read as one, and is at most
    :data:`MAX_NAME_LENGTH` characters and :data:`MAX_NAME_BYTES` bytes of UTF-8 (so that
    it fits a filesystem's name in any script) with its extension kept.
    """
    if not name:
        return FALLBACK_NAME
    name = unicodedata.normalize("NFC", str(name))
    # Browsers on Windows may send the full path: keep what follows the last separator.
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE.sub("", name)
    name = name.strip().strip(".").strip()
    if not name:
        return FALLBACK_NAME
    if len(name) > MAX_NAME_LENGTH or len(_utf8(name)) > MAX_NAME_BYTES:
        stem, dot, ext = name.rpartition(".")
        suffix = "." + ext if dot and 0 < len(ext) <= 16 and stem else ""
        if not suffix:
            stem = name
        stem = stem[: MAX_NAME_LENGTH - len(suffix)]
        # Whole characters only: a cut inside a multi-byte character drops that character.
        stem = _utf8(stem)[: MAX_NAME_BYTES - len(_utf8(suffix))].decode("utf-8", "ignore")
        name = stem.rstrip() + suffix
    return name


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def guess_type(name: str) -> str:
    """Content type from the name's extension; ``application/octet-stream`` when unknown."""
    content_type, _ = mimetypes.guess_type(name, strict=False)
    return content_type or "application/octet-stream"


def is_active_content(content_type: str) -> bool:
    """Whether a browser could execute or render this type as a document on our origin."""
    base = content_type.split(";", 1)[0].strip().lower()
    return base in _ACTIVE_TYPES or base.endswith("+xml") or "javascript" in base


def content_disposition(name: str, *, attachment: bool = False) -> str:
    """A ``Content-Disposition`` value that FilePond's parser reads back as ``name``.

    FilePond takes the *last* ``filename=``/``filename*=`` and runs ``decodeURI`` on it, so the
    filename comes last, plain ASCII names without ``%`` or quotes go out quoted, and any other
    name as ``filename*=UTF-8''`` with exactly the characters ``decodeURI`` leaves alone kept raw.
    """
    disposition = "attachment" if attachment else "inline"
    if _ASCII_SAFE_FOR_QUOTED.match(name):
        return f'{disposition}; filename="{name}"'
    return f"{disposition}; filename*=UTF-8''{quote(name, safe='#$&+,:;=?@')}"
