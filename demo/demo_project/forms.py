"""The document form. The files are not a form field: FilePond posts upload ids under
``filepond``, which the views read with ``request.POST.getlist``."""

from __future__ import annotations

from django import forms

from demo_project.models import Document


class DocumentForm(forms.ModelForm):
    class Meta:
        model = Document
        fields = ["title"]
