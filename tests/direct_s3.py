"""The S3 of the direct-upload tests, as a browser meets it.

With ``FILEPOND_TEST_S3_*`` set (see ``tests/remote_storage.py``) that is the real S3 or
MinIO, used as it is (with ``FILEPOND_TEST_S3_CHECK_POLICIES=1``, for a standalone moto
server, behind the gateway below). Otherwise it is moto's server, in a process of its own
started with ``MOTO_DISABLE_GLOBAL_CORS`` (by default moto answers every request with
``Access-Control-Allow-Origin: *``, which would hide a wrong CORS configuration), behind a
small gateway that does two things moto does not do, the way S3 documents them:

- it checks a browser form POST against its policy (signature, expiry, the key, every field,
  ``content-length-range``) and refuses it as S3 does; moto stores a POSTed object without
  looking at the policy;
- it adds the CORS headers of the bucket's matching rule to the answer of such a POST; moto
  adds them to part uploads and answers preflight requests from the bucket's rules, but not
  to form POSTs.

Everything else (preflights, part uploads, the app's own calls) goes to moto unchanged.
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import email.policy
import fnmatch
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.remote_storage import free_port, wait_for_port

#: Largest form POST the gateway reads to check it (the tests' one-request files are smaller).
MAX_FORM = 64 * 1024 * 1024
#: Request headers that concern one connection only.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


class PolicyRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _sign(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def check_post_policy(fields: dict[str, str], bucket: str, file_size: int, secret: str) -> None:
    """Refuse a browser form POST as S3 does when it breaks its policy (SigV4 POST policies:
    https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html)."""
    lowered = {name.lower(): value for name, value in fields.items()}
    encoded = lowered.get("policy")
    if not encoded or lowered.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
        raise PolicyRefused(403, "AccessDenied", "Bucket POST must contain a signed policy.")
    _key_id, date, region, service, _end = lowered.get("x-amz-credential", "////").split("/")
    signing_key = _sign(
        _sign(_sign(_sign(f"AWS4{secret}".encode(), date), region), service), "aws4_request"
    )
    expected = hmac.new(signing_key, encoded.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, lowered.get("x-amz-signature", "")):
        raise PolicyRefused(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    policy = json.loads(base64.b64decode(encoded))
    expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    if expiration < datetime.now(timezone.utc):
        raise PolicyRefused(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    values = {**lowered, "bucket": bucket}
    covered = {"policy", "x-amz-signature", "file"}
    for condition in policy["conditions"]:
        if isinstance(condition, dict):
            ((name, wanted),) = condition.items()
            operator, name = "eq", name.lower()
        elif condition[0] == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
            if file_size > high:
                raise PolicyRefused(
                    400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
                )
            if file_size < low:
                raise PolicyRefused(
                    400,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size",
                )
            continue
        else:
            operator, name, wanted = condition[0], condition[1].lstrip("$").lower(), condition[2]
        covered.add(name)
        value = values.get(name)
        matched = (
            value == wanted
            if operator == "eq"
            else (value is not None and value.startswith(wanted))
        )
        if not matched:
            raise PolicyRefused(
                403,
                "AccessDenied",
                "Invalid according to Policy: Policy "
                f'Condition failed: ["{operator}", "${name}", "{wanted}"]',
            )
    extra = [name for name in lowered if name not in covered and not name.startswith("x-ignore-")]
    if extra:
        raise PolicyRefused(
            403,
            "AccessDenied",
            f"Invalid according to Policy: Extra input fields: {', '.join(extra)}",
        )


def parse_form(content_type: str, body: bytes) -> tuple[dict[str, str], bytes | None]:
    """The text fields of a multipart form and the bytes of its ``file`` field."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, str] = {}
    file: bytes | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if name == "file":
            file = data
        elif name:
            fields[str(name)] = data.decode()
    return fields, file


