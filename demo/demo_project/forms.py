"""The document form: FilePond fields, stored into the model when the form is saved."""

from __future__ import annotations

from demo_project.models import Document
from django_filepond_server.forms import FilePondField, FilePondModelForm, FilePondMultipleField


class DocumentForm(FilePondModelForm):
    cover = FilePondField(required=False, types=["image/*"], delete_removed=True)
    # "demo/" keeps each file's own name; files removed in the widget are deleted on save.
    files = FilePondMultipleField(
        required=False,
        upload_to="demo/",
        delete_removed=True,
        # Any FilePond option passes through: sizes as Django's filesizeformat shows them.
        options={"fileSizeBase": 1024},
    )

    class Meta:
        model = Document
        fields = ["title", "cover", "files"]
