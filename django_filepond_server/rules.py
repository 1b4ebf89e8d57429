"""What an upload may be: size, types by content, extensions, per FilePond field name.

``FILEPOND_SERVER_UPLOAD_RULES`` maps a field name (FilePond's ``name`` option, such as
``"avatar"`` or ``"documents[]"``) to its rules, with ``"default"`` for every other field::

    FILEPOND_SERVER_UPLOAD_RULES = {
        "default": {"max_size": 50 * 1024 * 1024},
        "avatar": {
            "max_size": 2 * 1024 * 1024,
            "types": ["image/png", "image/jpeg"],
            "extensions": [".png", ".jpg", ".jpeg"],
            "match_extension": True,
        },
    }
"""

from __future__ import annotations

import fnmatch
import mimetypes
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from django_filepond_server.conf import conf
from django_filepond_server.exceptions import UploadRejected
from django_filepond_server.names import is_active_content

RULE_KEYS = {"max_size", "types", "extensions", "match_extension"}

#: Bytes of the file's head given to libmagic.
SNIFF_BYTES = 64 * 1024

# Types that libmagic and the mimetypes table name differently for the same content.
_SAME_CONTENT = [
    {"image/jpeg", "image/pjpeg"},
    {"application/xml", "text/xml"},
    {"application/zip", "application/x-zip-compressed"},
    {"application/gzip", "application/x-gzip"},
    {"audio/mpeg", "audio/mp3"},
    {"image/x-ms-bmp", "image/bmp"},
    {"application/x-tar", "application/tar"},
]
_ZIP_CONTAINERS = ("application/vnd.openxmlformats-", "application/vnd.oasis.opendocument.")


@dataclass(frozen=True)
class UploadRules:
    max_size: int
    types: tuple[str, ...] | None = None
    extensions: tuple[str, ...] | None = None
    match_extension: bool = False

    def check_size(self, size: int) -> None:
        if size > self.max_size:
            raise UploadRejected(
                _("The file is larger than the maximum upload size of %(max)d bytes.")
                % {"max": self.max_size},
                status_code=413,
            )

    def check_name(self, name: str) -> None:
        if self.extensions is None:
            return
        extension = os.path.splitext(name)[1].lower()
        if extension not in self.extensions:
            raise UploadRejected(
                _("Files ending in %(ext)s are not accepted here; allowed: %(allowed)s.")
                % {
                    "ext": extension or _("no extension"),
                    "allowed": ", ".join(self.extensions),
                }
            )

    def check_content(self, name: str, detected: str) -> None:
        if self.types is not None and not any(
            fnmatch.fnmatchcase(detected, pattern) for pattern in self.types
        ):
            raise UploadRejected(
                _("Files of type %(type)s are not accepted here.") % {"type": detected}
            )
        if self.match_extension and not content_matches_extension(name, detected):
            raise UploadRejected(
                _("The file's content (%(type)s) does not match its extension %(ext)s.")
                % {"type": detected, "ext": os.path.splitext(name)[1].lower() or "''"}
            )

    def check(self, name: str, size: int, detected: str) -> None:
        self.check_size(size)
        self.check_name(name)
        self.check_content(name, detected)


def content_matches_extension(name: str, detected: str) -> bool:
    """Whether content sniffed as ``detected`` is what the extension of ``name`` claims.

    Unknown extensions claim nothing. Text formats match any plain text, but never content
    a browser would run (HTML, SVG, XML, JavaScript) unless the extension says so.
    """
    claimed, _encoding = mimetypes.guess_type(name, strict=False)
    if claimed is None or claimed == detected:
        return True
    if is_active_content(detected) and not is_active_content(claimed):
        return False
    if any(claimed in group and detected in group for group in _SAME_CONTENT):
        return True
    if detected == "application/zip" and claimed.startswith(_ZIP_CONTAINERS):
        return True
    return detected == "text/plain" and (
        claimed.startswith("text/") or claimed in ("application/json", "application/x-sh")
    )


def content_matches_declared(declared: str, detected: str) -> bool:
    """Whether bytes sniffed as ``detected`` are what a declared ``Content-Type`` says.

    Only a declaration that hides content a browser would run (HTML, SVG, XML, script) behind
    a harmless type counts as a contradiction; servers label ordinary files loosely.
    """
    return not declared or not is_active_content(detected) or is_active_content(declared)


def _rules_from_mapping(value: Mapping[str, Any], base: UploadRules, where: str) -> UploadRules:
    unknown = set(value) - RULE_KEYS
    if unknown:
        raise ImproperlyConfigured(
            f"{where} has unknown keys {sorted(unknown)}; allowed: {sorted(RULE_KEYS)}."
        )

    def lowered(items: Any, dot: bool) -> tuple[str, ...] | None:
        if items is None:
            return None
        return tuple(("." + item.lower().lstrip(".")) if dot else item.lower() for item in items)

    return UploadRules(
        max_size=int(value.get("max_size", base.max_size)),
        types=lowered(value["types"], False) if "types" in value else base.types,
        extensions=lowered(value["extensions"], True) if "extensions" in value else base.extensions,
        match_extension=bool(value.get("match_extension", base.match_extension)),
    )


def rules_for(field_name: str | None) -> UploadRules:
    """The rules of uploads sent under ``field_name`` (the ``"default"`` entry otherwise)."""
    configured = conf.UPLOAD_RULES
    rules = UploadRules(max_size=conf.MAX_UPLOAD_SIZE)
    if "default" in configured:
        rules = _rules_from_mapping(
            configured["default"], rules, "FILEPOND_SERVER_UPLOAD_RULES['default']"
        )
    if field_name and field_name != "default" and field_name in configured:
        rules = _rules_from_mapping(
            configured[field_name], rules, f"FILEPOND_SERVER_UPLOAD_RULES[{field_name!r}]"
        )
    return rules


def resolve_rules(rules: str | Mapping[str, Any] | UploadRules) -> UploadRules:
    """Rules given to ``store_upload``: a field name, a mapping like the setting's, or rules."""
    if isinstance(rules, UploadRules):
        return rules
    if isinstance(rules, str):
        return rules_for(rules)
    return _rules_from_mapping(rules, rules_for(None), "rules")


def detect_type(f: BinaryIO) -> str:
    """The content type libmagic reads from the head of ``f`` (``application/x-empty`` for an
    empty file)."""
    import magic  # libmagic is loaded on first use, never at import time

    head = f.read(SNIFF_BYTES)
    if not head:
        return "application/x-empty"
    return str(magic.from_buffer(head, mime=True))
