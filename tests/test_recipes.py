"""Every recipe in recipes/ is a valid config of its task (keys and types), and names the data
it expects and the command that runs it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rnnkit.tasks import task_class
from rnnkit.train.config import load_config

RECIPES = sorted((Path(__file__).parents[1] / "recipes").glob("*.yaml"))


def test_there_are_recipes():
    assert len(RECIPES) >= 5


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_a_recipe_loads_as_its_tasks_config_and_says_how_to_run_it(path: Path):
    text = path.read_text(encoding="utf-8")
    task = yaml.safe_load(text)["task"]
    config = load_config(task_class(task).config_class, path)
    assert config.task == task
    assert f"--config recipes/{path.name}" in text or "Same data format and command" in text
