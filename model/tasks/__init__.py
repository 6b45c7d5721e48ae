"""The task registry. A task is one module in this package that defines a :class:`Task` subclass decorated
with :func:`register`; modules are discovered automatically, so a new task (say 4x super-resolution) is one
new file and nothing else."""

from __future__ import annotations

import importlib
import pkgutil
from typing import TypeVar

from model.tasks.base import Degraded, Task, TaskInputError, TaskOption

_REGISTRY: dict[str, Task] = {}
_INFRASTRUCTURE = {"base", "masks"}
TaskClass = TypeVar("TaskClass", bound=type[Task])


def register(cls: TaskClass) -> TaskClass:
    """Class decorator: make a task available under ``cls.name``."""
    if cls.name in _REGISTRY:
        raise ValueError(f"task {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls()
    return cls


def _discover() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name not in _INFRASTRUCTURE:
            importlib.import_module(f"{__name__}.{module.name}")


def get_task(name: str) -> Task:
    """The task called ``name``; KeyError names the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(sorted(_REGISTRY))}") from None


def task_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


_discover()

__all__ = [
    "Degraded",
    "Prepared",
    "Task",
    "TaskInputError",
    "TaskOption",
    "get_task",
    "register",
    "task_names",
]
