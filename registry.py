"""One registry mechanism for every pluggable kind: tasks, policies, robots, teleops, env backends."""

from __future__ import annotations

from collections.abc import Callable

from honed.errors import UserError


class UnknownNameError(UserError, ValueError):
    """A name that is not registered; the message lists the valid ones."""


class Registry[T]:
    """Maps names to objects (classes or factories) of one kind."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return decorate

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid {self.kind} names: {', '.join(sorted(self._entries))}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
