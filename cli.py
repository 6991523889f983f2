"""Hydra-backed commands: ``honed-<prog> <verb> key=value ...`` over typed dataclass configs.

Each verb registers its config dataclass in Hydra's ConfigStore under ``<prog>/<verb>`` and its
presets (``debug`` where a quick run makes sense) under ``<prog>/<verb>_<preset>`` (chosen with
``preset=debug``). Every numeric field declares its valid range with :func:`bounded`; the composed
config is checked against those ranges before the verb runs (NaN and infinities are refused unless a
field admits them). ``--help`` lists the fields with their type, range, default and one-line
docstring. Errors honed raises on purpose become one line on stderr and a non-zero exit (see
:mod:`honed.errors`).
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import difflib
import inspect
import math
import sys
import textwrap
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from honed.errors import ConfigError, one_line_errors
from honed.log import setup as setup_log

RANGE = "honed.range"
"""Metadata key of a dataclass field's :class:`Range`."""


@dataclass(frozen=True)
class Range:
    """Valid values of a numeric config field (of each number, for a list field)."""

    ge: float | None = None
    """Smallest valid value (inclusive)."""
    gt: float | None = None
    """Values must be above this."""
    le: float | None = None
    """Largest valid value (inclusive)."""
    lt: float | None = None
    """Values must be below this."""
    finite: bool = True
    """Refuse NaN and infinities (False: admit them, subject to the bounds)."""

    def admits(self, value: float) -> bool:
        if math.isnan(value):
            return not self.finite
        if math.isinf(value) and self.finite:
            return False
        return (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )

    def __str__(self) -> str:
        low = (
            f"[{_num(self.ge)}" if self.ge is not None else f"({_num(self.gt)}" if self.gt is not None else ""
        )
        high = (
            f"{_num(self.le)}]" if self.le is not None else f"{_num(self.lt)})" if self.lt is not None else ""
        )
        if low and high:
            text = f"in {low}, {high}"
        elif low:
            text = (">= " if low[0] == "[" else "> ") + low[1:]
        elif high:
            text = ("<= " if high[-1] == "]" else "< ") + high[:-1]
        else:
            text = "any"
        return text if self.finite else f"{text}, nan/inf allowed"


def _num(x: float | None) -> str:
    return str(int(x)) if x is not None and float(x).is_integer() else f"{x:g}"


UNBOUNDED = Range()
"""What a numeric field without a declared range gets: any finite value."""


def bounded[T](
    default: T,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    finite: bool = True,
) -> T:
    """A dataclass field with default ``default`` whose number (or each number of a list) must lie in
    the range, checked before a command runs: ``episodes: int = bounded(200, ge=1)``."""
    metadata = {RANGE: Range(ge=ge, gt=gt, le=le, lt=lt, finite=finite)}
    if isinstance(default, list | dict | set):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class Verb:
    """One subcommand: its config class, the function it runs, and named presets."""

    config: type
    run: Callable[[Any], Any]
    help: str
    presets: dict[str, Any] = field(default_factory=dict)


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (the string literal under each field) of a dataclass and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, nxt in zip(body, body[1:]):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[stmt.target.id] = nxt.value.value.strip().splitlines()[0]
    return docs


@cache
def field_types(cls: type) -> dict[str, Any]:
    """The resolved annotations of a dataclass's fields (empty when they cannot be resolved)."""
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):
        return {}


def type_name(hint: Any) -> str:
    """``int``, ``float``, ``list[int]``, ``str | None``, ... for --help."""
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "")


def is_numeric(hint: Any) -> bool:
    """Whether a field's annotation holds numbers: int, float, optional or lists of them (not bool)."""
    if hint in (int, float):
        return True
    return any(is_numeric(arg) for arg in typing.get_args(hint) if arg is not type(None))


def numbers(value: Any) -> Iterator[float]:
    """The ints and floats in a field's value (in lists, tuples and dict values too, such as a
    robot's options; bools are not numbers)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield value
    elif isinstance(value, list | tuple | dict):
        for item in value.values() if isinstance(value, dict) else value:
            yield from numbers(item)


def field_range(f: dataclasses.Field) -> Range:
    return f.metadata.get(RANGE, UNBOUNDED)


def check_numbers(config: Any, prefix: str = "") -> None:
    """Raise :class:`ConfigError` naming the first number of ``config`` (nested configs too) outside
    its field's range; every float field refuses NaN and infinities unless its range admits them."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        name = prefix + f.name
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_numbers(value, name + ".")
            continue
        valid = field_range(f)
        for number in numbers(value):
            if not valid.admits(number):
                what = (
                    "an integer"
                    if isinstance(number, int)
                    else "a finite number"
                    if valid.finite
                    else "a number"
                )
                each = "each item must be" if isinstance(value, list | tuple | dict) else "must be"
                shown = str(value).replace(" ", "")
                limits = "" if valid == UNBOUNDED else f" {valid}"
                raise ConfigError(f"{name}={shown}: {each} {what}{limits}")


def kind(cls: type, f: dataclasses.Field) -> str:
    """A field's type, with its range for numeric fields: ``int >= 1``, ``float in [0, 1]``."""
    hint = field_types(cls).get(f.name, Any)
    name = type_name(hint)
    each = ", each" if typing.get_origin(hint) in (list, tuple) else ""
    return f"{name}{each} {field_range(f)}" if is_numeric(hint) else name


