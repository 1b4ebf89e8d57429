"""Sphinx configuration: ``sphinx-build -W -b html docs docs/_build`` from the repository root."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import django

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# autodoc imports the models, which need configured settings.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

import django_filepond_server  # noqa: E402

project = "django-filepond-server"
author = "django-filepond-server contributors"
copyright = "2026, the django-filepond-server contributors"
release = django_filepond_server.__version__
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx"]
exclude_patterns = ["_build", "_inventories"]
html_theme = "furo"
html_title = f"django-filepond-server {release}"

autodoc_member_order = "bysource"
autodoc_typehints = "description"

# The local copies in _inventories/ come first, so the build never waits on the network;
# Django's published inventory is only tried if its copy is missing (Django REST framework
# publishes none). Links still point at the projects' own pages.
intersphinx_mapping = {
    "django": (
        "https://docs.djangoproject.com/en/5.2/",
        ("_inventories/django.inv", "https://docs.djangoproject.com/en/5.2/_objects/"),
    ),
    "rest_framework": ("https://www.django-rest-framework.org/", "_inventories/drf.inv"),
}
intersphinx_timeout = 5


def setup(app: object) -> None:
    # Django's docs define a "setting" object type; declaring it lets :setting:`STORAGES`
    # resolve through intersphinx.
    app.add_crossref_type(  # type: ignore[attr-defined]
        directivename="setting", rolename="setting", indextemplate="pair: %s; setting"
    )