class Gateway(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, upstream: tuple[str, int], bucket: str, s3: Any) -> None:
        super().__init__(("127.0.0.1", port), _GatewayHandler)
        self.upstream, self.bucket, self.s3 = upstream, bucket, s3
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget what the part uploads did so far and any fault set for them."""
        with self.lock:
            #: (part number, status) of every part upload, in the order they were answered.
            self.parts: list[tuple[int, int]] = []
            self.in_flight = 0
            #: The most part uploads that were in flight at once.
            self.most_in_flight = 0
            #: part number -> how many more of its uploads fail (as if the network broke).
            self.failures: dict[int, int] = {}
            #: When set, part uploads wait for it before they reach S3.
            self.hold: threading.Event | None = None


class _GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Gateway

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        content_type = self.headers.get("Content-Type", "")
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        part = parse_qs(url.query).get("partNumber")
        if self.command == "PUT" and part and "x-amz-copy-source" not in self.headers:
            self._part_upload(int(part[0]), length)
            return
        if (
            self.command == "POST"
            and content_type.startswith("multipart/form-data")
            and path == f"/{self.server.bucket}"
        ):
            self._form_post(length, content_type)
            return
        self._forward(self._body_pieces(length), extra_headers={})

    def _part_upload(self, number: int, length: int) -> None:
        server = self.server
        with server.lock:
            server.in_flight += 1
            server.most_in_flight = max(server.most_in_flight, server.in_flight)
            failing = server.failures.get(number, 0) > 0
            if failing:
                server.failures[number] -= 1
            hold = server.hold
        status = 500
        try:
            if hold is not None:
                hold.wait(60)
            if failing:
                for _piece in self._body_pieces(length):
                    pass
                self._answer(
                    500, "InternalError", "We encountered an internal error (injected by the test)."
                )
            else:
                status = self._forward(self._body_pieces(length), extra_headers={})
        finally:
            with server.lock:
                server.in_flight -= 1
                server.parts.append((number, status))

    def _body_pieces(self, length: int) -> Any:
        remaining = length
        while remaining:
            piece = self.rfile.read(min(1024 * 1024, remaining))
            if not piece:
                return
            remaining -= len(piece)
            yield piece

    def _form_post(self, length: int, content_type: str) -> None:
        if length > MAX_FORM:
            self._answer(
                400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
            )
            return
        body = self.rfile.read(length)
        fields, file = parse_form(content_type, body)
        cors = self._cors_for_post()
        try:
            check_post_policy(
                fields, self.server.bucket, len(file or b""), self.server.s3.secret_key
            )
        except PolicyRefused as refusal:
            self._answer(refusal.status, refusal.code, refusal.message, cors)
            return
        self._forward(iter([body]), extra_headers=cors)

    def _cors_for_post(self) -> dict[str, str]:
        """The headers of the bucket's first CORS rule that allows this origin to POST."""
        origin = self.headers.get("Origin")
        if not origin:
            return {}
        try:
            rules = self.server.s3.client().get_bucket_cors(Bucket=self.server.bucket)["CORSRules"]
        except Exception:
            return {}
        for rule in rules:
            if "POST" in rule.get("AllowedMethods", []) and any(
                fnmatch.fnmatchcase(origin, allowed) for allowed in rule.get("AllowedOrigins", [])
            ):
                headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
                if rule.get("ExposeHeaders"):
                    headers["Access-Control-Expose-Headers"] = ", ".join(rule["ExposeHeaders"])
                return headers
        return {}

    def _answer(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>"
        ).encode()
        self.send_response(status)
        for name, value in {**(headers or {}), "Content-Type": "application/xml"}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _forward(self, body: Any, extra_headers: dict[str, str]) -> int:
        connection = http.client.HTTPConnection(*self.server.upstream, timeout=120)
        try:
            connection.putrequest(
                self.command, self.path, skip_host=True, skip_accept_encoding=True
            )
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    connection.putheader(name, value)
            connection.putheader("Connection", "close")
            connection.endheaders()
            for piece in body:
                connection.send(piece)
            answer = connection.getresponse()
            self.send_response(answer.status)
            head = self.command == "HEAD"  # its Content-Length is the object's
            sent = set()
            for name, value in answer.getheaders():
                lowered = name.lower()
                if lowered not in HOP_BY_HOP and (head or lowered != "content-length"):
                    self.send_header(name, value)
                    sent.add(lowered)
            for name, value in extra_headers.items():
                if name.lower() not in sent:
                    self.send_header(name, value)
            data = answer.read()
            if not head:
                self.send_header("Content-Length", str(len(data)))
            # One request per connection: a browser never resends a request on a reused
            # connection that the gateway closed meanwhile.
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            if not head:
                self.wfile.write(data)
            return answer.status
        finally:
            connection.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = _handle


