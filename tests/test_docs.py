"""The documentation stays true: every setting with its default, every check id, and every
Python sample runs and does what its page says (see ``tests/doc_exercises.py``)."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import global_settings
from django.test import override_settings

from django_filepond_server.checks import Ids, check_settings
from django_filepond_server.conf import DEFAULTS
from tests.doc_exercises import EXERCISES, Context

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


def is_setting(name: str) -> bool:
    """A Django setting, or an upper-case helper of a settings module (``BASE_DIR``)."""
    return hasattr(global_settings, name) or name.isupper()


def exercises_itself(code: str) -> bool:
    """Whether a sample checks what it defines itself, at its top level: an ``assert`` or a
    ``with pytest.raises(...)``."""
    for node in ast.parse(code).body:
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.With) and any(
            isinstance(item.context_expr, ast.Call)
            and ast.unparse(item.context_expr.func) == "pytest.raises"
            for item in node.items
        ):
            return True
    return False


def defined_names(code: str) -> list[str]:
    """The names a sample binds at its top level, imports left out."""
    names = []
    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.extend(t.id for t in targets if isinstance(t, ast.Name))
    return sorted(names)


def exercise_key(page: str, code: str) -> tuple[str, tuple[str, ...]]:
    return (page, tuple(defined_names(code)))


def test_every_sample_that_defines_code_has_an_exercise():
    """A function, class or object that nothing calls proves only that it compiles."""
    missing = [
        f"{page}:{line} defines {list(exercise_key(page, code)[1])}"
        for page, line, code in SAMPLES
        if not all(is_setting(name) for name in defined_names(code))
        and exercise_key(page, code) not in EXERCISES
        and not exercises_itself(code)
    ]
    assert missing == []
    used = {exercise_key(page, code) for page, _, code in SAMPLES}
    assert sorted(set(EXERCISES) - used) == [], "exercises of samples that are gone"


@pytest.mark.django_db
@pytest.mark.parametrize(("page", "line", "code"), SAMPLES, ids=[f"{p}:{n}" for p, n, _ in SAMPLES])
def test_python_samples_run(page, line, code, settings, request):
    assert code, f"{page}:{line} has an empty sample"
    namespace: dict[str, object] = {"__name__": f"docs_{page}_{line}"}
    exec(compile(code, f"{page}:{line}", "exec"), namespace)
    # A settings sample must also pass the app's system checks.
    configured = {
        name: value
        for name, value in namespace.items()
        if name.startswith("FILEPOND_SERVER_") or name == "STORAGES"
    }
    if configured:
        check_configured(page, line, configured, settings)
    exercised = EXERCISES.get(exercise_key(page, code))
    if exercised is not None:
        # It changes settings through pytest-django's fixture, which undoes them afterwards.
        exercised(SimpleNamespace(**namespace), exercise_context(request))


def check_configured(page, line, configured, settings):
    if "STORAGES" in configured:
        configured["STORAGES"] = {**settings.STORAGES, **configured["STORAGES"]}
    with override_settings(**configured):
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


def exercise_context(request) -> Context:
    fixture = request.getfixturevalue
    return Context(
        client=fixture("client"),
        process=fixture("process"),
        start_chunked=fixture("start_chunked"),
        patch=fixture("patch"),
        settings=fixture("settings"),
        monkeypatch=fixture("monkeypatch"),
        media=fixture("upload_dirs")["media"],
        tmp_path=fixture("tmp_path"),
        caplog=fixture("caplog"),
        on_commit=fixture("django_capture_on_commit_callbacks"),
    )
