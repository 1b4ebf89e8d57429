from __future__ import annotations

from django_filepond_server.forms import FilePondField, FilePondModelForm, FilePondMultipleField
from tests.formsapp.models import Album, Photo


class AlbumForm(FilePondModelForm):
    cover = FilePondField(required=False, types=["image/png", "image/jpeg"])
    documents = FilePondMultipleField(
        required=False, max_files=3, upload_to="albums/", extensions=[".pdf", ".txt"]
    )

    class Meta:
        model = Album
        fields = ["title", "cover", "documents"]


class PhotoForm(FilePondModelForm):
    image = FilePondField(types=["image/*"])

    class Meta:
        model = Photo
        fields = ["caption", "image"]
