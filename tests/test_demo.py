"""The demo project (``demo/``): its own test module runs under its own settings.

The demo has its own settings, URLconf and model, which ``tests.settings`` lacks, and
pytest-django creates tables only for the apps installed when the session starts, so its
tests (``demo/tests/``) run in a subprocess with ``demo_project.settings``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo"


def test_demo_suite(tmp_path: Path) -> None:
    env = {
        **os.environ,
        # The app from this checkout, installed or not, and the demo project.
        "PYTHONPATH": os.pathsep.join(
            [str(REPO), str(DEMO), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "DEMO_DB_PATH": str(tmp_path / "db.sqlite3"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    command = [sys.executable, "-m", "pytest", str(DEMO / "tests"), "--ds=demo_project.settings"]
    command += ["-p", "no:cacheprovider", "-q"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, output
    assert re.search(r"\b\d+ passed\b", summary), output
    assert "skipped" not in summary and "xfail" not in summary, output


def test_filepond_is_pinned() -> None:
    """The widget the demo serves is the exact version the protocol notes were read from, and
    its validation plugins, tus-js-client and the tus tests' Uppy are pinned too."""
    package = json.loads((DEMO / "package.json").read_text())
    lock = json.loads((DEMO / "package-lock.json").read_text())
    pinned = {
        "filepond": "4.32.12",
        "filepond-plugin-file-validate-size": "2.2.8",
        "filepond-plugin-file-validate-type": "1.2.9",
        "tus-js-client": "4.3.1",
    }
    assert package["dependencies"] == pinned
    for name in ("@uppy/core", "@uppy/dashboard", "@uppy/tus", "esbuild"):
        pinned[name] = package["devDependencies"][name]
        assert re.fullmatch(r"\d+\.\d+\.\d+", pinned[name]), name
    for name, version in pinned.items():
        locked = lock["packages"][f"node_modules/{name}"]
        assert locked["version"] == version
        assert locked["integrity"].startswith("sha512-")
