"""Forms that know the request (FilePond fields need it) and a ModelForm that stores its
uploads into the model, all or nothing with the model's save."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from django_filepond_server.forms import saving
from django_filepond_server.forms.fields import (
    FilePondField,
    FilePondFieldMixin,
    FilePondMultipleField,
    SubmittedFiles,
)
from django_filepond_server.models import TemporaryUpload

_MISSING: Any = object()


class FilePondFormMixin:
    """Makes ``request`` a required keyword argument of the form: FilePond fields check that
    every submitted upload belongs to the visitor of that request."""

    request: Any

    def __init__(self, *args: Any, request: Any = _MISSING, **kwargs: Any) -> None:
        if request is _MISSING or request is None:
            raise TypeError(
                f"{type(self).__name__}() needs request=request: its FilePond fields check "
                "that each upload belongs to the visitor who submits the form."
            )
        self.request = request
        super().__init__(*args, **kwargs)

    def _post_clean(self) -> None:
        self.refuse_duplicates()
        super()._post_clean()  # type: ignore[misc]

    def refuse_duplicates(self) -> None:
        """One upload can be stored once: an id submitted in two fields is an error on both."""
        fields: dict[str, list[str]] = {}
        for name, value in getattr(self, "cleaned_data", {}).items():
            new = value.new if isinstance(value, SubmittedFiles) else [value]
            for upload in new:
                if isinstance(upload, TemporaryUpload):
                    fields.setdefault(upload.upload_id, []).append(name)
        for names in fields.values():
            for name in names if len(names) > 1 else []:
                self.add_error(  # type: ignore[attr-defined]
                    name,
                    ValidationError(
                        _("The same file was submitted in another field too."), code="duplicate"
                    ),
                )


class FilePondForm(FilePondFormMixin, forms.Form):
    """A form with FilePond fields; build it with ``request=request``."""


class FilePondModelForm(FilePondFormMixin, forms.ModelForm):  # type: ignore[type-arg]
    """A ModelForm whose FilePond fields fill the model field of the same name.

    A :class:`FilePondField` fills a ``FileField`` or ``ImageField`` (its storage and
    ``upload_to`` apply); a :class:`FilePondMultipleField` fills a ``ManyToManyField`` to
    :class:`~django_filepond_server.models.StoredUpload`. :meth:`save` stores the new files,
    saves the model and sets the relations in one transaction: if anything fails, no file
    written for the form is left behind and every temporary upload stays.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.filepond_fields().items():
            saving.check_target(
                self._meta.model, name, several=isinstance(field, FilePondMultipleField)
            )
        self._files_saved = False
        self._saving: saving.Saving | None = None

    def filepond_fields(self) -> dict[str, FilePondFieldMixin]:
        return {n: f for n, f in self.fields.items() if isinstance(f, FilePondFieldMixin)}

    def _get_validation_exclusions(self) -> Any:
        # The model field is filled only when saving; model validation would see it empty.
        exclude = super()._get_validation_exclusions()  # type: ignore[misc]
        return set(exclude) | set(self.filepond_fields())

    def _post_clean(self) -> None:
        self.refuse_duplicates()
        # Keep Django's construct_instance away from the files: save() puts them in place.
        held = {
            n: self.cleaned_data.pop(n) for n in self.filepond_fields() if n in self.cleaned_data
        }
        try:
            forms.BaseModelForm._post_clean(self)  # type: ignore[attr-defined]
        finally:
            self.cleaned_data.update(held)

    def save(self, commit: bool = True) -> Any:
        """Save the instance with its files. With ``commit=False`` the files are stored by
        ``save_m2m()``, which then saves the file fields of the instance again."""
        if not commit or self.errors:
            return super().save(commit=commit)
        with saving.all_or_nothing() as current:
            self._saving = current
            try:
                self._save_files(current)
                return super().save(commit=True)
            finally:
                self._saving = None

    def _save_files(self, current: saving.Saving) -> list[str]:
        changed = []
        for name, field in self.filepond_fields().items():
            model_field = saving.model_file_field(self._meta.model, name)
            if model_field is None or not isinstance(field, FilePondField):
                continue
            if saving.save_file(
                current,
                self.instance,
                model_field,
                self.cleaned_data.get(name),
                request=self.request,
                rules=field.get_rules(),
                delete_replaced=field.delete_removed,
            ):
                changed.append(model_field.attname)
        self._files_saved = True
        return changed

    def _save_m2m(self) -> None:
        with saving.all_or_nothing(self._saving) as current:
            if not self._files_saved:  # save(commit=False): the instance is saved already
                changed = self._save_files(current)
                if changed:
                    self.instance.save(update_fields=changed)
            relations = {}
            for name, field in self.filepond_fields().items():
                value = self.cleaned_data.get(name)
                if not isinstance(field, FilePondMultipleField) or not isinstance(
                    value, SubmittedFiles
                ):
                    continue
                if saving.stored_upload_relation(self._meta.model, name) is None:
                    continue
                relations[name] = saving.relation_rows(
                    current,
                    value,
                    field.upload_to,
                    request=self.request,
                    rules=field.get_rules(),
                    delete_removed=field.delete_removed,
                )
            held = {n: self.cleaned_data.pop(n) for n in relations}
            try:
                super()._save_m2m()  # type: ignore[misc]
            finally:
                self.cleaned_data.update(held)
            for name, rows in relations.items():
                getattr(self.instance, name).set(rows)
