"""The built distributions: what the wheel and sdist hold, their metadata, and a clean install."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
import trove_classifiers

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        # Without --sdist/--wheel, build makes the sdist and then the wheel from the sdist,
        # which proves the sdist is complete.
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


def only(directory: Path, pattern: str) -> Path:
    (path,) = directory.glob(pattern)
    return path


def test_the_wheel_holds_the_package_and_nothing_else(dist):
    names = zipfile.ZipFile(only(dist, "*.whl")).namelist()
    for required in (
        "django_filepond_server/py.typed",
        "django_filepond_server/migrations/0001_initial.py",
        "django_filepond_server/migrations/0002_ownership_and_validation.py",
        "django_filepond_server/management/commands/filepond_cleanup.py",
        "django_filepond_server/admin.py",
        "django_filepond_server/clamav.py",
        "django_filepond_server/forms/__init__.py",
        "django_filepond_server/serializers.py",
        "django_filepond_server/openapi.py",
        "django_filepond_server/templates/django_filepond_server/widget.html",
        "django_filepond_server/static/django_filepond_server/filepond-widget.js",
        "django_filepond_server/static/django_filepond_server/filepond-widget.css",
        "django_filepond_server/static/django_filepond_server/tus.js",
        "django_filepond_server/tus_views.py",
        "django_filepond_server/static/django_filepond_server/direct.js",
        "django_filepond_server/migrations/0004_direct_transfers.py",
    ):
        assert required in names, required
    # The form widget loads FilePond from where the site says; the package never ships it.
    assert not any("filepond.min" in name or "/locale/" in name for name in names)
    # Nor tus-js-client: the tus transport's page loads it from FILEPOND_SERVER_TUS_CLIENT_JS.
    assert not any("tus.min" in name or "tus-js-client" in name for name in names)
    top_levels = {name.split("/", 1)[0] for name in names}
    assert top_levels == {"django_filepond_server", "django_filepond_server-0.1.0.dist-info"}
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)


def test_the_wheel_metadata(dist):
    wheel = zipfile.ZipFile(only(dist, "*.whl"))
    metadata = Parser().parsestr(
        wheel.read("django_filepond_server-0.1.0.dist-info/METADATA").decode()
    )
    assert metadata["Name"] == "django-filepond-server"
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert metadata["License-File"] == "LICENSE"
    assert "django_filepond_server-0.1.0.dist-info/licenses/LICENSE" in wheel.namelist()
    classifiers = metadata.get_all("Classifier")
    assert "Framework :: Django :: 4.2" in classifiers
    assert "Framework :: Django :: 5.2" in classifiers
    assert "Framework :: Django :: 6.0" in classifiers
    assert set(classifiers) <= trove_classifiers.classifiers  # each one is a real classifier
    assert "Typing :: Typed" in classifiers
    assert not any(c.startswith("License ::") for c in classifiers)  # PEP 639: the expression
    extras = set(metadata.get_all("Provides-Extra"))
    assert {"s3", "sftp", "gcs", "azure", "openapi"} <= extras
    requires = metadata.get_all("Requires-Dist")
    assert 'django-storages[s3]>=1.14; extra == "s3"' in requires
    assert 'django-storages[sftp]>=1.14; extra == "sftp"' in requires


def test_the_sdist_holds_sources_without_demo_docs_or_benchmarks(dist):
    with tarfile.open(only(dist, "*.tar.gz")) as sdist:
        names = [name.split("/", 1)[1] for name in sdist.getnames() if "/" in name]
    for required in ("pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE", "MANIFEST.in"):
        assert required in names, required
    assert "django_filepond_server/migrations/0001_initial.py" in names
    for excluded in ("demo/", "docs/", "benchmarks/", "tests/", ".ci/"):
        assert not any(name.startswith(excluded) for name in names), excluded


def test_twine_check_passes(dist):
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


MINIMAL_SETTINGS = """
SECRET_KEY = "packaging-test"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "django_filepond_server",
]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}
ROOT_URLCONF = "project_urls"
USE_TZ = True
"""


def test_the_wheel_installs_and_migrates_in_a_fresh_project(dist, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(only(dist, "*.whl")),
        ],
        check=True,
        timeout=600,
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "project_settings.py").write_text(MINIMAL_SETTINGS)
    (project / "project_urls.py").write_text(
        "from django.urls import include, path\n"
        'urlpatterns = [path("fp/", include("django_filepond_server.urls"))]\n'
    )
    env = {"PATH": str(venv / "bin"), "PYTHONPATH": str(project)}
    for command in (["check"], ["migrate", "--no-input"], ["filepond_cleanup", "--dry-run"]):
        result = subprocess.run(
            [python, "-m", "django", *command, "--settings", "project_settings"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    assert "Would remove 0 item(s)" in result.stdout
