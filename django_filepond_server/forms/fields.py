"""Form fields whose value is what FilePond's hidden inputs submit: upload ids of new files,
and the sources of files the form was rendered with."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db.models.fields.files import FieldFile
from django.utils.translation import gettext_lazy as _

from django_filepond_server.api import check_upload
from django_filepond_server.exceptions import FilePondServerError, UnknownUpload
from django_filepond_server.forms.checking import (
    ERROR_MESSAGES,
    FieldRules,
    check_submitted,
    submitted_values,
)
from django_filepond_server.forms.widgets import (
    TRANSPORTS,
    FilePondMultipleWidget,
    FilePondWidget,
)
from django_filepond_server.local_files import (
    is_model_file_source,
    read_model_file_source,
    sign_model_file,
)
from django_filepond_server.models import StoredUpload, TemporaryUpload, is_valid_upload_id
from django_filepond_server.rules import UploadRules


class Items(list):  # type: ignore[type-arg]
    """The files a widget shows: FilePond's ``files`` option."""


@dataclass
class SubmittedFiles:
    """The cleaned value of :class:`FilePondMultipleField`, in the order submitted.

    ``kept`` are the initial files the widget still shows (``StoredUpload`` rows, say),
    ``new`` the checked :class:`~django_filepond_server.models.TemporaryUpload` of files
    uploaded since, and ``removed`` the initial files the visitor removed.
    """

    kept: list[Any] = field(default_factory=list)
    new: list[TemporaryUpload] = field(default_factory=list)
    removed: list[Any] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.kept) + len(self.new)


