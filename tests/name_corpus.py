"""Awkward file names, for the tests that check every name the sanitiser lets through reads
back the same in FilePond, in an RFC 6266 parser and in Chromium."""

from __future__ import annotations

import random

#: Names people and attackers send: header syntax, percent signs, quotes, path parts,
#: controls, invisible and bidi characters, scripts, emoji, combining marks, long names.
AWKWARD_NAMES = [
    "plain.txt",
    "Smith, John CV.pdf",
    "semi;comma,apos'pct%41 plus+.txt",
    "inj.txt; filename*=UTF-8''evil.html",
    'inj.txt"; filename="evil.html',
    "filename=x.txt",
    "a;",
    "a'",
    "'quoted'.txt",
    '"double".txt',
    "100%.pdf",
    "100%25.pdf",
    "%E2%82%AC.txt",
    "bad %zz escape.txt",
    "a+b=c&d$e#f@g.txt",
    "x;y=z&w@q.pdf",
    "back\\slash.txt",
    "C:\\Users\\me\\My Photo.jpg",
    "../../etc/passwd",
    "two  spaces.txt",
    " lead and trail .txt ",
    "...",
    ". .",
    "   ",
    "..hidden",
    "trailing.",
    "~$lock.docx",
    "tilde~.txt~",
    "a~b.txt",
    "ask?.txt",
    "star*.txt",
    "pipe|.txt",
    "lt<gt>.txt",
    "colon:.txt",
    "tab\tname.txt",
    "new\nline.txt",
    "nul\x00.txt",
    "del\x7f.txt",
    "c1\x85\x9f.txt",
    "résumé.pdf",
    "Müller, Hans.pdf",
    "東京 (1).png",
    "東京, 大阪; 名古屋=@.txt",
    "Ελληνικά.doc",
    "Кириллица.txt",
    "עברית.txt",
    "العربية.pdf",
    "हिन्दी.txt",
    "ไทย่ๆ.txt",
    "한국어.hwp",
    "emoji 📎.txt",
    "👍🏽 thumbs.png",
    "family 👨\u200d👩\u200d👧.png",
    "flags 🇫🇷🇩🇪.txt",
    "rlo \u202egnp.exe",
    "zero\u200bwidth.txt",
    "bom\ufeff.txt",
    "soft\u00adhyphen.txt",
    "nbsp\u00a0inside.txt",
    "ideographic\u3000space.txt",
    "e\u0301cole.txt",
    "Z\u0335\u0321a\u0338l\u0334g\u0336o.txt",
    "ＡＢＣ.txt",
    "％.txt",
    "／.txt",
    "line\u2028separator.txt",
    "nonchar\ufdd0\uffff.txt",
    "surrogate\ud800.txt",
    "tag\U000e0041.txt",
    "a`b^c|d{e}f[g]h.txt",
    "(parens) [brackets] {braces}.txt",
    "!#$&'()+,-.txt",
    "=?utf-8?B?ZXZpbC5odG1s?=",
    "noext",
    ".env",
    "a.b.c.tar.gz",
    "UPPER.TXT",
    "-dash.txt",
    "x" * 300 + ".pdf",
    "東" * 100 + ".pdf",
    "😀" * 70 + ".txt",
    "e\u0301" * 130,
    "क्षि" * 40 + ".txt",
    "🇫🇷" * 40 + ".txt",
    "👍🏽" * 40 + ".png",
    "a" * 240 + ".verylongextension",
    "b" * 250,
    "é" * 130 + "." + "x" * 16,
]

_ALPHABET = (
    [chr(code) for code in range(0x20, 0x7F)] * 3
    + list("\t\n\x00\x7f\x85")
    + list("éß東京😀👍🏽🇫🇷\u0301\u0308\u200d\u200c\u202e\u00a0\u3000\ufeff\u2028")
    + list("क्षिİıſﬁ％／＼\ud800\ufdd0")
)
_EXTENSIONS = ["", ".txt", ".pdf", ".png", ".tar.gz", ".jpeg", ".东", ".😀", "."]


def generated_names(count: int, seed: int = 6266) -> list[str]:
    """``count`` random names drawn (reproducibly) from printable ASCII and the characters
    above, a tenth of them long enough to be cut."""
    rng = random.Random(seed)
    names = []
    for _ in range(count):
        length = rng.choice([1, 2, 5, 12, 30, 60]) if rng.random() < 0.9 else rng.randint(100, 300)
        stem = "".join(rng.choice(_ALPHABET) for _ in range(length))
        names.append(stem + rng.choice(_EXTENSIONS))
    return names
