"""An API on the same models: the FilePond upload fields of a ModelSerializer."""

from __future__ import annotations

from rest_framework import generics

from django_filepond_server.serializers import (
    FilePondModelSerializer,
    FilePondUploadField,
    FilePondUploadsField,
)
from tests.formsapp.models import Album


class AlbumSerializer(FilePondModelSerializer):
    cover = FilePondUploadField(required=False, allow_null=True, types=["image/png", "image/jpeg"])
    documents = FilePondUploadsField(
        required=False, max_files=3, upload_to="albums/", extensions=[".pdf", ".txt"]
    )

    class Meta:
        model = Album
        fields = ["id", "title", "cover", "documents"]


class AlbumList(generics.ListCreateAPIView):  # type: ignore[type-arg]
    queryset = Album.objects.order_by("pk")
    serializer_class = AlbumSerializer


class AlbumDetail(generics.RetrieveUpdateAPIView):  # type: ignore[type-arg]
    queryset = Album.objects.all()
    serializer_class = AlbumSerializer
