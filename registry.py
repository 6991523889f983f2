"""One registry mechanism for every pluggable kind: tasks, policies, robots, teleops, env backends."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from honed.errors import UserError


class UnknownNameError(UserError, ValueError):
    """A name that is not registered; the message lists the valid ones."""


class Registry[T]:
    """Maps names to objects (classes or factories) of one kind.

    An entry may be declared before its module is imported (:meth:`declare`): its name is listed at
    once, and the first :meth:`get` imports the module, which registers it.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._modules: dict[str, str] = {}

    def declare(self, name: str, module: str) -> None:
        """Name an entry that importing ``module`` registers; it is imported when ``name`` is asked for."""
        self._modules[name] = module

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return decorate

    def get(self, name: str) -> T:
        if name not in self._entries and name in self._modules:
            importlib.import_module(self._modules[name])
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid {self.kind} names: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted({*self._entries, *self._modules})

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._modules
