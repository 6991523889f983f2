"""Hydra-backed commands: ``honed-<prog> <verb> key=value ...`` over typed dataclass configs.

Each verb registers its config dataclass in Hydra's ConfigStore under ``<prog>/<verb>`` and a
``debug`` preset under ``<prog>/<verb>_debug`` (chosen with ``preset=debug``). ``--help`` lists the
fields with their one-line docstrings and defaults.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from hydra import compose, initialize
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from honed.log import setup as setup_log


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


def describe(cls: type, prefix: str = "") -> list[str]:
    """One line per field (nested dataclasses flattened with dots): name, default, docstring."""
    lines = []
    docs = field_docs(cls)
    defaults = cls()
    for f in dataclasses.fields(cls):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            lines += describe(type(value), prefix + f.name + ".")
        else:
            lines.append(f"  {prefix + f.name:<28} = {value!r:<18} {docs.get(f.name, '')}")
    return lines


def _store(prog: str, verbs: dict[str, Verb]) -> None:
    cs = ConfigStore.instance()
    for name, verb in verbs.items():
        cs.store(name=f"{prog}_{name}", node=verb.config)
        for preset, node in verb.presets.items():
            cs.store(name=f"{prog}_{name}_{preset}", node=node)


def load_config(prog: str, verbs: dict[str, Verb], verb: str, overrides: Sequence[str]) -> Any:
    """Compose the typed config of ``verb`` from its preset and ``key=value`` overrides."""
    _store(prog, verbs)
    spec = verbs[verb]
    preset = None
    rest = []
    for arg in overrides:
        if arg.startswith("preset="):
            preset = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    name = f"{prog}_{verb}"
    if preset is not None:
        if preset not in spec.presets:
            raise SystemExit(
                f"honed-{prog} {verb}: unknown preset {preset!r}; presets: {', '.join(spec.presets)}"
            )
        name = f"{name}_{preset}"
    try:
        with initialize(version_base=None, config_path=None):
            cfg = compose(config_name=name, overrides=rest)
        return OmegaConf.to_object(cfg)
    except (HydraException, OmegaConfBaseException) as e:
        msg = str(e).splitlines()[0]
        raise SystemExit(
            f"honed-{prog} {verb}: bad argument ({msg}).\nValid fields:\n" + "\n".join(describe(spec.config))
        ) from None


def usage(prog: str, verbs: dict[str, Verb]) -> str:
    lines = [f"usage: honed-{prog} <verb> [key=value ...] [preset=NAME] [--help]", "", "verbs:"]
    lines += [f"  {name:<10} {verb.help}" for name, verb in verbs.items()]
    return "\n".join(lines)


def run(prog: str, verbs: dict[str, Verb], argv: Sequence[str] | None = None) -> Any:
    """Dispatch ``argv`` (default: sys.argv[1:]) to a verb; returns what the verb returns."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage(prog, verbs))
        return None
    verb, rest = args[0], args[1:]
    if verb not in verbs:
        raise SystemExit(f"honed-{prog}: unknown verb {verb!r}; verbs: {', '.join(verbs)}")
    spec = verbs[verb]
    if "--help" in rest or "-h" in rest:
        presets = f" presets: {', '.join(spec.presets)}" if spec.presets else ""
        print(f"honed-{prog} {verb}: {spec.help}\n\nfields (key=value):{presets}")
        print("\n".join(describe(spec.config)))
        return None
    cfg = load_config(prog, verbs, verb, rest)
    setup_log()  # honed's log file, and third-party noise into it (honed.log)
    return spec.run(cfg)
