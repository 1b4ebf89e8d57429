"""The checks of submitted upload ids, shared by the form fields and the DRF serializer
fields: each refusal is a ``ValidationError`` with a code and a sentence for the person."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from django_filepond_server.api import check_upload, get_temporary_upload
from django_filepond_server.exceptions import (
    UploadIncomplete,
    UploadNotFound,
    UploadNotOwned,
    UploadRejected,
)
from django_filepond_server.models import TemporaryUpload
from django_filepond_server.rules import UploadRules, _rules_from_mapping, resolve_rules, rules_for

#: Someone else's upload gets the words of an unknown one: nothing tells a stranger that an
#: id exists.
_GONE = _("A file of this form is no longer available (it may have expired); upload it again.")
ERROR_MESSAGES: dict[str, Any] = {
    "unknown": _GONE,
    "not_owned": _GONE,
    "incomplete": _("“%(name)s” has not finished uploading; wait for it and submit again."),
    "rejected": _("“%(name)s” was refused: %(reason)s"),
}


class FieldRules:
    """A field's rules: a name of ``FILEPOND_SERVER_UPLOAD_RULES``, a mapping or
    :class:`~django_filepond_server.rules.UploadRules`, with single keys overridden."""

    def __init__(
        self,
        rules: str | Mapping[str, Any] | UploadRules | None = None,
        *,
        max_size: int | None = None,
        types: Iterable[str] | None = None,
        extensions: Iterable[str] | None = None,
        match_extension: bool | None = None,
    ) -> None:
        self.rules = rules
        overrides: dict[str, Any] = {"max_size": max_size, "match_extension": match_extension}
        overrides["types"] = None if types is None else list(types)
        overrides["extensions"] = None if extensions is None else list(extensions)
        self.overrides = {key: value for key, value in overrides.items() if value is not None}

    def resolve(self) -> UploadRules:
        """The rules, read from the settings now."""
        base = rules_for(None) if self.rules is None else resolve_rules(self.rules)
        if not self.overrides:
            return base
        return _rules_from_mapping(self.overrides, base, "the field's rules")


def submitted_values(values: Any) -> list[str]:
    """The non-empty values, in order, without repeats (an unfinished item submits "")."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return list(dict.fromkeys(str(value) for value in values if value))


def check_submitted(
    upload_id: str, *, request: Any, rules: UploadRules, messages: Mapping[str, Any]
) -> TemporaryUpload:
    """The temporary upload ``upload_id`` if ``request``'s visitor may store it under
    ``rules``; otherwise the ``ValidationError`` to show, with one of the codes of
    :data:`ERROR_MESSAGES`."""
    try:
        return check_upload(upload_id, request=request, rules=rules)
    except UploadNotOwned:
        raise ValidationError(messages["not_owned"], code="not_owned") from None
    except UploadNotFound:
        raise ValidationError(messages["unknown"], code="unknown") from None
    except UploadIncomplete:
        name = get_temporary_upload(upload_id).file_name
        raise ValidationError(
            messages["incomplete"], code="incomplete", params={"name": name}
        ) from None
    except UploadRejected as exc:
        name = get_temporary_upload(upload_id).file_name
        raise ValidationError(
            messages["rejected"], code="rejected", params={"name": name, "reason": exc.message}
        ) from None
