"""Every program in pyproject's [project.scripts]: each numeric field of each verb declares its range,
every entry point checks them before work starts, and bad names end in one line."""

from __future__ import annotations

import dataclasses
import importlib
import json
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from honed.cli import RANGE, Verb, field_types, is_numeric
from honed.policies import POLICIES

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def program(script: str) -> tuple[Callable[[list[str]], Any], dict[str, Verb]]:
    """The entry point of ``script`` and its verbs."""
    module_name, func = SCRIPTS[script].split(":")
    module = importlib.import_module(module_name)
    if hasattr(module, "_load"):  # honed-bench gathers its verbs on start
        module._load()
    verbs = getattr(module, "VERBS", None) or module.BENCHES
    return getattr(module, func), verbs


def configs(cls: type, seen: set[type] | None = None) -> Iterator[type]:
    """``cls`` and the config classes nested in it (by field default)."""
    seen = set() if seen is None else seen
    if cls in seen:
        return
    seen.add(cls)
    yield cls
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            yield from configs(type(default), seen)


def every_config() -> Iterator[tuple[str, type]]:
    for script in SCRIPTS:
        _, verbs = program(script)
        for verb, spec in verbs.items():
            for preset in [spec.config, *(type(p) for p in spec.presets.values())]:
                for cls in configs(preset):
                    yield f"{script} {verb}", cls
            for preset in spec.presets.values():  # a field typed Any holds a config only in a preset
                for f in dataclasses.fields(preset):
                    value = getattr(preset, f.name)
                    if dataclasses.is_dataclass(value):
                        for cls in configs(type(value)):
                            yield f"{script} {verb} {f.name}", cls
    for name in POLICIES.names():  # honed-train policy=<name>
        yield f"honed-train run policy={name}", POLICIES.get(name).config_class


def test_every_numeric_field_of_every_verb_declares_its_range():
    missing = sorted(
        {
            f"{where}: {cls.__module__}.{cls.__qualname__}.{f.name}"
            for where, cls in every_config()
            for f in dataclasses.fields(cls)
            if is_numeric(field_types(cls).get(f.name)) and RANGE not in f.metadata
        }
    )
    assert not missing, (
        "give these fields a range with honed.cli.bounded(default, ge=..., ...):\n" + "\n".join(missing)
    )


def first_numeric(cls: type) -> tuple[str, Any] | None:
    """A field of ``cls`` and a value outside its range (NaN for a float, far below for an int)."""
    for f in dataclasses.fields(cls):
        hint = field_types(cls).get(f.name)
        if hint is float:
            return f.name, "nan"
        bounds = f.metadata.get(RANGE)
        if hint is int and bounds is not None and bounds.ge is not None:
            return f.name, int(bounds.ge) - 1
    return None


def verb_cases() -> Iterator[Any]:
    for script in SCRIPTS:
        _, verbs = program(script)
        for verb, spec in verbs.items():
            if (bad := first_numeric(spec.config)) is not None:
                yield pytest.param(script, verb, *bad, id=f"{script} {verb}")


@pytest.mark.parametrize(("script", "verb", "name", "value"), list(verb_cases()))
def test_every_entry_point_refuses_a_number_out_of_range_in_one_line(script, verb, name, value, monkeypatch):
    main, verbs = program(script)
    monkeypatch.setattr(verbs[verb], "run", lambda cfg: pytest.fail("the verb ran"))
    with pytest.raises(SystemExit) as refused:
        main([verb, f"{name}={value}"])
    message = str(refused.value.code)
    assert message.startswith(f"{script} {verb}: {name}={value}: must be ") and "\n" not in message


@pytest.mark.parametrize(
    ("script", "args", "message", "leaves"),
    [
        ("honed-eval", ["checkpoint=ckpt", "episode_seconds=nan"], "episode_seconds=nan: must be a finite number >= 0", None),
        ("honed-sim", ["video", "noise=nan", "out_dir={tmp}/sim"], "noise=nan: must be a finite number >= 0", "sim"),
        ("honed-sim", ["video", "episodes=-2", "out_dir={tmp}/sim"], "episodes=-2: must be an integer >= 1", "sim"),
        ("honed-record", ["episodes=-1", "store={tmp}/store"], "episodes=-1: must be an integer >= 1", "store"),
        ("honed-train", ["steps=-5", "output={tmp}/run"], "steps=-5: must be an integer >= 1", "run"),
        ("honed-expert", ["run", "episodes=-3", "out={tmp}/expert"], "episodes=-3: must be an integer >= 1", "expert"),
    ],
)  # fmt: skip
def test_numbers_accepted_silently_before_are_refused_before_work(script, args, message, leaves, tmp_path):
    main, _ = program(script)
    with pytest.raises(SystemExit) as refused:
        main([a.format(tmp=tmp_path) for a in args])
    assert message in str(refused.value.code) and "\n" not in str(refused.value.code)
    assert leaves is None or not (tmp_path / leaves).exists()


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        ("honed-sim", ["video", "task=no_such_task"], "honed-sim video: unknown task 'no_such_task'; valid task names:"),
        ("honed-expert", ["run", "task=no_such_task"], "honed-expert run: unknown task 'no_such_task'; valid task names:"),
        ("honed-record", ["robot=no_such_robot", "store={tmp}/s"], "honed-record run: unknown robot 'no_such_robot'; valid robot names:"),
        ("honed-teleop", ["robot=no_such_robot"], "honed-teleop run: unknown robot 'no_such_robot'; valid robot names:"),
        ("honed-hw", ["emulate", "robot=no_such_arm"], "honed-hw emulate: unknown arm 'no_such_arm' / role 'follower'; arms:"),
        ("honed-train", ["policy=act"], "honed-train run: unknown policy 'act'; policy names: diffusion"),
        ("honed-train", ["--help", "policy=act"], "honed-train run: unknown policy 'act'; valid policy names: diffusion"),
    ],
)  # fmt: skip
def test_unknown_names_end_in_one_line_listing_the_valid_ones(script, args, message, tmp_path):
    main, _ = program(script)
    with pytest.raises(SystemExit) as refused:
        main([a.format(tmp=tmp_path) for a in args])
    assert str(refused.value.code).startswith(message) and "\n" not in str(refused.value.code)
    assert not (tmp_path / "s").exists()


def test_a_verb_without_presets_says_so_and_names_the_verbs_with_one():
    main, _ = program("honed-data")
    with pytest.raises(SystemExit) as refused:
        main(["info", "preset=debug"])
    assert str(refused.value.code) == (
        "honed-data info: this verb has no presets; set its fields as key=value "
        "(`honed-data info --help` lists them); honed-data verbs with preset=debug: verify"
    )


def test_teleop_debug_preset_runs_a_synthetic_arm_without_hardware(tmp_path):
    main, _ = program("honed-teleop")
    main(["preset=debug", "duration_s=0.3", f"output_dir={tmp_path}"])
    summary = json.loads((tmp_path / "teleop.json").read_text())
    assert summary["ticks"] > 0
