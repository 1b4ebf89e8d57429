"""What must hold once the run is over: a normal round trip still works, every temporary
upload row has exactly its bytes, no bytes lack a row, and the server wrote nowhere else."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from django.core.files.storage import Storage

from django_filepond_server.models import StoredUpload, TemporaryUpload, UploadPart
from django_filepond_server.storage import list_files
from django_filepond_server.temporary import area_for
from tests.fuzz import shapes
from tests.fuzz.client import Request, Response, exchange
from tests.fuzz.server import MUST_STAY_EMPTY, FuzzServer
from tests.helpers import tiny_png

# --- the round trip ----------------------------------------------------------------------------


class RoundTrip:
    """FilePond's own requests for one new visitor, each of which must succeed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies = {"csrftoken": "r" * 64}
        self.problems: list[str] = []

    def send(
        self, what: str, request: Request, expected: int, body: bytes | None = None
    ) -> Response | None:
        request.headers.insert(
            0, ("Cookie", "; ".join(f"{key}={value}" for key, value in self.cookies.items()))
        )
        response = exchange(self.port, request)
        if response is None:
            self.problems.append(f"round trip, {what}: no answer")
            return None
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        if response.status != expected:
            self.problems.append(
                f"round trip, {what}: {response.status} {response.body[:200]!r}, not {expected}"
            )
        elif body is not None and response.body != body:
            self.problems.append(f"round trip, {what}: not the bytes uploaded")
        return response

    def run(self) -> list[str]:
        whole = tiny_png(padding=5000)
        boundary = "roundtrip"
        form = shapes.multipart(
            [
                ([shapes.disposition("filepond")], b"{}"),
                ([shapes.disposition("filepond", "photo.png"), b"Content-Type: image/png"], whole),
            ],
            boundary,
        )
        multipart = [("Content-Type", f"multipart/form-data; boundary={boundary}")]
        response = self.send("process", Request("POST", "/fp/", list(multipart), form), 200)
        whole_id = response.body.decode() if response else ""
        self.send("restore", Request("GET", f"/fp/?restore={whole_id}"), 200, whole)

        chunked = os.urandom(70 * 1024)
        start = shapes.multipart([([shapes.disposition("filepond")], b"{}")], boundary)
        headers = [*multipart, ("Upload-Length", str(len(chunked)))]
        response = self.send("chunked start", Request("POST", "/fp/process/", headers, start), 200)
        chunked_id = response.body.decode() if response else ""

        def chunk(url: str, offset: int, size: int) -> Request:
            headers = [
                ("Content-Type", "application/offset+octet-stream"),
                ("Upload-Offset", str(offset)),
                ("Upload-Length", str(len(chunked))),
                ("Upload-Name", "data.bin"),
            ]
            return Request("PATCH", url, headers, chunked[offset : offset + size])

        self.send("first chunk", chunk(f"/fp/patch/{chunked_id}", 0, 40 * 1024), 204)
        response = self.send("resume", Request("HEAD", f"/fp/?patch={chunked_id}"), 200)
        if response is not None and response.header("Upload-Offset") != str(40 * 1024):
            self.problems.append(f"round trip, resume: {response.header('Upload-Offset')!r}")
        self.send("last chunk", chunk(f"/fp/?patch={chunked_id}", 40 * 1024, 30 * 1024), 204)
        self.send("restore", Request("GET", f"/fp/restore/?id={chunked_id}"), 200, chunked)
        self.send("store", Request("POST", "/store/", [], chunked_id.encode()), 200)
        self.send("load", Request("GET", f"/fp/load/?id={chunked_id}"), 200, chunked)
        self.send("load", Request("GET", f"/fp/?load={chunked_id}"), 200, chunked)
        self.send("revert", Request("DELETE", "/fp/", [], whole_id.encode()), 204)
        self.send("restore reverted", Request("GET", f"/fp/?restore={whole_id}"), 404)
        return self.problems


# --- rows and bytes ----------------------------------------------------------------------------


def _expected(upload: TemporaryUpload, known: dict[str, bytes], data: bytes) -> str | None:
    """Whether ``data``, the bytes held for ``upload``, begin the file its client sent."""
    want = known.get(upload.upload_id)
    if want is not None and data != want[: len(data)]:
        return f"upload {upload.upload_id}: its bytes are not the ones sent"
    return None


