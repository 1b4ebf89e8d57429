"""What every endpoint shares: errors Django raises while reading a request become plain-text
4xx answers, and DRF's list details read as one sentence."""

from __future__ import annotations

from io import BytesIO

import pytest
from rest_framework.exceptions import ValidationError

from django_filepond_server.endpoint import plain_text_exception_handler
from django_filepond_server.models import TemporaryUpload

pytestmark = pytest.mark.django_db


class BrokenInput(BytesIO):
    """A request body whose connection breaks after the first bytes."""

    def read(self, size: int = -1) -> bytes:
        if self.tell():
            raise OSError("connection reset by peer")
        return super().read(16)


def test_a_body_that_breaks_off_while_the_form_is_read_is_a_400(client):
    body = b'--b\r\nContent-Disposition: form-data; name="filepond"\r\n\r\n{}\r\n--b--\r\n'
    response = client.generic(
        "POST",
        "/fp/",
        body,
        content_type="multipart/form-data; boundary=b",
        headers={"Upload-Length": "3"},
        **{"wsgi.input": BrokenInput(body)},
    )
    assert response.status_code == 400
    assert response.content.decode() == "The request body ended early; send it again."
    assert response["Content-Type"].startswith("text/plain")
    assert not TemporaryUpload.objects.exists()


def test_a_list_of_details_is_answered_as_one_line():
    response = plain_text_exception_handler(
        ValidationError(["The name is too long.", "The type is wrong."]), {}
    )
    assert response is not None and response.status_code == 400
    assert response.content.decode() == "The name is too long. The type is wrong."
