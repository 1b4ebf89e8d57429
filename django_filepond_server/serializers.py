"""Django REST framework fields for FilePond uploads, and a ModelSerializer that stores them.

Clients upload through the FilePond endpoints as a browser does, then write the upload id
(or a list of ids) in the field; they read back each stored file's name and URL.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models.fields.files import FieldFile
from django.db.models.fields.related_descriptors import ManyToManyDescriptor
from django.urls import reverse
from django.utils.http import urlencode
from rest_framework import serializers
from rest_framework.fields import get_error_detail

from django_filepond_server.forms import saving
from django_filepond_server.forms.checking import (
    ERROR_MESSAGES,
    FieldRules,
    check_submitted,
    submitted_values,
)
from django_filepond_server.forms.fields import SubmittedFiles
from django_filepond_server.models import StoredUpload, TemporaryUpload
from django_filepond_server.rules import UploadRules


class _UploadFieldMixin(serializers.Field):  # type: ignore[type-arg]
    default_error_messages = {
        **ERROR_MESSAGES,
        "invalid": "Write the upload id that the FilePond endpoint answered, as a string.",
    }

    def __init__(
        self,
        *,
        rules: str | Mapping[str, Any] | UploadRules | None = None,
        max_size: int | None = None,
        types: Any = None,
        extensions: Any = None,
        match_extension: bool | None = None,
        delete_removed: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.field_rules = FieldRules(
            rules,
            max_size=max_size,
            types=types,
            extensions=extensions,
            match_extension=match_extension,
        )
        self.delete_removed = delete_removed

    def get_rules(self) -> UploadRules:
        return self.field_rules.resolve()

    @property
    def request(self) -> Any:
        request = self.context.get("request")
        if request is None:
            raise ImproperlyConfigured(
                f"{type(self.parent).__name__}.{self.field_name} is a FilePond upload field, "
                "which needs the request in the serializer's context to check who uploaded "
                "each file: pass context={'request': request} (generic views do)."
            )
        return request

    def check_new(self, upload_id: Any) -> TemporaryUpload:
        if not isinstance(upload_id, str) or not upload_id:
            self.fail("invalid")
        return check_submitted(
            upload_id, request=self.request, rules=self.get_rules(), messages=self.error_messages
        )

    def describe(self, value: Any) -> dict[str, Any]:
        """``{"name", "url"}`` of a stored file (plus ``"id"`` for a ``StoredUpload``)."""
        request = self.context.get("request")
        if isinstance(value, StoredUpload):
            url = reverse("django_filepond_server:root") + "load/?" + urlencode({"id": value.pk})
            described = {"id": value.pk, "name": value.original_name}
        else:
            url = value.url
            described = {"name": posixpath.basename(str(value.name))}
        described["url"] = request.build_absolute_uri(url) if request is not None else url
        return described


class FilePondUploadField(_UploadFieldMixin):
    """One file. Write the upload id; read ``{"name": ..., "url": ...}`` (or ``null``).

    On a :class:`FilePondModelSerializer` it fills the model's ``FileField`` or
    ``ImageField`` of the same name; with ``allow_null=True``, ``null`` clears it.
    """

    def to_internal_value(self, data: Any) -> TemporaryUpload:
        return self.check_new(data)

    def to_representation(self, value: Any) -> dict[str, Any] | None:
        if not value:
            return None
        return self.describe(value)


class FilePondUploadsField(_UploadFieldMixin):
    """Several files. Write a list of upload ids, with the ``id`` of each stored file to
    keep; read a list of ``{"id", "name", "url"}``.

    On a :class:`FilePondModelSerializer` it fills the model's ``ManyToManyField`` to
    :class:`~django_filepond_server.models.StoredUpload` of the same name, storing new files
    under ``upload_to``. A stored file left out of the list is detached (and deleted with
    ``delete_removed=True``).
    """

    default_error_messages = {
        "not_a_list": "Write a list of upload ids.",
        "max_files": "Write at most {max} files.",
    }

    def __init__(
        self, *, max_files: int | None = None, upload_to: str = "uploads/", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.max_files = max_files
        self.upload_to = upload_to

    def current(self) -> list[StoredUpload]:
        """The stored files of the instance being updated."""
        instance = getattr(self.parent, "instance", None)
        if not isinstance(instance, models.Model) or instance.pk is None:
            return []
        return list(getattr(instance, str(self.source)).all())

    def to_internal_value(self, data: Any) -> SubmittedFiles:
        if isinstance(data, str) or not isinstance(data, (list, tuple)):
            self.fail("not_a_list")
        current = {str(row.pk): row for row in self.current()}
        result = SubmittedFiles()
        errors: list[Any] = []
        for value in submitted_values(data):
            if value in current:
                result.kept.append(current[value])
                continue
            try:
                result.new.append(self.check_new(value))
            except DjangoValidationError as error:
                errors.extend(get_error_detail(error))
        if errors:
            raise serializers.ValidationError(errors)
        if self.max_files is not None and len(result) > self.max_files:
            self.fail("max_files", max=self.max_files)
        result.removed = [row for row in current.values() if row not in result.kept]
        return result

    def to_representation(self, value: Any) -> list[dict[str, Any]]:
        rows = value.all() if hasattr(value, "all") else value
        return [self.describe(row) for row in rows]


class FilePondModelSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A ModelSerializer whose FilePond upload fields fill the model fields of the same
    name. ``save()`` stores the new files, saves the model and sets the relations in one
    transaction: if anything fails, no file written for it is left behind."""

    def _upload_fields(self) -> dict[str, _UploadFieldMixin]:
        return {
            str(field.source): field
            for field in self.fields.values()
            if isinstance(field, _UploadFieldMixin) and not field.read_only
        }

    def _save_files(
        self, current: saving.Saving, instance: models.Model, validated_data: dict[str, Any]
    ) -> dict[str, list[StoredUpload]]:
        relations: dict[str, list[StoredUpload]] = {}
        model = type(instance)
        for source, field in self._upload_fields().items():
            if source not in validated_data:
                continue
            value = validated_data[source]
            if isinstance(field, FilePondUploadsField):
                if saving.stored_upload_relation(model, source) is None:
                    continue
                validated_data.pop(source)
                relations[source] = saving.relation_rows(
                    current,
                    value,
                    field.upload_to,
                    request=field.request,
                    rules=field.get_rules(),
                    delete_removed=field.delete_removed,
                )
                continue
            model_field = saving.model_file_field(model, source)
            if model_field is None:
                continue
            validated_data.pop(source)
            saving.save_file(
                current,
                instance,
                model_field,
                value,
                request=field.request,
                rules=field.get_rules(),
                delete_replaced=field.delete_removed,
            )
        return relations

    def create(self, validated_data: dict[str, Any]) -> Any:
        model: Any = self.Meta.model
        plain = {
            key: value
            for key, value in validated_data.items()
            if key not in self._upload_fields()
            and not isinstance(getattr(model, key, None), ManyToManyDescriptor)
        }
        with saving.all_or_nothing() as current:
            # Names from upload_to may use the instance's other fields, as Django's own do.
            probe = model(**plain)
            relations = self._save_files(current, probe, validated_data)
            for source in list(self._upload_fields()):
                model_field = saving.model_file_field(model, source)
                if model_field is not None and source not in validated_data:
                    value = getattr(probe, model_field.attname)
                    if isinstance(value, FieldFile) and value.name:
                        validated_data[source] = value.name
            instance = super().create(validated_data)
            for name, rows in relations.items():
                getattr(instance, name).set(rows)
        return instance

    def update(self, instance: Any, validated_data: dict[str, Any]) -> Any:
        with saving.all_or_nothing() as current:
            relations = self._save_files(current, instance, validated_data)
            instance = super().update(instance, validated_data)
            for name, rows in relations.items():
                getattr(instance, name).set(rows)
        return instance