class FilePondFieldMixin(forms.Field):
    """What both fields share: rules, the request, and the checks of submitted ids."""

    default_error_messages = ERROR_MESSAGES

    def __init__(
        self,
        *,
        rules: str | Mapping[str, Any] | UploadRules | None = None,
        max_size: int | None = None,
        types: Iterable[str] | None = None,
        extensions: Iterable[str] | None = None,
        match_extension: bool | None = None,
        options: Mapping[str, Any] | None = None,
        delete_removed: bool = False,
        transport: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if transport is not None and transport not in TRANSPORTS:
            raise ImproperlyConfigured(
                f"transport={transport!r} is not a way this app sends files; the ways are: "
                f"{', '.join(sorted(TRANSPORTS)) or 'none besides FilePond’s own'}."
            )
        self.widget.transport = transport
        self.field_rules = FieldRules(
            rules,
            max_size=max_size,
            types=types,
            extensions=extensions,
            match_extension=match_extension,
        )
        self.delete_removed = delete_removed
        self.request: Any = None
        self.bound_initial: Any = None
        self.widget.options = {**self.widget.options, **(options or {})}

    def get_rules(self) -> UploadRules:
        """The rules every new file must pass, read from the settings now."""
        return self.field_rules.resolve()

    def rule_options(self) -> dict[str, Any]:
        """FilePond options that hand the rules to its validation plugins."""
        rules = self.get_rules()
        options: dict[str, Any] = {"maxFileSize": rules.max_size}
        if rules.types is not None:
            options["acceptedFileTypes"] = list(rules.types)
        return options

    def get_bound_field(self, form: forms.BaseForm, field_name: str) -> forms.BoundField:
        request = getattr(form, "request", None)
        if request is None:
            raise ImproperlyConfigured(
                f"{type(form).__name__}.{field_name} is a FilePond field, which needs the "
                "request to check that each upload belongs to the visitor: make the form a "
                "FilePondForm or FilePondModelForm (or add FilePondFormMixin) and pass "
                "request=request."
            )
        self.request = request
        self.widget.request = request
        self.widget.rule_options = self.rule_options()
        bound = super().get_bound_field(form, field_name)
        self.bound_initial = bound.initial
        return bound

    # --- initial files ------------------------------------------------------------------

    def initial_files(self, initial: Any) -> list[Any]:
        """The initial value as a list of files (``FieldFile``, ``StoredUpload`` or id)."""
        if initial is None or isinstance(initial, (str, FieldFile, StoredUpload)):
            items = [initial]
        else:
            items = list(initial)
        return [item for item in items if item]

    @staticmethod
    def source_of(item: Any) -> str:
        """The ``local`` source FilePond loads ``item`` with."""
        if isinstance(item, StoredUpload):
            return str(item.pk)
        if isinstance(item, FieldFile):
            return sign_model_file(item.field, str(item.name))
        return str(item)  # the id of a StoredUpload

    @staticmethod
    def is_source_of(value: str, item: Any) -> bool:
        if isinstance(item, FieldFile):
            if not is_model_file_source(value):
                return False
            try:
                model_field, name = read_model_file_source(value, max_age=None)
            except UnknownUpload:
                return False
            return model_field == item.field and name == item.name
        return value == (str(item.pk) if isinstance(item, StoredUpload) else str(item))

    def kept_item(self, value: str, initial_files: list[Any]) -> Any:
        return next((item for item in initial_files if self.is_source_of(value, item)), None)

    # --- checks ---------------------------------------------------------------------------

    def check_request(self) -> None:
        if self.request is None:
            raise ImproperlyConfigured(
                "A FilePond field is cleaned without the request; clean it through its form "
                "(made with request=request), which checks who uploaded each file."
            )

    def check_new(self, upload_id: str) -> TemporaryUpload:
        """The checked temporary upload ``upload_id``, or the ValidationError to show."""
        self.check_request()
        return check_submitted(
            upload_id, request=self.request, rules=self.get_rules(), messages=self.error_messages
        )

    # --- rendering ------------------------------------------------------------------------

    def bound_data(self, data: Any, initial: Any) -> Items:
        """What the widget shows again after a submit: the initial files still submitted
        (``local``) and this visitor's uploads that can still be stored (``limbo``)."""
        initial_files = self.initial_files(initial)
        items = Items()
        for value in submitted_values(data):
            kept = self.kept_item(value, initial_files)
            if kept is not None:
                items.append({"source": self.source_of(kept), "options": {"type": "local"}})
            elif self.request is not None and is_valid_upload_id(value):
                try:
                    check_upload(value, request=self.request, rules=self.get_rules())
                except FilePondServerError:
                    continue
                items.append({"source": value, "options": {"type": "limbo"}})
        return items

    def prepare_value(self, value: Any) -> Items:
        if isinstance(value, Items):
            return value
        return Items(
            {"source": self.source_of(item), "options": {"type": "local"}}
            for item in self.initial_files(value)
        )

    def has_changed(self, initial: Any, data: Any) -> bool:
        if self.disabled:
            return False
        initial_files = self.initial_files(initial)
        values = submitted_values(data)
        kept = [self.kept_item(value, initial_files) for value in values]
        return any(item is None for item in kept) or len(kept) != len(initial_files)


class FilePondField(FilePondFieldMixin):
    """One file. The cleaned value is ``None`` (no file), the initial file (kept as it
    was), or the checked :class:`~django_filepond_server.models.TemporaryUpload` of a new
    upload. On a :class:`~django_filepond_server.forms.FilePondModelForm` it fills the
    model's ``FileField`` or ``ImageField`` of the same name."""

    widget = FilePondWidget
    default_error_messages = {"several": _("Submit only one file here.")}

    def clean(self, value: Any) -> Any:
        values = submitted_values(value)
        if len(values) > 1:
            raise ValidationError(self.error_messages["several"], code="several")
        if not values:
            if self.required:
                raise ValidationError(self.error_messages["required"], code="required")
            return None
        kept = self.kept_item(values[0], self.initial_files(self.bound_initial))
        if kept is not None:
            return kept
        return self.check_new(values[0])


class FilePondMultipleField(FilePondFieldMixin):
    """Several files. The cleaned value is :class:`SubmittedFiles`. On a
    :class:`~django_filepond_server.forms.FilePondModelForm` it fills the model's
    ``ManyToManyField`` to :class:`~django_filepond_server.models.StoredUpload` of the same
    name, storing new files under ``upload_to`` in ``FILEPOND_SERVER_STORAGE``."""

    widget = FilePondMultipleWidget
    default_error_messages = {
        "max_files": _("Submit at most %(max)d files here."),
    }

    def __init__(
        self, *, max_files: int | None = None, upload_to: str = "uploads/", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.max_files = max_files
        self.upload_to = upload_to

    def rule_options(self) -> dict[str, Any]:
        options = super().rule_options()
        if self.max_files is not None:
            options["maxFiles"] = self.max_files
        return options

    def clean(self, value: Any) -> SubmittedFiles:
        initial_files = self.initial_files(self.bound_initial)
        result = SubmittedFiles()
        errors: list[ValidationError] = []
        for item in submitted_values(value):
            kept = self.kept_item(item, initial_files)
            if kept is not None:
                result.kept.append(kept)
                continue
            try:
                result.new.append(self.check_new(item))
            except ValidationError as error:
                errors.append(error)
        if errors:
            raise ValidationError(errors)
        if self.required and not len(result):
            raise ValidationError(self.error_messages["required"], code="required")
        if self.max_files is not None and len(result) > self.max_files:
            raise ValidationError(
                self.error_messages["max_files"], code="max_files", params={"max": self.max_files}
            )
        result.removed = [item for item in initial_files if item not in result.kept]
        return result
