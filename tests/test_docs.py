"""The documentation stays true: every setting with its default, every check id, and every
Python sample runs."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from django_filepond_server.checks import Ids, check_settings
from django_filepond_server.conf import DEFAULTS

DOCS = Path(__file__).resolve().parent.parent / "docs"
MiB = 1024 * 1024


def documented_settings() -> dict[str, str]:
    text = (DOCS / "settings.rst").read_text()
    found = re.findall(
        r"^\.\. attribute:: (FILEPOND_SERVER_\w+)\n\n\s+:Default: ``(.+?)``", text, re.M
    )
    names = [name for name, _ in found]
    assert len(names) == len(set(names)), "a setting is documented twice"
    return dict(found)


def test_every_setting_is_documented_once_with_its_default():
    documented = documented_settings()
    assert set(documented) == set(DEFAULTS)
    for name, expression in documented.items():
        assert eval(expression, {"MiB": MiB}) == DEFAULTS[name], name


def test_every_check_id_is_documented():
    text = (DOCS / "checks.rst").read_text()
    codes = [value[0] for name, value in vars(Ids).items() if not name.startswith("_")]
    assert codes
    for code in codes:
        assert f"``{code}``" in text, code


def python_samples() -> list[tuple[str, int, str]]:
    samples = []
    for page in sorted(DOCS.glob("*.rst")):
        lines = page.read_text().splitlines()
        for number, line in enumerate(lines):
            if line.strip() != ".. code-block:: python":
                continue
            indent = len(line) - len(line.lstrip())
            body = []
            for following in lines[number + 1 :]:
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                body.append(following)
            samples.append((page.name, number + 1, textwrap.dedent("\n".join(body)).strip()))
    return samples


SAMPLES = python_samples()


@pytest.mark.django_db
@pytest.mark.parametrize(("page", "line", "code"), SAMPLES, ids=[f"{p}:{n}" for p, n, _ in SAMPLES])
def test_python_samples_run(page, line, code, settings):
    assert code, f"{page}:{line} has an empty sample"
    namespace: dict[str, object] = {"__name__": f"docs_{page}_{line}"}
    exec(compile(code, f"{page}:{line}", "exec"), namespace)
    # A settings sample must also pass the app's system checks.
    configured = {
        name: value
        for name, value in namespace.items()
        if name.startswith("FILEPOND_SERVER_") or name == "STORAGES"
    }
    if not configured:
        return
    if "STORAGES" in configured:
        configured["STORAGES"] = {**settings.STORAGES, **configured["STORAGES"]}
    for name, value in configured.items():
        setattr(settings, name, value)
    problems = [
        message
        for message in check_settings()
        if message.is_serious()
        # Samples may name an optional backend not installed here (E017), or the reader's
        # own validator module (E015); everything else must be right.
        and not message.id.endswith("E017")
        and not (message.id.endswith("E015") and "'myproject." in message.msg)
    ]
    assert problems == [], f"{page}:{line}"
