#!/usr/bin/env python
"""Command-line entry point of the demo project: ``python demo/manage.py runserver``."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    # Use the app from this checkout even where it is not pip-installed.
    sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
