"""The capability protocols the CLI checks: a task has a capability when it has the method."""

from __future__ import annotations

from rnnkit.tasks import Generates, task_class
from rnnkit.train.config import load_config


def test_the_language_model_generates():
    cls = task_class("lm")
    assert isinstance(cls(load_config(cls.config_class)), Generates)


def test_a_task_without_generate_does_not(regression_task):
    assert not isinstance(regression_task(), Generates)
