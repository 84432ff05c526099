"""Configuration dataclasses saved as JSON next to what they configure."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any, ClassVar, TypeVar

T = TypeVar("T", bound="JSONConfig")


class JSONConfig:
    """Mixin for ``@dataclass`` configs: ``to_dict``/``to_json`` and loaders that name bad keys.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Size(JSONConfig):
        ...     hidden: int = 8
        >>> Size.from_json(Size(16).to_json())
        Size(hidden=16)
        >>> Size.from_json('{"hiden": 3}')
        Traceback (most recent call last):
        ValueError: Size has unknown keys ['hiden']; expected some of ['hidden']
        >>> Size.from_dict([3])
        Traceback (most recent call last):
        TypeError: Size must be a JSON object, got list
    """

    # Set by @dataclass on every subclass; declared so that asdict/fields accept the mixin.
    __dataclass_fields__: ClassVar[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls: type[T], data: object) -> T:
        """The config of a JSON object's keys; an unknown key is a ValueError naming it."""
        if not isinstance(data, dict):
            raise TypeError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"{cls.__name__} has unknown keys {unknown}; expected some of {sorted(known)}"
            )
        return cls(**data)

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__} JSON must be an object, got {type(data).__name__}")
        return cls.from_dict(data)
