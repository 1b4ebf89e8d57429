"""A Django REST framework server for the FilePond upload widget."""

from __future__ import annotations

__version__ = "0.1.0"
