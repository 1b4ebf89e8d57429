"""File names from clients, and how names and types go back out in response headers."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from urllib.parse import quote

#: Longest file name kept, in bytes of UTF-8: 255 (what Linux file systems, SFTP servers on
#: them and S3 key segments hold) less 8 for the ``_`` and seven characters that Django's
#: ``get_alternative_name`` adds when the name is taken.
MAX_NAME_BYTES = 247

#: Longest extension kept when a name is cut, in characters.
MAX_EXTENSION_LENGTH = 16

FALLBACK_NAME = "file"

# Removed: controls, format characters (bidi overrides, zero-width joiners, soft hyphens),
# lone surrogates, line and paragraph separators, noncharacters. Browsers drop or replace
# them when saving, and they hide what a name really says.
_REMOVED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
# Replaced with "_": what Windows forbids in a name, and so Chromium replaces on saving.
_RESERVED = re.compile(r'["*:<>?|]')
# Stripped from both ends; Chromium replaces them there on saving.
_END_CHARACTERS = ".~"
# A name FilePond and RFC 6266 readers both read back from filename="...": printable ASCII
# without " % \ (FilePond runs decodeURI on it, Chromium percent-decodes it), not ending in
# ' or ; (FilePond strips those with the closing quote), never containing FilePond's own
# split point filename= or filename*=.
_QUOTABLE = re.compile(r"[ !#$&-\[\]-~]*")
_SPLIT_POINT = re.compile(r"filename\*?=")
# Characters an RFC 8187 value must percent-encode but FilePond's decodeURI leaves encoded:
# in a name that goes out as filename*=, they are replaced with "_".
_NOT_ENCODABLE = re.compile(r"[;,=@]")
# RFC 8187 attr-char, the characters of filename*= that are not percent-encoded.
_ATTR_CHAR_PUNCTUATION = "!#$&+^`|"

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
    """Reduce a client-supplied file name to a safe base name, the same on disk and in headers.

    The result has no path separators, control or format characters, nor characters Windows
    forbids; it does not start or end with a dot, a space or ``~``; it is at most
    :data:`MAX_NAME_BYTES` bytes of UTF-8, cut between characters (never inside a character
    and the marks that combine with it) with its extension kept; and it is written by
    :func:`content_disposition` so that FilePond, RFC 6266 readers and browsers all read it
    back unchanged. Applying it twice changes nothing.
    """
    if not name:
        return FALLBACK_NAME
    # Browsers on Windows may send the full path: keep what follows the last separator.
    name = re.split(r"[/\\]", str(name))[-1]
    name = "".join(char for char in name if not _removed(char))
    # After the removal, which can bring a letter and its combining mark together.
    name = unicodedata.normalize("NFC", name)
    name = _strip_ends(_cap(_strip_ends(_RESERVED.sub("_", name))))
    if not _quotable(name):
        name = _NOT_ENCODABLE.sub("_", name)  # one byte for one: the cap still holds
    return name or FALLBACK_NAME


def _removed(char: str) -> bool:
    code = ord(char)
    return (
        unicodedata.category(char) in _REMOVED_CATEGORIES
        or 0xFDD0 <= code <= 0xFDEF
        or code & 0xFFFE == 0xFFFE
    )


def _strip_ends(name: str) -> str:
    while True:
        stripped = name.strip().strip(_END_CHARACTERS)
        if stripped == name:
            return name
        name = stripped


def _quotable(name: str) -> bool:
    return (
        _QUOTABLE.fullmatch(name) is not None
        and not name.endswith(("'", ";"))
        and _SPLIT_POINT.search(name) is None
    )


def _cap(name: str) -> str:
    """``name`` cut to :data:`MAX_NAME_BYTES` bytes, keeping a short extension."""
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and stem and 0 < len(extension) <= MAX_EXTENSION_LENGTH:
        budget = MAX_NAME_BYTES - len(extension.encode()) - 1
        stem = _strip_ends(_cut(stem, budget))
        return f"{stem}.{extension}" if stem else _cut(name, MAX_NAME_BYTES)
    return _cut(name, MAX_NAME_BYTES)


def _cut(text: str, budget: int) -> str:
    """The longest start of ``text`` within ``budget`` bytes that ends between two
    user-perceived characters: a character keeps its combining marks, emoji modifiers,
    Hangul vowels and finals, and a flag both of its regional indicators."""
    end = used = 0
    for cluster in _clusters(text):
        used += len(cluster.encode())
        if used > budget:
            break
        end += len(cluster)
    return text[:end]


def _clusters(text: str) -> list[str]:
    clusters: list[str] = []
    regional_run = 0
    for char in text:
        code = ord(char)
        regional = 0x1F1E6 <= code <= 0x1F1FF
        extends = (
            unicodedata.category(char) in ("Mn", "Mc", "Me")
            or 0x1F3FB <= code <= 0x1F3FF  # emoji skin tones
            or 0x1160 <= code <= 0x11FF  # Hangul medial vowels and final consonants
            or 0xD7B0 <= code <= 0xD7FF
            or (regional and regional_run % 2 == 1)  # the second half of a flag
        )
        regional_run = regional_run + 1 if regional else 0
        if extends and clusters:
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


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
    """A ``Content-Disposition`` value that FilePond's parser and RFC 6266 readers (browsers,
    ``curl -J``, Python's ``email``) all read back as ``safe_name(name)``.

    FilePond takes the text after the *last* ``filename=`` or ``filename*=…''``, strips one
    leading and up to two trailing quotes or semicolons, and runs ``decodeURI`` on it. So the
    filename is the only parameter; a name :func:`safe_name` keeps as printable ASCII goes out
    quoted, and any other as RFC 8187's ``filename*=UTF-8''`` with every character outside
    ``attr-char`` percent-encoded (``safe_name`` has replaced the four, ``; , = @``, whose
    escapes ``decodeURI`` would leave encoded).
    """
    name = safe_name(name)
    disposition = "attachment" if attachment else "inline"
    if _quotable(name):
        return f'{disposition}; filename="{name}"'
    return f"{disposition}; filename*=UTF-8''{quote(name, safe=_ATTR_CHAR_PUNCTUATION)}"
