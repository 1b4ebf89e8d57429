"""File names in and out: sanitising client names, decoding headers, Content-Disposition."""

from __future__ import annotations

import json
import subprocess
import unicodedata
from email.message import Message
from pathlib import Path

import pytest

from django_filepond_server.names import (
    MAX_NAME_BYTES,
    content_disposition,
    decode_header_name,
    is_active_content,
    safe_name,
)
from tests.name_corpus import AWKWARD_NAMES, generated_names

NODE_MODULES = Path(__file__).resolve().parent.parent / "demo/node_modules"
FILEPOND_JS = NODE_MODULES / "filepond/dist/filepond.js"
#: A strict RFC 6266 / RFC 8187 parser: jshttp's, the one Express uses (demo/package.json).
RFC6266_PARSER = NODE_MODULES / "content-disposition"

#: The hand-picked names and 3,000 random ones.
CORPUS = AWKWARD_NAMES + generated_names(3000)

# Reads each Content-Disposition value with FilePond's own getFileNameFromHeader (cut out of
# the FilePond build the demo serves) and with the strict parser; a parser's exception is
# reported as {"error": ...}.
NODE_PROGRAM = r"""
const fs = require('fs');
const source = fs.readFileSync(process.argv[1], 'utf8');
const match = source.match(/var getFileNameFromHeader = function[\s\S]*?\n    };\n/);
if (!match) throw new Error('getFileNameFromHeader not found in ' + process.argv[1]);
const getFileNameFromHeader = new Function(match[0] + '; return getFileNameFromHeader;')();
const contentDisposition = require(process.argv[2]);
const read = (parse) => {
  try { return parse(); } catch (error) { return { error: String(error) }; }
};
const values = JSON.parse(fs.readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(values.map((value) => ({
  filepond: read(() => getFileNameFromHeader('Content-Disposition: ' + value)),
  rfc6266: read(() => contentDisposition.parse(value).parameters.filename),
}))));
"""


def read_in_node(values: list[str]) -> list[dict]:
    assert FILEPOND_JS.exists(), "run `npm ci` in demo/ (the test command does)"
    assert RFC6266_PARSER.exists(), "run `npm ci` in demo/ (the test command does)"
    result = subprocess.run(
        ["node", "-e", NODE_PROGRAM, str(FILEPOND_JS), str(RFC6266_PARSER)],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def read_with_email(value: str) -> str | None:
    """What Python's ``email`` package (RFC 2231) reads as the file name."""
    message = Message()
    message["Content-Disposition"] = value
    return message.get_filename()


# --- names read back the same everywhere ---------------------------------------------------------


def test_every_sanitised_name_reads_back_the_same_in_filepond_and_rfc6266_parsers():
    names = [safe_name(raw) for raw in CORPUS]
    values = [content_disposition(name, attachment=i % 2 == 1) for i, name in enumerate(names)]
    read = read_in_node(values)
    misread = [
        (name, value, result)
        for name, value, result in zip(names, values, read, strict=True)
        if result != {"filepond": name, "rfc6266": name} or read_with_email(value) != name
    ]
    assert misread == []
    assert len(names) == len(CORPUS) > 3000


@pytest.mark.parametrize("raw", CORPUS[:200] + CORPUS[-200:])
def test_what_the_sanitiser_lets_through(raw):
    name = safe_name(raw)
    assert safe_name(name) == name  # idempotent: a stored name is sent as it is
    assert content_disposition(name) == content_disposition(raw)
    assert 0 < len(name.encode()) <= MAX_NAME_BYTES
    assert unicodedata.is_normalized("NFC", name)
    assert not set(name) & set('/\\"*:<>?|')
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in name)
    assert name == name.strip().strip(".~")
    content_disposition(name).encode("ascii")


