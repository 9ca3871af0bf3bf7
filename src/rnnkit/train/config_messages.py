"""How configs are described to users: key paths, types, defaults and what is wrong with a value.

Used by `rnnkit.train.config` for its error messages (turning pydantic's errors into lines like
`train.lr: expected a number, got 'abc'`) and for the documentation table of `config_keys`.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

KeyPath = tuple[str | int, ...]  # a key's place in a config tree, e.g. ("train", "lr")


def dotted(path: KeyPath) -> str:
    """The key as users type it: `train.lr`."""
    return ".".join(str(part) for part in path)


def unknown_key_message(cls: type[BaseModel], path: KeyPath) -> str:
    """'unknown config key ...', suggesting a close sibling or the same name in a section."""
    name = str(path[-1])
    keys = [key for key, _ in walk_fields(cls, ())]
    siblings = [str(key[-1]) for key in keys if key[:-1] == path[:-1]]
    close = difflib.get_close_matches(name, siblings, n=1)
    if close:
        guess: KeyPath | None = (*path[:-1], close[0])
    else:  # e.g. 'lr' typed without its section: suggest 'train.lr'
        guess = next((key for key in keys if key[-1] == name), None)
    hint = "" if guess is None else f" (did you mean '{dotted(guess)}'?)"
    return f"unknown config key '{dotted(path)}'{hint}"


_EXPECTED = {
    **dict.fromkeys(("int_type", "int_parsing", "int_from_float"), "an integer"),
    **dict.fromkeys(("float_type", "float_parsing"), "a number"),
    **dict.fromkeys(("bool_type", "bool_parsing"), "true or false"),
    **dict.fromkeys(("list_type", "tuple_type", "set_type"), "a list"),
    **dict.fromkeys(("dict_type", "model_type", "model_attributes_type"), "a mapping"),
    "string_type": "a string",
    "path_type": "a path",
    "finite_number": "a finite number",
}
_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def describe_problem(error: ErrorDetails) -> str:
    """What is wrong with a value, e.g. "expected a number, got 'abc'"."""
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "missing":
        return "required, but not set"
    if kind == "value_error":
        return str(ctx["error"])
    if kind == "literal_error":
        expected = f"one of {ctx['expected']}"
    elif kind in _BOUNDS:
        bound, symbol = _BOUNDS[kind]
        expected = f"a value {symbol} {ctx[bound]}"
    elif kind in _EXPECTED:
        expected = _EXPECTED[kind]
    else:
        return f"{error['msg'][0].lower()}{error['msg'][1:]}, got {show_value(error['input'])}"
    return f"expected {expected}, got {show_value(error['input'])}"


def walk_fields(model: type[BaseModel], prefix: KeyPath) -> Iterator[tuple[KeyPath, FieldInfo]]:
    """Every field of `model` with its path, sections first and then their fields."""
    for name, field in model.model_fields.items():
        yield (*prefix, name), field
        section = section_model(field.annotation)
        if section is not None:
            yield from walk_fields(section, (*prefix, name))


def section_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a section field (`Section` or `Section | None`), else None."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    options = typing.get_args(annotation) if union else (annotation,)
    models = [
        option
        for option in options
        if isinstance(option, type) and typing.get_origin(option) is None
        if issubclass(option, BaseModel)
    ]
    return models[0] if len(models) == 1 else None


def type_name(annotation: Any) -> str:
    """A short, YAML-flavoured type name: `int | null`, `sgd | adam | adamw`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return " | ".join(yaml_word(arg) for arg in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in args)
    if origin is Annotated:
        return type_name(args[0])
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and origin is None:
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def field_doc(field: FieldInfo) -> str:
    """The description of a field followed by its default, for documentation tables."""
    default = field.get_default(call_default_factory=True)
    suffix = "Required." if field.is_required() else f"Default: {yaml_word(default)}."
    return f"{field.description or ''} {suffix}".strip()


def yaml_word(value: Any) -> str:
    """A value as a user would type it in YAML: null, true, 0.002, adamw."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def show_value(value: Any, limit: int = 60) -> str:
    """A value in an error message: strings quoted, long values shortened."""
    text = repr(value) if isinstance(value, str) else yaml_word(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