def leaf_fields(cls: type, prefix: str = "") -> Iterator[tuple[type, dataclasses.Field, str, Any]]:
    """(class, field, dotted name, default) of every settable field; nested dataclasses flattened."""
    defaults = cls()
    for f in dataclasses.fields(cls):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            yield from leaf_fields(type(value), prefix + f.name + ".")
        else:
            yield cls, f, prefix + f.name, value


def describe(cls: type, prefix: str = "") -> list[str]:
    """One line per field (nested dataclasses flattened with dots): name, default, type and range,
    docstring."""
    return [
        f"  {name:<28} = {value!r:<18} ({kind(owner, f)}) {field_docs(owner).get(f.name, '')}"
        for owner, f, name, value in leaf_fields(cls, prefix)
    ]


def _store(prog: str, verbs: dict[str, Verb]) -> None:
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    for name, verb in verbs.items():
        cs.store(name=f"{prog}_{name}", node=verb.config)
        for preset, node in verb.presets.items():
            cs.store(name=f"{prog}_{name}_{preset}", node=node)


def _bad_argument(err: Exception, spec: Verb, command: str) -> str:
    """One line for an override Hydra or OmegaConf refused."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import ConfigAttributeError, OmegaConfBaseException

    cause = err.__cause__ if isinstance(err.__cause__, OmegaConfBaseException) else err
    if isinstance(err, MissingConfigException) and err.missing_cfg_file and err.options is not None:
        group, _, name = err.missing_cfg_file.rpartition("/")
        return f"unknown {group} {name!r}; {group} names: {', '.join(err.options)}"
    hint = f"`{command} --help` lists the fields"
    if isinstance(cause, ConfigAttributeError) and cause.full_key:
        key = str(cause.full_key)
        close = difflib.get_close_matches(key, [name for *_, name, _ in leaf_fields(spec.config)], n=1)
        return f"bad argument: no field {key!r}{f'; did you mean {close[0]}?' if close else ''} ({hint})"
    lines = str(err).splitlines()[:1]
    if cause is not err:
        lines += str(cause).splitlines()[:1]
    return f"bad argument ({': '.join(lines)}; {hint})"


def with_presets(verbs: dict[str, Verb], preset: str) -> str:
    """The verbs that have ``preset``, for messages."""
    return ", ".join(name for name, verb in verbs.items() if preset in verb.presets) or "none"


def load_config(prog: str, verbs: dict[str, Verb], verb: str, overrides: Sequence[str]) -> Any:
    """Compose the typed config of ``verb`` from its preset and ``key=value`` overrides, and check
    every number against its field's range (ConfigError names the field, the value and the range)."""
    from hydra import compose, initialize
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    _store(prog, verbs)
    spec = verbs[verb]
    command = f"honed-{prog} {verb}"
    preset = None
    rest = []
    for arg in overrides:
        if arg.startswith("preset="):
            preset = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    name = f"{prog}_{verb}"
    if preset is not None:
        if not spec.presets:
            raise ConfigError(
                f"this verb has no presets; set its fields as key=value (`{command} --help` lists them); "
                f"honed-{prog} verbs with preset={preset}: {with_presets(verbs, preset)}"
            )
        if preset not in spec.presets:
            raise ConfigError(f"unknown preset {preset!r}; presets: {', '.join(spec.presets)}")
        name = f"{name}_{preset}"
    try:
        with initialize(version_base=None, config_path=None):
            cfg = compose(config_name=name, overrides=rest)
        config = OmegaConf.to_object(cfg)
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(_bad_argument(e, spec, command)) from None
    check_numbers(config)
    return config


def usage(prog: str, verbs: dict[str, Verb]) -> str:
    lines = [f"usage: honed-{prog} <verb> [key=value ...] [preset=NAME] [--help]", "", "verbs:"]
    lines += [
        f"  {name:<10} {verb.help}{' (presets: ' + ', '.join(verb.presets) + ')' if verb.presets else ''}"
        for name, verb in verbs.items()
    ]
    return "\n".join(lines)


def run(prog: str, verbs: dict[str, Verb], argv: Sequence[str] | None = None) -> Any:
    """Dispatch ``argv`` (default: sys.argv[1:]) to a verb; returns what the verb returns.

    The config is composed and checked before the verb runs; an error raised on purpose (see
    :mod:`honed.errors`) ends the command with one line ``honed-<prog> <verb>: <message>``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage(prog, verbs))
        return None
    verb, rest = args[0], args[1:]
    if verb not in verbs:
        raise SystemExit(f"honed-{prog}: unknown verb {verb!r}; verbs: {', '.join(verbs)}")
    spec = verbs[verb]
    with one_line_errors(f"honed-{prog} {verb}"):
        if "--help" in rest or "-h" in rest:
            presets = f" presets: {', '.join(spec.presets)}" if spec.presets else " (no presets)"
            print(f"honed-{prog} {verb}: {spec.help}\n\nfields (key=value):{presets}")
            print("\n".join(describe(spec.config)))
            return None
        cfg = load_config(prog, verbs, verb, rest)
        setup_log()  # honed's log file, and third-party noise into it (honed.log)
        return spec.run(cfg)
