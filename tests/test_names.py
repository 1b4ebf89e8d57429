"""File names in and out: sanitising client names, decoding headers, Content-Disposition."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from django_filepond_server.names import (
    MAX_NAME_BYTES,
    MAX_NAME_LENGTH,
    content_disposition,
    decode_header_name,
    is_active_content,
    safe_name,
)

_RESERVED = set(";/?:@&=+$,#")


def js_decode_uri(text: str) -> str:
    """JavaScript's ``decodeURI``: decodes UTF-8 escapes except those of reserved characters,
    and throws (here: ValueError) on a malformed escape."""

    def decode_run(match: re.Match[str]) -> str:
        raw = bytes.fromhex(match.group(0).replace("%", ""))
        out, i = [], 0
        while i < len(raw):
            first = raw[i]
            length = 1 if first < 0x80 else 2 if first >> 5 == 6 else 3 if first >> 4 == 14 else 4
            piece = raw[i : i + length]
            char = piece.decode("utf-8")  # raises on malformed UTF-8, as decodeURI throws
            out.append(f"%{piece.hex().upper()}" if char in _RESERVED else char)
            i += length
        return "".join(out)

    if re.search(r"%(?![0-9A-Fa-f]{2})", text):
        raise ValueError("URIError: URI malformed")
    return re.sub(r"(?:%[0-9A-Fa-f]{2})+", decode_run, text)


def filepond_filename(header: str) -> str | None:
    """What FilePond 4.32 reads as the file name from a Content-Disposition header
    (``getFilenameFromHeader``): the last ``filename=``/``filename*=…''`` value, one leading
    quote and up to two trailing ``;"'`` stripped, then ``decodeURI``."""
    pieces = re.split(r"filename=|filename\*=.+''", header)[1:]
    names = [re.sub(r"^[\"']|[;\"']{0,2}$", "", piece.strip()) for piece in pieces]
    names = [name for name in names if name]
    return js_decode_uri(names[-1]) if names else None


ROUND_TRIP_NAMES = [
    "plain.txt",
    "100%.pdf",
    "a''b.pdf",
    "東京 (1).png",
    "x;y=z&w@q.pdf",
    "résumé 東京 100%.pdf",
    'quote".txt',
    "a#b?c.txt",
    "100%25.pdf",
    "+plus+ $dollar$ ,comma,.txt",
    "back`tick~.txt",
    "emoji 📎.txt",
]


@pytest.mark.parametrize("name", ROUND_TRIP_NAMES)
def test_filepond_reads_back_exactly_the_name_we_send(name):
    for attachment in (False, True):
        assert filepond_filename(content_disposition(name, attachment=attachment)) == name


def test_the_filename_is_the_last_parameter():
    assert content_disposition("a.pdf").endswith('filename="a.pdf"')
    assert content_disposition("é.pdf").endswith("filename*=UTF-8''%C3%A9.pdf")


def test_the_header_is_ascii():
    content_disposition("東京.png").encode("ascii")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\My Photo.jpg", "My Photo.jpg"),
        ("a\x00b\x1fc\x7f.txt", "abc.txt"),
        ("..", "file"),
        ("...", "file"),
        (".bashrc", "bashrc"),
        ("  spaced  ", "spaced"),
        ("", "file"),
        (None, "file"),
        ("dir/", "file"),
        ("ＡＢＣ.txt", "ＡＢＣ.txt"),
        ("e\u0301.txt", "\u00e9.txt"),  # NFC
    ],
)
def test_safe_name(raw, expected):
    assert safe_name(raw) == expected


def test_safe_name_caps_the_length_and_keeps_the_extension():
    name = safe_name("x" * 1000 + ".pdf")
    assert len(name) == MAX_NAME_LENGTH
    assert name.endswith(".pdf")
    assert len(safe_name("y" * 1000)) == MAX_NAME_LENGTH


@pytest.mark.parametrize("letter", ["é", "写", "🙂"])
def test_safe_name_fits_a_filesystem_name_in_utf8_bytes(letter):
    """Filesystems allow 255 bytes per name: 150 characters of a non-ASCII script are more."""
    name = safe_name(letter * 149 + ".txt")
    assert len(name.encode()) <= MAX_NAME_BYTES < 255
    assert name.endswith(".txt")
    assert name.startswith(letter * 10)
    assert len(safe_name(letter * 1000).encode()) <= MAX_NAME_BYTES


def test_decode_header_name_reverses_latin1_decoding_of_utf8():
    wire = "résumé 東京.pdf".encode().decode("latin-1")
    assert decode_header_name(wire) == "résumé 東京.pdf"
    assert decode_header_name("caf\xe9.txt") == "café.txt"  # not UTF-8: keep as read
    assert decode_header_name("plain.txt") == "plain.txt"


@pytest.mark.parametrize(
    ("content_type", "active"),
    [
        ("text/html", True),
        ("text/html; charset=utf-8", True),
        ("image/svg+xml", True),
        ("application/xml", True),
        ("application/atom+xml", True),
        ("text/javascript", True),
        ("application/x-javascript", True),
        ("image/png", False),
        ("application/pdf", False),
        ("text/plain", False),
        ("application/octet-stream", False),
    ],
)
def test_is_active_content(content_type, active):
    assert is_active_content(content_type) is active


FILEPOND_JS = Path(__file__).resolve().parent.parent / "demo/node_modules/filepond/dist/filepond.js"

NODE_PROGRAM = r"""
const fs = require('fs');
const source = fs.readFileSync(process.argv[1], 'utf8');
const match = source.match(/var getFileNameFromHeader = function[\s\S]*?\n    };\n/);
if (!match) throw new Error('getFileNameFromHeader not found in ' + process.argv[1]);
const getFileNameFromHeader = new Function(match[0] + '; return getFileNameFromHeader;')();
const headers = JSON.parse(fs.readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(headers.map((h) => getFileNameFromHeader(h))));
"""


def test_the_real_filepond_parser_reads_back_every_name():
    """The same round trip through the parser in the FilePond build the demo serves."""
    assert FILEPOND_JS.exists(), "run `npm ci` in demo/ (the test command does)"
    names = ROUND_TRIP_NAMES
    headers = [f"Content-Disposition: {content_disposition(name)}" for name in names]
    result = subprocess.run(
        ["node", "-e", NODE_PROGRAM, str(FILEPOND_JS)],
        input=json.dumps(headers),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert json.loads(result.stdout) == names
