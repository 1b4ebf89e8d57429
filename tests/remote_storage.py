"""Real storage servers on 127.0.0.1 for the tests: S3 (moto's server) and SFTP (OpenSSH).

Point the S3 tests at a real S3 or MinIO instead by setting ``FILEPOND_TEST_S3_ENDPOINT``
(with ``FILEPOND_TEST_S3_BUCKET``, ``FILEPOND_TEST_S3_ACCESS_KEY``,
``FILEPOND_TEST_S3_SECRET_KEY`` and optionally ``FILEPOND_TEST_S3_REGION``); the bucket must
exist. Every run writes under a prefix of its own, ``filepond-tests/<run id>/``, and deletes
what it wrote, so runs against one persistent bucket neither see nor leave each other's
objects.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from typing import Any

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def sftp_unavailable() -> str | None:
    """Why the SFTP server cannot be started here, or None. The SFTP tests are skipped for
    that reason, unless FILEPOND_REQUIRE_SFTP is set (as CI does): then they fail."""
    if not os.access(SSHD, os.X_OK):
        return f"no OpenSSH sshd at {SSHD} (apt-get install openssh-server)"
    if shutil.which("ssh-keygen") is None:
        return "no ssh-keygen (apt-get install openssh-client)"
    return None


def require_sftp() -> None:
    """Skip the calling test when the SFTP server cannot run here (fail it instead when
    FILEPOND_REQUIRE_SFTP is set)."""
    import pytest

    reason = sftp_unavailable()
    if reason is not None:
        if os.environ.get("FILEPOND_REQUIRE_SFTP"):
            pytest.fail(reason)
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class S3Server:
    """moto's S3 in server mode, reached over HTTP like any S3 endpoint."""

    def __init__(self) -> None:
        self.external = bool(os.environ.get("FILEPOND_TEST_S3_ENDPOINT"))
        self.server: Any = None
        #: Everything this run writes is under this prefix...
        self.run_prefix = f"filepond-tests/{uuid.uuid4().hex[:12]}"
        #: ...and the storage of the current test under this one (see :meth:`use_location`).
        self.location = self.run_prefix
        if self.external:
            self.endpoint = os.environ["FILEPOND_TEST_S3_ENDPOINT"]
            self.bucket = os.environ["FILEPOND_TEST_S3_BUCKET"]
            self.access_key = os.environ["FILEPOND_TEST_S3_ACCESS_KEY"]
            self.secret_key = os.environ["FILEPOND_TEST_S3_SECRET_KEY"]
            self.region = os.environ.get("FILEPOND_TEST_S3_REGION", "us-east-1")
        else:
            from moto.server import ThreadedMotoServer

            port = free_port()
            self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            self.server.start()
            wait_for_port(port)
            self.endpoint = f"http://127.0.0.1:{port}"
            self.bucket = "filepond-tests"
            self.access_key, self.secret_key, self.region = "testing", "testing", "us-east-1"
            self.client().create_bucket(Bucket=self.bucket)

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def storage_options(self, **overrides: Any) -> dict[str, Any]:
        options = {
            "bucket_name": self.bucket,
            "endpoint_url": self.endpoint,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "region_name": self.region,
            "location": self.location,
            "addressing_style": "path",
        }
        options.update(overrides)
        return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}

    def use_location(self, name: str) -> None:
        """Make ``storage_options``, ``read``, ``exists`` and ``key`` work under
        ``<run prefix>/<name>``."""
        self.location = f"{self.run_prefix}/{name}"

    def key(self, name: str) -> str:
        """The object key of the storage name ``name``."""
        return f"{self.location}/{name}"

    def read(self, name: str) -> bytes:
        body = self.client().get_object(Bucket=self.bucket, Key=self.key(name))["Body"]
        with contextlib.closing(body):
            return body.read()  # type: ignore[no-any-return]

    def exists(self, name: str) -> bool:
        """Whether the object is there. Only S3's "not found" means no; any other failure
        (S3 down, no access) raises, so a test asserting absence cannot pass by accident."""
        from botocore.exceptions import ClientError

        try:
            self.client().head_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def keys(self, prefix: str | None = None) -> list[str]:
        """Every object key under ``prefix`` (the current location by default)."""
        paginator = self.client().get_paginator("list_objects_v2")
        found: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{prefix or self.location}/"):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return found

    def delete_all(self, prefix: str | None = None) -> None:
        """Delete every object under ``prefix`` (the current location by default)."""
        client = self.client()
        keys = self.keys(prefix)
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            answer = client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch})
            if answer.get("Errors"):
                raise RuntimeError(f"could not delete test objects: {answer['Errors']}")

    def stop(self) -> None:
        try:
            self.delete_all(self.run_prefix)
        finally:
            if self.server is not None:
                self.server.stop()


class SFTPServer:
    """A real OpenSSH sshd on a spare loopback port, with keys made for this run."""

    def __init__(self, file_size_limit: int | None = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="filepond-sshd-")
        self.root = os.path.join(self.dir, "files")
        os.mkdir(self.root)
        self.port = free_port()
        self.user = getpass.getuser()
        host_key = os.path.join(self.dir, "host_key")
        self.client_key = os.path.join(self.dir, "client_key")
        for path in (host_key, self.client_key):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path],
                check=True,
                capture_output=True,
            )
        shutil.copy(self.client_key + ".pub", os.path.join(self.dir, "authorized_keys"))
        config = os.path.join(self.dir, "sshd_config")
        with open(config, "w") as f:
            f.write(
                f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
                f"PidFile {self.dir}/sshd.pid\nAuthorizedKeysFile {self.dir}/authorized_keys\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\n"
                f"UsePAM no\nAllowUsers {self.user}\nSubsystem sftp internal-sftp\n"
            )
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory

        def limit_file_size() -> None:
            # Writes past the limit fail (EFBIG) as on a full disk, instead of killing sftp.
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            if file_size_limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

        self.process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", config],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=limit_file_size,
        )
        wait_for_port(self.port)

    def storage_options(self, port: int | None = None, **overrides: Any) -> dict[str, Any]:
        options = {
            "host": "127.0.0.1",
            "root_path": self.root,
            "params": {
                "port": port or self.port,
                "username": self.user,
                "key_filename": self.client_key,
                "look_for_keys": False,
                "allow_agent": False,
            },
            "known_host_file": os.path.join(self.dir, "known_hosts"),
        }
        options.update(overrides)
        return {"BACKEND": "storages.backends.sftpstorage.SFTPStorage", "OPTIONS": options}

    def read(self, name: str) -> bytes:
        with open(os.path.join(self.root, name), "rb") as f:
            return f.read()

    def exists(self, name: str) -> bool:
        """Whether the file is there; only "no such file" means no (``os.path.exists`` would
        also answer no when the file cannot be looked at)."""
        try:
            os.stat(os.path.join(self.root, name))
        except FileNotFoundError:
            return False
        return True

    def stop(self) -> None:
        self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
