"""Where a server's time went: a summary of the py-spy samples ``compare.py --profile`` took.

``compare.py --profile DIR`` leaves one file of collapsed stacks per worker and phase
(``<target>-r<round>-<phase>-<pid>.txt``) and writes ``DIR/summary.txt`` with this module. It
also runs on its own::

    python benchmarks/compare_profile.py DIR/ours-r1-upload-*.txt

For each group of files it takes the samples of workers handling a request (gunicorn's
``SyncWorker.handle`` on the stack; not those of a worker waiting for a connection) and prints
the share of them in which each function was on the stack (inclusive) and at the top of it
(self), for the functions of the apps, the database and the WSGI server's I/O; line numbers
are dropped so that a function counts once. py-spy runs with ``--idle``, so time a request
spent waiting (for the client, a lock, the disk) is counted where it waited.
"""

from __future__ import annotations

import collections
import re
import sys
from collections.abc import Iterable

#: Frames worth naming in the inclusive list: the apps, the database, the WSGI server's I/O.
INTERESTING = re.compile(
    r"django_filepond_server|django_drf_filepond|limit_app|sqlite3|sessions|multipartparser"
    r"|magic|storage|unreader|gunicorn/http/body|files"
)
HANDLING = "SyncWorker.handle (gunicorn/workers/sync.py)"
_LINE = re.compile(r":\d+\)$")


def summarise(paths: Iterable[str], top: int = 20) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for path in paths:
        with open(path) as f:
            for line in f:
                stack, _, count_text = line.rstrip().rpartition(" ")
                if not stack or not count_text.isdigit():
                    continue
                count = int(count_text)
                frames = [_LINE.sub(")", frame) for frame in stack.split(";")]
                if HANDLING not in frames:
                    continue
                total += count
                for frame in set(frames):
                    inclusive[frame] += count
                own[frames[-1]] += count
    if not total:
        return "no samples of a request\n"
    lines = [f"{total} samples of requests; on the stack (inclusive):"]
    shown = [(f, n) for f, n in inclusive.most_common() if INTERESTING.search(f)][:top]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in shown]
    lines.append("at the top of the stack (self):")
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top // 2)]
    return "\n".join(lines) + "\n"


def summarise_directory(directory: str, names: list[str]) -> str:
    """A summary per target and phase of the files ``names`` in ``directory``."""
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for name in sorted(names):
        match = re.match(r"^(?P<target>\w+)-r\d+-(?P<phase>\w+)-\d+\.txt$", name)
        if match:
            groups[f"{match['target']} {match['phase']}"].append(f"{directory}/{name}")
    return "".join(f"== {group}\n{summarise(paths)}\n" for group, paths in groups.items())


if __name__ == "__main__":
    print(summarise(sys.argv[1:]), end="")
