"""The demo project's own settings with its files moved out of ``demo/var/``, for the
screenshot test (which runs the demo with ``manage.py runserver`` in a subprocess)."""

from __future__ import annotations

import os
from pathlib import Path

from demo_project.settings import *  # noqa: F403  (the demo exactly, but for two paths)

_VAR = Path(os.environ["FILEPOND_DEMO_VAR"])
MEDIA_ROOT = _VAR / "media"
FILEPOND_SERVER_TEMP_DIR = _VAR / "tmp"
