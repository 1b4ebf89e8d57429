"""A record of every path the server process writes to, from Python's audit hooks (PEP 578).

:func:`install` runs in each gunicorn worker (from the fuzz settings). It appends one line per
event to ``<directory>/<pid>.log``: the event and the absolute path it writes, creates,
renames, links or removes. Reads are not recorded. SQLite writes its own files from C; its
``sqlite3.connect`` event names the database instead. :func:`written_paths` reads the records
back in the test.
"""

from __future__ import annotations

import os
import sys
from typing import Any

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
#: Events whose arguments are paths written, created or removed (all of them, for two-path
#: events such as renames).
_PATH_EVENTS = {
    "os.rename": 2,
    "os.link": 2,
    "os.symlink": 2,
    "shutil.copyfile": 2,
    "shutil.copytree": 2,
    "os.mkdir": 1,
    "os.remove": 1,
    "os.rmdir": 1,
    "os.truncate": 1,
    "os.chmod": 1,
    "os.chown": 1,
    "os.utime": 1,
    "shutil.rmtree": 1,
    "shutil.move": 2,
    "tempfile.mkstemp": 1,
    "tempfile.mkdtemp": 1,
    "sqlite3.connect": 1,
}


def _absolute(path: Any) -> str | None:
    if isinstance(path, int):  # a file descriptor: its opening was recorded
        return None
    try:
        path = os.fsdecode(os.fspath(path))
    except TypeError:
        return None
    return os.path.normpath(os.path.join(os.getcwd(), path))


def install(directory: str) -> None:
    """Record this process's writes under ``directory`` (once per process)."""
    os.makedirs(directory, exist_ok=True)
    fd = os.open(
        os.path.join(directory, f"{os.getpid()}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND
    )

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, _mode, flags = args
            if not isinstance(flags, int) or not flags & _WRITE_FLAGS:
                return
            paths = [path]
        elif event in _PATH_EVENTS:
            paths = list(args[: _PATH_EVENTS[event]])
        else:
            return
        for item in paths:
            absolute = _absolute(item)
            if absolute is not None:
                os.write(fd, f"{event}\t{absolute}\n".encode("utf-8", "surrogateescape"))

    sys.addaudithook(hook)


def written_paths(directory: str) -> set[tuple[str, str]]:
    """``(event, path)`` of every write recorded under ``directory``."""
    found: set[tuple[str, str]] = set()
    for name in os.listdir(directory):
        with open(os.path.join(directory, name), encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                event, _tab, path = line.rstrip("\n").partition("\t")
                found.add((event, path))
    return found
