"""Random values for the run: ids, names, metadata, header values, multipart bodies.

Every function takes the caller's :class:`random.Random`, so that one seed gives one run.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
from urllib.parse import quote

from tests.fuzz.urls import MARKER
from tests.helpers import tiny_png

ALNUM = string.ascii_letters + string.digits
#: What the server's upload ids look like.
ID_RE = re.compile(r"[A-Za-z0-9_-]{22}")


def token(rng: random.Random, length: int = 22) -> str:
    return "".join(rng.choice(ALNUM) for _ in range(length))


def malformed_id(rng: random.Random) -> str:
    """An id that is not one the server makes, as raw text (the caller quotes it)."""
    return rng.choice(
        [
            "",
            "x",
            token(rng, 21),
            token(rng, 23),
            token(rng, 21) + "!",
            token(rng, 21) + "é",
            token(rng, 21) + "/",
            token(rng, 21) + "\x00",
            token(rng, 21) + "%",
            "../../../etc/passwd",
            "..%2f..%2fetc%2fpasswd",
            "' OR 1=1 --",
            "a" * 300,
            token(rng, 2000),
            "\u202e" + token(rng, 21),
            " " + token(rng, 22),
            token(rng, 22) + "\n",
            "0" * 22,
            "null",
            "-1",
            "${jndi:ldap://127.0.0.1/a}",
        ]
    )


def file_name(rng: random.Random) -> str:
    stem = rng.choice(["report", "photo", "a", "x y", "résumé", "写真", "🙂", "semi;colon,c"])
    ext = rng.choice([".txt", ".png", ".md", ".bin", ".pdf", ".html", ".svg", "", ".tar.gz"])
    return rng.choice(
        [
            stem + ext,
            stem + ext,
            "../../etc/" + stem + ext,
            "C:\\Users\\x\\" + stem + ext,
            "",
            ".",
            "..",
            "...",
            "   ",
            ".hidden" + ext,
            "a" * 400 + ext,
            "é" * 200 + ext,
            stem + "\x00" + ext,
            stem + "\r\n" + ext,
            stem + "\x1b[31m" + ext,
            "\u202egnp.exe",
            'quote"' + ext,
            "pct%41" + ext,
            "con",
            "a\u0301" + ext,
        ]
    )


def upload_name_header(rng: random.Random) -> bytes:
    """An ``Upload-Name`` value as raw bytes (FilePond sends UTF-8; others send anything)."""
    name = file_name(rng).replace("\r", "").replace("\n", "").replace("\x00", "")
    choice = rng.random()
    if choice < 0.6:
        return name.encode("utf-8")
    if choice < 0.7:
        return bytes(rng.randrange(0x80, 0x100) for _ in range(rng.randrange(1, 40)))
    if choice < 0.8:
        return name.encode("latin-1", "replace")
    if choice < 0.9:
        return b"\xff\xfe" + name.encode("utf-16-le")
    return b"x" * rng.choice([1000, 5000])


def metadata(rng: random.Random) -> str:
    """A metadata value of any JSON shape, valid or not, storable or not."""
    return rng.choice(
        [
            "{}",
            "{}",
            '{"a": 1, "b": [true, null, 1.5, "é"]}',
            '{"a": NaN}',
            '{"a": Infinity}',
            '{"a": -Infinity}',
            '{"a": 1e999}',
            '{"a": -1e999}',
            '{"a": 1e-999}',
            '{"a": "\\ud800"}',
            '{"a": "\\udc00x"}',
            '{"\\ud800": 1}',
            '{"a": "\\ud83d\\ude00"}',
            '{"a": "\\u0000"}',
            '{"\\u0000": 1}',
            '{"a\\u0001b": "\\u007f"}',
            '{"a": 1, "a": 2}',
            '{"a": ' + "1" * 4400 + "}",
            '{"a": ' + "9" * 400 + "}",
            '{"a": -0.0}',
            "[]",
            '"text"',
            "1",
            "null",
            "true",
            "",
            "{",
            "{'a': 1}",
            "[" * 5000 + "]" * 5000,
            '{"a":' * 3000 + "1" + "}" * 3000,
            '{"a": "' + "x" * 3000 + '"}',
            json.dumps({f"k{i}": i for i in range(150)}),
            json.dumps({"name": "é" * 600}),
        ]
    )


def field_name(rng: random.Random) -> str:
    return rng.choice(
        [
            "filepond",
            "filepond",
            "filepond",
            "images",
            "notes",
            "filepond[]",
            "documents",
            "",
            "a\x00b",
            "a\x01b",
            "a\tb",
            "\u202ename",
            "é" * 10,
            "n" * 255,
            "n" * 256,
            "n" * 3000,
            'quo"te',
            "default",
            "csrfmiddlewaretoken",
        ]
    )


def content(rng: random.Random) -> bytes:
    """File contents: mostly small, a few past the size limits, some images, some refused."""
    roll = rng.random()
    if roll < 0.08:
        size = 0
    elif roll < 0.4:
        size = rng.randrange(1, 100)
    elif roll < 0.7:
        size = rng.randrange(100, 4096)
    elif roll < 0.95:
        size = rng.randrange(4096, 64 * 1024)
    else:
        size = rng.randrange(64 * 1024, 260 * 1024)
    if rng.random() < 0.5:
        data = rng.randbytes(size)
    else:
        data = (b"line of text\n" * (size // 13 + 1))[:size]
    kind = rng.random()
    if kind < 0.12:
        data = tiny_png(padding=size)
    elif kind < 0.17 and size >= len(MARKER):
        at = rng.randrange(0, size - len(MARKER) + 1)
        data = data[:at] + MARKER + data[at + len(MARKER) :]
    elif kind < 0.2:
        data = b"<html><script>alert(1)</script></html>" + data
    return data


def quote_id(rng: random.Random, raw: str) -> str:
    """An id as it goes into a URL: quoted, or (rarely) raw."""
    return raw if rng.random() < 0.05 and raw.isprintable() else quote(raw, safe="")


# --- multipart ---------------------------------------------------------------------------------


def disposition(name: str, filename: str | None = None, rng: random.Random | None = None) -> bytes:
    value = f'form-data; name="{name}"'
    if filename is not None:
        if rng is not None and rng.random() < 0.1:
            value += f"; filename*=UTF-8''{quote(filename)}"
        else:
            value += f'; filename="{filename}"'
    return b"Content-Disposition: " + value.encode("utf-8", "surrogatepass")


def multipart(
    parts: list[tuple[list[bytes], bytes]],
    boundary: str,
    *,
    close: bool = True,
    newline: bytes = b"\r\n",
) -> bytes:
    out = []
    for headers, body in parts:
        out.append(b"--" + boundary.encode() + newline)
        out.extend(header + newline for header in headers)
        out.append(newline + body + newline)
    if close:
        out.append(b"--" + boundary.encode() + b"--" + newline)
    return b"".join(out)


def file_part(
    rng: random.Random, field: str, name: str, data: bytes
) -> tuple[tuple[list[bytes], bytes], bytes | None]:
    """A file part, and the bytes the server should keep of it (``None``: none, or unknown)."""
    headers = [disposition(field, name, rng)]
    kept: bytes | None = data
    roll = rng.random()
    if roll < 0.7:
        types = [b"application/octet-stream", b"image/png", b"text/plain", b"text/html", b"x/\xff"]
        headers.append(b"Content-Type: " + rng.choice(types))
    elif roll < 0.75:
        headers.append(b"Content-Transfer-Encoding: base64")
        if rng.random() < 0.7:
            data = base64.b64encode(data)
        else:
            data, kept = b"!!not base64!!" + data[:10], None
    elif roll < 0.8:
        headers.append(b"X-" + b"h" * rng.choice([100, 2000]) + b": v")
    return (headers, data), kept
