"""The demo's one model: a titled document with a cover image and the files uploaded for it."""

from __future__ import annotations

from django.db import models
from django.urls import reverse

from django_filepond_server.models import StoredUpload


class Document(models.Model):
    title = models.CharField(max_length=200)
    # One file in a plain FileField: its storage and upload_to apply.
    cover = models.FileField("cover image", upload_to="covers/", blank=True)
    # Several files as rows of stored uploads, so deleting one also drops the link.
    files = models.ManyToManyField(StoredUpload, blank=True, related_name="documents")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("document", args=[self.pk])