@pytest.mark.parametrize(
    ("raw", "header"),
    [
        # Printable ASCII goes out quoted, commas, semicolons and all.
        ("Smith, John CV.pdf", 'inline; filename="Smith, John CV.pdf"'),
        ("x;y=z&w@q.pdf", 'inline; filename="x;y=z&w@q.pdf"'),
        # The asterisk Windows forbids is replaced, and what is left is a harmless name.
        (
            "inj.txt; filename*=UTF-8''evil.html",
            "inline; filename=\"inj.txt; filename_=UTF-8''evil.html\"",
        ),
        # Any other name in RFC 8187's form, every character outside attr-char encoded; the
        # ; , = @ that FilePond could not decode there are replaced.
        (
            "semi;comma,apos'pct%41 plus+.txt",
            "inline; filename*=UTF-8''semi_comma_apos%27pct%2541%20plus+.txt",
        ),
        ("Müller, Hans.pdf", "inline; filename*=UTF-8''M%C3%BCller_%20Hans.pdf"),
        ("filename=x.txt", 'inline; filename="filename_x.txt"'),
        ("a'", "inline; filename*=UTF-8''a%27"),
        ("100%.pdf", "inline; filename*=UTF-8''100%25.pdf"),
        ("é.pdf", "inline; filename*=UTF-8''%C3%A9.pdf"),
    ],
)
def test_content_disposition_forms(raw, header):
    assert content_disposition(raw) == header


def test_the_filename_is_the_only_parameter():
    assert content_disposition("a.pdf", attachment=True) == 'attachment; filename="a.pdf"'
    assert content_disposition("é.pdf", attachment=True).count(";") == 1


# --- the sanitiser -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\My Photo.jpg", "My Photo.jpg"),
        ("a\x00b\x1fc\x7f.txt", "abc.txt"),
        ("..", "file"),
        ("...", "file"),
        (". . .", "file"),
        ("   ", "file"),
        (".bashrc", "bashrc"),
        ("  spaced  ", "spaced"),
        ("~$lock.docx", "$lock.docx"),
        ("backup~", "backup"),
        ("", "file"),
        (None, "file"),
        ("dir/", "file"),
        ("ＡＢＣ.txt", "ＡＢＣ.txt"),
        ("e\u0301.txt", "\u00e9.txt"),  # NFC
        ("e\u200d\u0301.txt", "\u00e9.txt"),  # NFC after the joiner is gone
        ('what?*"<x>|: .txt', "what____x___ .txt"),
        ("rlo \u202egnp.exe", "rlo gnp.exe"),
        ("family 👨\u200d👩.png", "family 👨👩.png"),
        ("nbsp\u00a0inside.txt", "nbsp\u00a0inside.txt"),
        ("東京, 大阪; 名古屋=@.txt", "東京_ 大阪_ 名古屋__.txt"),
        ("Smith, John CV.pdf", "Smith, John CV.pdf"),
    ],
)
def test_safe_name(raw, expected):
    assert safe_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # 100 CJK characters are 300 bytes: cut to whole characters, the extension kept.
        ("東" * 100 + ".pdf", "東" * 81 + ".pdf"),
        ("x" * 1000 + ".pdf", "x" * 243 + ".pdf"),
        ("y" * 1000, "y" * 247),
        ("😀" * 70 + ".txt", "😀" * 60 + ".txt"),
        # A letter keeps its combining marks, an emoji its skin tone, a flag both halves.
        ("\u1ea1\u0301" * 60, "\u1ea1\u0301" * 49),
        ("👍🏽" * 40 + ".png", "👍🏽" * 30 + ".png"),
        ("🇫🇷" * 40 + ".txt", "🇫🇷" * 30 + ".txt"),
        ("한" * 100, "한" * 82),
        ("\u1100\u1161\u11f0" * 50, "\uac00\u11f0" * 41),  # a syllable and an old final
        # An extension of up to 16 characters is kept; a longer one is just the end of the name.
        ("é" * 200 + "." + "x" * 16, "é" * 115 + "." + "x" * 16),
        ("a" * 300 + "." + "x" * 17, "a" * 247),
        # Where the cut leaves a dot or a space at the end, it goes too.
        ("a" * 245 + " .b" + "c" * 30, "a" * 245),
    ],
)
def test_names_are_capped_in_bytes_between_characters(raw, expected):
    assert safe_name(raw) == expected
    assert len(expected.encode()) <= MAX_NAME_BYTES


def test_a_capped_name_leaves_room_for_a_storage_collision_suffix():
    # Django's get_alternative_name adds "_" and seven characters; 255 bytes is the limit of
    # a name on Linux file systems.
    assert MAX_NAME_BYTES + len("_abcdefg") == 255


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
