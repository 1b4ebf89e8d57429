"""A seeded randomized run of FilePond requests, and worse, against a live gunicorn.

Two threads of visitors send random methods to both URL styles, with ids that are malformed
or someone else's, extreme and repeated ``Upload-*`` headers, broken multipart bodies,
metadata of every JSON shape, chunks out of order, overlapping or in flight together, bodies
cut short, and HEAD everywhere (``tests/fuzz/run.py``). The run must get no server error (a
503 with ``Retry-After`` aside), leave no traceback or warning in gunicorn's and Django's
logs, write nowhere but the temporary area and the store, keep every upload's bytes with its
row and no bytes without one; and a normal round trip must still work afterwards. A shorter
run does the same with the temporary area and the permanent store on S3 (moto's server).

Each run picks a new seed and prints it. To replay a run::

    FILEPOND_FUZZ_SEED=<seed> .venv/bin/pytest -m fuzz tests/test_fuzz.py

(with ``FILEPOND_TEST_DB=postgresql`` for PostgreSQL). ``FILEPOND_FUZZ_REQUESTS`` and
``FILEPOND_FUZZ_S3_REQUESTS`` change the number of requests (10,000 and 1,000);
``FILEPOND_FUZZ_VERBOSE=1`` prints the answers each kind of request got.
"""

from __future__ import annotations

import os
import random
import re
import resource
import secrets
import time
from collections import Counter
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage, storages
from django.db import connection

from django_filepond_server.storage import list_files
from tests.fuzz import audit, checks, remote, server
from tests.fuzz.remote import FileServer
from tests.fuzz.run import Fuzzer, Shared, run_threads

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]

REQUESTS = int(os.environ.get("FILEPOND_FUZZ_REQUESTS", "10000"))
S3_REQUESTS = int(os.environ.get("FILEPOND_FUZZ_S3_REQUESTS", "1000"))
THREADS = 2


