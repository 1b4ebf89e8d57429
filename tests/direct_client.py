"""A client of direct uploads for the tests: what ``direct.js`` does, in Python.

The app's own requests (begin, parts, complete, abort) go through Django's test client, with
the visitor's session. The bytes go where begin says: over real HTTP to S3 (presigned), or
to the app's signed target through the same test client (its session cookie comes along, as
a browser sends it to the app's own origin).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client


def call(client: Client, path: str, body: Any, **headers: str) -> Any:
    """POST ``body`` as JSON to ``/fp/<path>``."""
    return client.post(
        f"/fp/{path}", json.dumps(body), content_type="application/json", headers=headers
    )


def begin(
    client: Client,
    size: int,
    name: str = "file.bin",
    declared_type: str = "application/octet-stream",
    field: str = "filepond",
    metadata: str = "{}",
    **headers: str,
) -> Any:
    body = {"name": name, "size": size, "type": declared_type, "field": field, "metadata": metadata}
    return call(client, "direct/", body, **headers)


def begun(client: Client, content: bytes, name: str = "file.bin", **kwargs: Any) -> dict[str, Any]:
    response = begin(client, len(content), name, **kwargs)
    assert response.status_code == 200, response.content
    return response.json()  # type: ignore[no-any-return]


def complete(client: Client, key: str) -> Any:
    return call(client, "direct/complete/", {"key": key})


def part_urls(client: Client, key: str, numbers: list[int]) -> dict[str, str]:
    response = call(client, "direct/parts/", {"key": key, "parts": numbers})
    assert response.status_code == 200, response.content
    return response.json()["urls"]  # type: ignore[no-any-return]


class Answer:
    """The status and body of a request to S3 or to the app's target, alike."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status_code, self.content = status, body


def post_whole(client: Client, post: dict[str, Any], content: bytes, name: str = "f") -> Answer:
    """The form POST of a file sent whole, fields first and the file last (S3's order)."""
    if post["url"].startswith("http"):
        files = [*((k, (None, v)) for k, v in post["fields"].items()), ("file", (name, content))]
        answer = requests.post(post["url"], files=files, timeout=60)
        return Answer(answer.status_code, answer.content)
    data = {**post["fields"], "file": SimpleUploadedFile(name, content)}
    response = client.post(post["url"], data)
    return Answer(response.status_code, response.content)


def put_part(client: Client, url: str, body: bytes) -> Answer:
    if url.startswith("http"):
        answer = requests.put(url, data=body, timeout=60)
        return Answer(answer.status_code, answer.content)
    response = client.generic("PUT", url, body, content_type="application/octet-stream")
    return Answer(response.status_code, response.content)


def send(client: Client, answer: dict[str, Any], content: bytes, parallel: int = 3) -> None:
    """Send ``content`` as begin's ``answer`` says: one POST, or every part (several at once
    on S3, in reverse order for the app's target), asking for the URLs begin did not give."""
    if "post" in answer:
        result = post_whole(client, answer["post"], content)
        assert result.status_code in (200, 204), result.content
        return
    size, count = answer["partSize"], answer["parts"]
    urls = dict(answer["urls"])
    missing = [n for n in range(1, count + 1) if str(n) not in urls]
    for start in range(0, len(missing), 16):
        urls.update(part_urls(client, answer["key"], missing[start : start + 16]))

    def send_part(number: int) -> Answer:
        body = content[(number - 1) * size : number * size]
        return put_part(client, urls[str(number)], body)

    numbers = list(range(count, 0, -1))
    if urls[str(count)].startswith("http"):
        with ThreadPoolExecutor(parallel) as pool:
            results = list(pool.map(send_part, numbers))
    else:  # the test client is not made for threads
        results = [send_part(number) for number in numbers]
    for result in results:
        assert result.status_code == 200, result.content


def upload(client: Client, content: bytes, name: str = "file.bin", **kwargs: Any) -> str:
    """A whole direct upload: begin, send, complete; returns the upload id."""
    answer = begun(client, content, name, **kwargs)
    send(client, answer, content)
    response = complete(client, answer["key"])
    assert response.status_code == 200, response.content
    return response.content.decode()  # type: ignore[no-any-return]