class DirectS3:
    """The bucket of the direct-upload tests (see the module's docstring)."""

    def __init__(self) -> None:
        self.external = bool(os.environ.get("FILEPOND_TEST_S3_ENDPOINT"))
        self.run_prefix = f"filepond-direct-tests/{uuid.uuid4().hex[:12]}"
        self.process: subprocess.Popen[bytes] | None = None
        self.gateway: Gateway | None = None
        if self.external:
            #: Where the app and the browser reach S3 (the gateway, when there is one).
            self.endpoint = self.upstream = os.environ["FILEPOND_TEST_S3_ENDPOINT"]
            self.bucket = os.environ["FILEPOND_TEST_S3_BUCKET"]
            self.access_key = os.environ["FILEPOND_TEST_S3_ACCESS_KEY"]
            self.secret_key = os.environ["FILEPOND_TEST_S3_SECRET_KEY"]
            self.region = os.environ.get("FILEPOND_TEST_S3_REGION", "us-east-1")
            # A persistent bucket on a standalone moto server checks no policies either.
            if os.environ.get("FILEPOND_TEST_S3_CHECK_POLICIES"):
                self._start_gateway()
            return
        self.bucket = "filepond-direct-tests"
        self.access_key, self.secret_key, self.region = "testing", "testing", "us-east-1"
        moto_port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
            env={**os.environ, "MOTO_DISABLE_GLOBAL_CORS": "true"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(moto_port)
        self.endpoint = self.upstream = f"http://127.0.0.1:{moto_port}"
        self._start_gateway()
        self.client().create_bucket(Bucket=self.bucket)

    def _start_gateway(self) -> None:
        upstream = urlsplit(self.upstream)
        port = free_port()
        self.gateway = Gateway(
            port, (upstream.hostname or "127.0.0.1", upstream.port or 80), self.bucket, self
        )
        threading.Thread(target=self.gateway.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{port}"

    def client(self) -> Any:
        """A client of S3 itself, past the gateway: for the tests' own looks and changes."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.upstream,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def storage_options(self, location: str) -> dict[str, Any]:
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": self.bucket,
                "endpoint_url": self.endpoint,
                "access_key": self.access_key,
                "secret_key": self.secret_key,
                "region_name": self.region,
                "location": f"{self.run_prefix}/{location}",
                "addressing_style": "path",
            },
        }

    def keys(self, location: str) -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        prefix = f"{self.run_prefix}/{location}/"
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]

    def multipart_uploads(self, location: str) -> list[dict[str, Any]]:
        answer = self.client().list_multipart_uploads(
            Bucket=self.bucket, Prefix=f"{self.run_prefix}/{location}/"
        )
        return list(answer.get("Uploads", []))

    def empty(self, location: str) -> None:
        """Delete the objects and abort the multipart uploads under ``location``."""
        client = self.client()
        for upload in self.multipart_uploads(location):
            with contextlib.suppress(Exception):
                client.abort_multipart_upload(
                    Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
        for key in self.keys(location):
            client.delete_object(Bucket=self.bucket, Key=key)

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.shutdown()
            self.gateway.server_close()
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
