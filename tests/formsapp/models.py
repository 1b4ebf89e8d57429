"""Models of the forms tests: one file in another storage, several stored uploads, and an
inline model with a file of its own."""

from __future__ import annotations

from django.core.files.storage import Storage, storages
from django.db import models

from django_filepond_server.models import StoredUpload


def cover_storage() -> Storage:
    """Not the permanent store of the app: proves the field's own storage is used."""
    return storages["memory"]


class Album(models.Model):
    title = models.CharField(max_length=100)
    cover = models.ImageField(upload_to="covers/", storage=cover_storage, blank=True)
    documents = models.ManyToManyField(StoredUpload, blank=True, related_name="+")

    def __str__(self) -> str:
        return self.title


class Photo(models.Model):
    album = models.ForeignKey(Album, related_name="photos", on_delete=models.CASCADE)
    caption = models.CharField(max_length=100, blank=True)
    image = models.FileField(upload_to="photos/")

    def __str__(self) -> str:
        return self.caption or str(self.image.name)
