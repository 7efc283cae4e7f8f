"""The exception tree: every class in the package derives from PromptlydError and is drawn.

Classes are found by walking and importing every module (``__main__`` modules are
skipped: importing one starts the program), so a new class that is left out fails here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import click
import pytest

import promptlyd
from promptlyd import errors
from promptlyd.errors import PromptlydError

# The client's errors are the SDK mirror's own tree (promptlyd/client/errors.py).
CLIENT = "promptlyd.client"


def _exception_classes() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(promptlyd.__path__, "promptlyd."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == module.__name__):
                found.append(obj)
    return found


CLASSES = _exception_classes()
OURS = [cls for cls in CLASSES if not cls.__module__.startswith(CLIENT)]


def test_the_walk_finds_classes_in_subpackages() -> None:
    names = {cls.__name__ for cls in OURS}
    assert {"PromptlydError", "ModelError", "KeyStoreError", "ScheduleError",
            "SkillFileError", "CliError"} <= names


@pytest.mark.parametrize("cls", OURS, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_every_exception_class_derives_from_promptlyd_error(cls: type[BaseException]) -> None:
    assert issubclass(cls, PromptlydError), (
        f"{cls.__module__}.{cls.__name__} must derive from promptlyd.errors.PromptlydError")


@pytest.mark.parametrize("cls", OURS, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_every_exception_class_is_drawn_with_its_module(cls: type[BaseException]) -> None:
    doc = errors.__doc__ or ""
    line = next((ln for ln in doc.splitlines()
                 if re.search(rf"[─ ]{cls.__name__}\b", ln)), None)
    assert line is not None, f"{cls.__name__} is missing from the drawing in errors.py"
    module = cls.__module__
    if module != "promptlyd.errors":
        path = module.removeprefix("promptlyd.").replace(".", "/") + ".py"
        assert path in line, f"the drawing should name {path} beside {cls.__name__}"
        assert (Path(promptlyd.__file__).parent / path).is_file()


def test_the_drawing_names_only_classes_that_exist() -> None:
    names = {cls.__name__ for cls in OURS}
    drawn = set(re.findall(r"[├└]── (\w+)", errors.__doc__ or ""))
    assert len(drawn) >= 10, "no drawing"
    assert drawn <= names, f"drawn but not defined: {drawn - names}"


def test_the_drawing_mentions_the_client_tree() -> None:
    assert "promptlyd/client/errors.py" in (errors.__doc__ or "")
    client_base = next(c for c in CLASSES if c.__name__ == "PromptlyError")
    assert all(issubclass(c, client_base) for c in CLASSES if c.__module__.startswith(CLIENT))


def test_statuses_and_types_are_unchanged() -> None:
    from promptlyd.errors import (
        Conflict,
        NotAvailable,
        NotFound,
        SecretMissing,
        ValidationError,
    )
    from promptlyd.providers.base import ModelError
    from promptlyd.scheduling.triggers import ScheduleError
    from promptlyd.secrets import KeyStoreError

    table = {
        ValidationError: (400, "invalid_request"), ScheduleError: (400, "invalid_request"),
        NotFound: (404, "not_found"), Conflict: (409, "conflict"),
        NotAvailable: (501, "not_available"), SecretMissing: (500, "secret_missing"),
        KeyStoreError: (500, "secret_store_error"), ModelError: (500, "model_error"),
    }
    for cls, expected in table.items():
        assert (cls.status, cls.type) == expected, cls


def test_cli_errors_are_still_click_exceptions() -> None:
    from promptlyd.cli.common import CliError, NotRunningError

    err = NotRunningError("the daemon is not running: start it with `promptlyd`")
    assert isinstance(err, click.ClickException) and isinstance(err, PromptlydError)
    assert err.exit_code == 2 and err.format_message() == err.message
    assert CliError("x").exit_code == 1


def test_skill_file_error_keeps_its_line() -> None:
    from promptlyd.skills.parse import SkillFileError

    err = SkillFileError("invalid YAML front matter", 3)
    assert err.message == "invalid YAML front matter" and err.line == 3
    assert isinstance(err, PromptlydError)
