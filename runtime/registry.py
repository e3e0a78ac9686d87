"""One registry type for every table of named things (tasks, families, heads, metrics, targets, ...).

Entries are registered under a key with optional aliases; a value may be a lazy "package.module:attr"
string, imported on first `get`, so a registry can name code that only some installs have. An unknown
key is a UsageError that suggests the closest known key.
"""
from __future__ import annotations

import importlib
from typing import Callable, Generic, Hashable, Iterator, TypeVar

from .errors import UsageError, did_you_mean

T = TypeVar("T")


def resolve(ref: str):
    """Import 'package.module:attr' (attr may be dotted)."""
    module, _, attr = ref.partition(":")
    if not attr:
        raise ValueError(f"lazy registry entry {ref!r} must look like 'package.module:attr'")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """A named table. `what` names the kind of entry in error messages ("task", "family", ...)."""

    def __init__(self, what: str, normalize: Callable[[Hashable], Hashable] | None = None):
        self.what = what
        self._normalize = normalize or (lambda k: k)
        self._entries: dict[Hashable, T | str] = {}
        self._aliases: dict[Hashable, Hashable] = {}

    # -- writing ----------------------------------------------------------------------------------
    def add(self, key: Hashable, value: T | str, aliases: tuple = ()) -> T | str:
        key = self._normalize(key)
        if key in self._entries:
            raise ValueError(f"{self.what} {key!r} is registered twice")
        self._entries[key] = value
        for name in (key, *map(self._normalize, aliases)):
            if name in self._aliases and self._aliases[name] != key:
                raise ValueError(f"{self.what} alias {name!r} is taken by {self._aliases[name]!r}")
            self._aliases[name] = key
        return value

    def register(self, key: Hashable, aliases: tuple = ()):
        """Decorator form: `@REG.register("name")`."""
        def wrap(value: T) -> T:
            self.add(key, value, aliases)
            return value
        return wrap

    # -- reading ----------------------------------------------------------------------------------
    def canonical(self, key: Hashable) -> Hashable:
        """The canonical key of a key or alias; UsageError with a suggestion when unknown."""
        k = self._normalize(key)
        if k in self._aliases:
            return self._aliases[k]
        shown = [str(a) for a in self._aliases]
        raise UsageError(f"Unknown {self.what} '{key}'.{did_you_mean(str(k), shown)} "
                         f"Known: {', '.join(sorted(shown))}.")

    def get(self, key: Hashable) -> T:
        k = self.canonical(key)
        value = self._entries[k]
        if isinstance(value, str):
            value = self._entries[k] = resolve(value)
        return value

    __getitem__ = get

    def __contains__(self, key: Hashable) -> bool:
        return self._normalize(key) in self._aliases

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[Hashable]:
        return list(self._entries)

    def aliases(self) -> dict[Hashable, Hashable]:
        return dict(self._aliases)

    def items(self) -> list[tuple[Hashable, T]]:
        return [(k, self.get(k)) for k in self._entries]
