"""Records to JSON and back: dataclasses written with `to_json`, read back with `from_json(cls, data, where)`.

Reading is strict and typed from the dataclass's own annotations (nested dataclasses, `X | None`,
`list[X]`, `dict[str, X]`, numbers, strings, booleans): an unknown or missing field, or a value of the
wrong type, is one InvalidConfig naming the file and the field path (e.g. `check.json: services.redis.
shards.127.0.0.1:25501.rto_seconds: expected a number, got 'x'`). So no consumer digs in dicts by key or
catches KeyError as validation: a record that does not fit its class fails here, once.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from waqiti_drill.errors import InvalidConfig

T = TypeVar("T")
_HINTS: dict[type, dict[str, Any]] = {}


def to_json(value: Any) -> Any:  # noqa: ANN401 - any record
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value


def from_json(cls: type[T], data: object, where: str) -> T:
    """An instance of dataclass `cls` from its to_json() form; InvalidConfig naming `where` and the field."""
    return _value(cls, data, where)  # type: ignore[return-value]


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def _record(cls: type, data: object, where: str) -> object:
    if not isinstance(data, dict):
        raise InvalidConfig(f"{where}: expected an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InvalidConfig(f"{where}: unknown field(s) {', '.join(unknown)}")
    missing = [name for name, f in fields.items() if name not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise InvalidConfig(f"{where}: missing field(s) {', '.join(missing)}")
    hints = _hints(cls)
    return cls(**{key: _value(hints[key], value, f"{where}.{key}") for key, value in data.items()})


def _value(hint: Any, data: object, where: str) -> object:  # noqa: ANN401
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _record(hint, data, where)
    origin = get_origin(hint)
    if origin is typing.Literal:
        if data not in get_args(hint):
            raise InvalidConfig(f"{where}: expected one of {', '.join(map(repr, get_args(hint)))}, got {data!r}")
        return data
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if data is None and type(None) in options:
            return None
        if type(data) in options and type(data) in (int, float, str, bool):
            return data  # an exact scalar match keeps its type (an int stays an int in `float | int`)
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _value(option, data, where)
            except InvalidConfig as exc:
                errors.append(str(exc))
        raise InvalidConfig(errors[0] if len(errors) == 1 else f"{where}: {data!r} fits none of {hint}")
    if origin is list:
        if not isinstance(data, list):
            raise InvalidConfig(f"{where}: expected a list, got {type(data).__name__}")
        (item,) = get_args(hint) or (Any,)
        return [_value(item, v, f"{where}[{i}]") for i, v in enumerate(data)]
    if origin is dict:
        if not isinstance(data, dict):
            raise InvalidConfig(f"{where}: expected an object, got {type(data).__name__}")
        _key, item = get_args(hint) or (str, Any)
        return {str(k): _value(item, v, f"{where}.{k}") for k, v in data.items()}
    return _scalar(hint, data, where)


def _scalar(hint: Any, data: object, where: str) -> object:  # noqa: ANN401
    if hint is Any or hint is object:
        return data
    if hint is float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise InvalidConfig(f"{where}: expected a number, got {data!r}")
        return float(data)
    if hint is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise InvalidConfig(f"{where}: expected a whole number, got {data!r}")
        return data
    if hint in (str, bool):
        if not isinstance(data, hint):
            raise InvalidConfig(f"{where}: expected {'text' if hint is str else 'true or false'}, got {data!r}")
        return data
    raise TypeError(f"{where}: no JSON reading for type {hint!r}")  # a programming error: extend _value