@pytest.fixture
def seed(capsys) -> int:
    value = int(os.environ.get("FILEPOND_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
    with capsys.disabled():
        print(f"\nfuzz seed {value} (replay with FILEPOND_FUZZ_SEED={value})")
    return value


@pytest.fixture
def users(settings, django_user_model) -> list[tuple[str, str]]:
    """Two users per thread: one sends HTTP Basic credentials, one logs in by session."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    pairs = [(f"basic{index}", f"login{index}") for index in range(THREADS)]
    for pair in pairs:
        for name in pair:
            django_user_model.objects.create_user(name, password="pw")
    return pairs


def database() -> dict[str, Any]:
    """The test database, for the server to use too."""
    keys = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    return {key: connection.settings_dict[key] for key in keys if key in connection.settings_dict}


def fuzz(
    run_dir: str,
    seed: int,
    requests: int,
    users: list[tuple[str, str]],
    capsys: Any,
    remote_storages: dict[str, Any] | None = None,
) -> None:
    """Run ``requests`` requests against a fresh gunicorn, then a round trip, then every
    check; fail with the seed and a summary of the problems. ``remote_storages`` are
    ``STORAGES`` aliases for the server (see :class:`tests.fuzz.server.FuzzServer`), and
    must be in this process's ``STORAGES`` too."""
    files = FileServer()
    fuzz_server = server.FuzzServer(
        run_dir, database(), fetch_host=remote.HOST, storages=remote_storages
    )
    watched = [server.REPO_ROOT] + [os.path.join(run_dir, name) for name in server.MUST_STAY_EMPTY]
    before = server.snapshot(watched)
    shared = Shared(fuzz_server.port, files.base, files.files())
    client_cpu = cpu_seconds(resource.RUSAGE_SELF)
    server_cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
    try:
        fuzz_server.start()
        started = time.monotonic()
        fuzzers = run_threads(shared, seed, requests, users)
        elapsed = time.monotonic() - started
        client_cpu = cpu_seconds(resource.RUSAGE_SELF) - client_cpu
        problems = [*shared.failures, *checks.RoundTrip(fuzz_server.port).run()]
    finally:
        fuzz_server.stop()
        files.stop()
        journal = reset_journal()
    # gunicorn's workers, waited for by its master, waited for here (the round trip too).
    server_cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - server_cpu
    after = server.snapshot(watched)
    problems += [f"the server changed {path}" for path in server.changed(before, after)]
    if journal not in (None, "wal"):
        problems.append(f"the server ran SQLite in {journal} mode, not the recommended WAL")
    on_s3 = bool(remote_storages)
    problems += problems_left_behind(fuzz_server, fuzzers, remote_storages or {})
    with capsys.disabled():
        print_figures(shared, elapsed, (client_cpu, server_cpu), on_s3)
    assert shared.requests >= requests
    assert not problems, (
        f"{len(problems)} problems with seed {seed} "
        f"(replay with FILEPOND_FUZZ_SEED={seed}; server files in {run_dir}):\n" + summary(problems)
    )


def reset_journal() -> str | None:
    """On SQLite, the journal mode the server left the test database in (the file keeps it:
    WAL, as ``tests/fuzz/settings.py`` configures it), after which the database gets back
    the rollback journal the later tests were written for. A new connection reads it: one
    opened before may not have seen the change yet."""
    if connection.vendor != "sqlite":
        return None
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        mode = str(cursor.fetchone()[0])
        cursor.execute("PRAGMA journal_mode=DELETE")
    return mode


def problems_left_behind(
    fuzz_server: server.FuzzServer, fuzzers: list[Fuzzer], remote_storages: dict[str, Any]
) -> list[str]:
    """What the logs, the database and the filesystem show once the server has stopped."""
    run_dir = fuzz_server.run_dir
    entries = server.access_log(fuzz_server)
    problems = [
        f"access log: {entry.status} for request {entry.request}: {entry.line[:200]}"
        for entry in server.server_errors(entries)
    ]
    permitted = [entry for entry in entries if server.is_permitted_503(entry)]
    problems += server.server_log_problems(fuzz_server, len(permitted))
    known = {
        upload.upload_id: upload.content
        for fuzzer in fuzzers
        for visitor in fuzzer.visitors + fuzzer.newcomers
        for upload in visitor.uploads
        if upload.content is not None and not upload.gone
    }
    if "fuzz-tmp" in remote_storages:
        problems += checks.storage_area_problems(storages["fuzz-tmp"], known)
    else:
        problems += checks.local_area_problems(os.path.join(run_dir, "tmp"), known)
    if "fuzz-store" in remote_storages:
        problems += checks.store_problems(storages["fuzz-store"])
    else:
        problems += checks.store_problems(FileSystemStorage(os.path.join(run_dir, "media")))
    allowed = [os.path.join(run_dir, name) for name in server.WRITABLE]
    # Each worker opens the logs, and /dev/null for its standard streams.
    allowed += [fuzz_server.django_log_path, fuzz_server.log_path, fuzz_server.access_path]
    allowed.append(os.devnull)
    if connection.vendor == "sqlite":
        suffixes = ("", "-journal", "-wal", "-shm")  # the server runs it in WAL mode
        allowed += [connection.settings_dict["NAME"] + suffix for suffix in suffixes]
    writes = audit.written_paths(os.path.join(run_dir, "audit"))
    return problems + checks.write_problems(fuzz_server, writes, allowed)


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def print_figures(
    shared: Shared, elapsed: float, cpu: tuple[float, float], on_storage: bool
) -> None:
    """The run's size, time and answers (CPU time too: the wall time depends on what else
    the machine runs)."""
    print(
        f"fuzz: {shared.requests} requests in {elapsed:.1f} s "
        f"({shared.requests / elapsed:.0f}/s) on {connection.vendor}"
        f"{' with the temporary area and the store on S3' if on_storage else ''}; CPU s: "
        f"client {cpu[0]:.1f}, server {cpu[1]:.1f}; "
        f"{shared.unanswered} unanswered; statuses "
        + ", ".join(f"{status}: {count}" for status, count in sorted(shared.statuses.items()))
    )
    for line in shared.busy:
        print(f"    503 with Retry-After: {line}")
    if os.environ.get("FILEPOND_FUZZ_VERBOSE"):
        for kind in sorted({kind for kind, _status in shared.outcomes}):
            answers = sorted(
                (status or 0, count) for (k, status), count in shared.outcomes.items() if k == kind
            )
            print(f"    {kind}: " + ", ".join(f"{status}: {count}" for status, count in answers))


def summary(problems: list[str], shown: int = 30) -> str:
    """How many problems of each kind, then the first ones in full."""
    kinds = Counter(
        re.sub(r"[0-9a-zA-Z_-]{22}|\d+(\.\d+)?", "#", p.split("\n")[0])[:90] for p in problems
    )
    lines = [f"{count:5d} x {kind}" for kind, count in kinds.most_common(25)]
    return "\n".join([*lines, "", *problems[:shown]])


def test_a_randomized_run_gets_no_server_error(tmp_path, seed, users, capsys):
    fuzz(str(tmp_path), seed, REQUESTS, users, capsys)


@pytest.mark.remote_storage
def test_a_randomized_run_on_object_storage_gets_no_server_error(
    tmp_path, seed, users, capsys, s3_server, settings
):
    """The temporary area and the permanent store on S3 (moto's server, over HTTP)."""
    remote_storages = {
        alias: s3_server.storage_options(location=f"{alias}-{secrets.token_hex(4)}")
        for alias in ("fuzz-tmp", "fuzz-store")
    }
    # The same aliases as the server's, for the checks after the run.
    settings.STORAGES = {**settings.STORAGES, **remote_storages}
    try:
        fuzz(str(tmp_path), seed, S3_REQUESTS, users, capsys, remote_storages)
    finally:  # a real bucket (FILEPOND_TEST_S3_*) keeps nothing of the run
        for alias in remote_storages:
            storage = storages[alias]
            for entry in list(list_files(storage)):
                storage.delete(entry.name)
