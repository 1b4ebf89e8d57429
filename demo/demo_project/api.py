"""A small API on the same model: upload with FilePond's endpoints, then write the ids.

POST /fp/                      (multipart: the file)     -> the upload id
POST /api/documents/           {"title": ..., "files": [<upload id>, ...]}
GET  /api/documents/<pk>/      {"files": [{"id", "name", "url"}, ...], ...}
"""

from __future__ import annotations

from rest_framework import generics

from demo_project.models import Document
from django_filepond_server.serializers import (
    FilePondModelSerializer,
    FilePondUploadField,
    FilePondUploadsField,
)


class DocumentSerializer(FilePondModelSerializer):
    cover = FilePondUploadField(required=False, allow_null=True, types=["image/*"])
    files = FilePondUploadsField(required=False, upload_to="demo/")

    class Meta:
        model = Document
        fields = ["id", "title", "cover", "files", "created"]


class DocumentList(generics.ListCreateAPIView):  # type: ignore[type-arg]
    queryset = Document.objects.prefetch_related("files")
    serializer_class = DocumentSerializer


class DocumentDetail(generics.RetrieveUpdateAPIView):  # type: ignore[type-arg]
    queryset = Document.objects.prefetch_related("files")
    serializer_class = DocumentSerializer
