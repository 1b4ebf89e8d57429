"""FilePond in Django forms and the admin: fields, the widget, and forms that store uploads.

::

    from django_filepond_server.forms import FilePondField, FilePondModelForm
"""

from __future__ import annotations

from django_filepond_server.forms.admin import FilePondAdminMixin
from django_filepond_server.forms.fields import (
    FilePondField,
    FilePondMultipleField,
    SubmittedFiles,
)
from django_filepond_server.forms.forms import FilePondForm, FilePondFormMixin, FilePondModelForm
from django_filepond_server.forms.widgets import FilePondMultipleWidget, FilePondWidget

__all__ = [
    "FilePondAdminMixin",
    "FilePondField",
    "FilePondForm",
    "FilePondFormMixin",
    "FilePondModelForm",
    "FilePondMultipleField",
    "FilePondMultipleWidget",
    "FilePondWidget",
    "SubmittedFiles",
]