def local_area_problems(directory: str, known: dict[str, bytes]) -> list[str]:
    """Every row of the local area has a file of the sent bytes (where the client knows
    them), but refused rows, whose bytes are gone; no file lacks a row. The file's size is
    what arrived: the row's ``received`` may lag behind it during a transfer, never ahead,
    and is exact once the upload is complete."""
    problems = []
    files = set(os.listdir(directory)) if os.path.isdir(directory) else set()
    for upload in TemporaryUpload.objects.filter(area=""):
        name = upload.upload_id + ".upload"
        problems += _row_problems(upload)
        if upload.rejected:
            if name in files:
                problems.append(f"upload {upload.upload_id} was refused but keeps its bytes")
        elif name not in files:
            problems.append(f"upload {upload.upload_id} has no bytes")
        else:
            with open(os.path.join(directory, name), "rb") as f:
                data = f.read()
            if not upload.received <= len(data) <= (upload.upload_length or len(data)) or (
                upload.complete and len(data) != upload.received
            ):
                problems.append(
                    f"upload {upload.upload_id}: {len(data)} bytes for {upload.received} received"
                )
            problems += filter(None, [_expected(upload, known, data)])
        files.discard(name)
    problems += [f"temporary area: {name} belongs to no upload" for name in sorted(files)]
    return problems


def storage_area_problems(storage: Storage, known: dict[str, bytes]) -> list[str]:
    """The same for an object-storage area: the parts of every row cover its received bytes
    one after the other, each names an object, and no object lacks a part."""
    problems = []
    objects = {entry.name for entry in list_files(storage)}
    referenced = set()
    for upload in TemporaryUpload.objects.exclude(area=""):
        problems += _row_problems(upload)
        if upload.rejected:  # its objects went with the refusal; its part rows stay
            continue
        end, found = 0, []
        for part in UploadPart.objects.filter(upload=upload).order_by("offset"):
            referenced.add(part.name)
            if part.offset != end:
                found.append(f"upload {upload.upload_id}: a part at {part.offset}, not {end}")
            end = part.offset + part.length
            if part.name not in objects:
                found.append(f"upload {upload.upload_id}: part {part.name} has no object")
        if end != upload.received:
            found.append(f"upload {upload.upload_id}: parts end at {end}, not {upload.received}")
        if not found and upload.received and upload.upload_id in known:
            with area_for(upload).open(upload.upload_id) as f:
                found += filter(None, [_expected(upload, known, f.read())])
        problems += found
    problems += [
        f"temporary storage: {name} belongs to no upload" for name in sorted(objects - referenced)
    ]
    return problems


def _row_problems(upload: TemporaryUpload) -> list[str]:
    problems = []
    if upload.checking_since is not None and not upload.complete and not upload.rejected:
        problems.append(f"upload {upload.upload_id}: its checks never finished")
    if upload.complete and upload.received != upload.upload_length:
        problems.append(
            f"upload {upload.upload_id}: complete with {upload.received} of "
            f"{upload.upload_length} bytes"
        )
    try:
        json.dumps(upload.metadata, allow_nan=False)
    except ValueError:
        problems.append(f"upload {upload.upload_id}: metadata {upload.metadata!r}")
    return problems


def store_problems(storage: Storage) -> list[str]:
    """Every stored upload has its file, of its size; no file of the store lacks a row."""
    problems = []
    files = {entry.name: entry.size for entry in list_files(storage)}
    for stored in StoredUpload.objects.all():
        name = str(stored.file.name)
        if name not in files:
            problems.append(f"stored upload {stored.upload_id}: {name} is missing")
        elif files[name] != stored.size:
            problems.append(f"stored upload {stored.upload_id}: {name} has the wrong size")
        files.pop(name, None)
    problems += [f"permanent store: {name} belongs to no stored upload" for name in sorted(files)]
    return problems


# --- where the server wrote --------------------------------------------------------------------


def write_problems(
    server: FuzzServer, writes: Iterable[tuple[str, str]], allowed: list[str]
) -> list[str]:
    """Writes the audit hook recorded outside ``allowed`` paths (and the directories under
    them), and files left in directories that must stay empty."""
    roots = [os.path.realpath(path) for path in allowed]
    problems = []
    for event, path in sorted(writes):
        real = os.path.realpath(path)
        if not any(real == root or real.startswith(root + os.sep) for root in roots):
            problems.append(f"the server wrote outside its areas: {event} {path}")
    for name in (*MUST_STAY_EMPTY, "spool"):
        directory = os.path.join(server.run_dir, name)
        for entry in sorted(os.listdir(directory)):
            problems.append(f"{name}/{entry} left behind")
    return problems
