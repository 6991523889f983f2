"""The command frame: declared ranges checked before a verb runs, and errors raised on purpose ending
a command with one line (the traceback behind HONED_TRACEBACK=1), while bugs keep their traceback."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honed.cli import Range, Verb, bounded, check_numbers, describe, run
from honed.errors import ConfigError, UserError, user_message

BIN = Path(sys.executable).parent


@dataclass
class Inner:
    """A nested config."""

    rate: float = bounded(0.5, ge=0, le=1)
    """A probability."""


@dataclass
class Toy:
    """A config with one field of each kind."""

    count: int = bounded(3, ge=1)
    """How many."""
    scale: float = bounded(1.0, gt=0)
    """A positive factor."""
    anything: float = bounded(0.0, finite=False)
    """Any float, NaN included."""
    sizes: list[int] = bounded([1, 2], ge=1, le=8)
    """Sizes, each in 1..8."""
    inner: Inner = field(default_factory=Inner)
    """Nested settings."""
    name: str = "toy"
    """Not a number."""


def _raise(exc: BaseException):  # type: ignore[no-untyped-def]
    def verb(cfg: Toy) -> None:
        raise exc

    return verb


def toy(*args: str, action=lambda cfg: cfg):  # type: ignore[no-untyped-def]
    return run("toy", {"go": Verb(Toy, action, "a toy verb")}, ["go", *args])


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)


@given(
    value=st.one_of(st.floats(), st.integers(-(10**6), 10**6)),
    low=st.one_of(st.none(), finite),
    high=st.one_of(st.none(), finite),
    strict=st.booleans(),
    allow=st.booleans(),
)
def test_a_range_admits_exactly_the_values_between_its_bounds(value, low, high, strict, allow):
    bounds = Range(gt=low, lt=high, finite=not allow) if strict else Range(ge=low, le=high, finite=not allow)
    inside = (
        (low is None or (value > low if strict else value >= low))
        and (high is None or (value < high if strict else value <= high))
    )  # fmt: skip
    if math.isnan(value):
        expected = allow
    elif math.isinf(value):
        expected = allow and inside
    else:
        expected = inside
    assert bounds.admits(value) == expected
    text = str(bounds)
    for bound in (low, high):
        if bound is not None:
            assert (str(int(bound)) if float(bound).is_integer() else f"{bound:g}") in text
    assert ("nan/inf allowed" in text) == allow


@settings(max_examples=40)  # each example composes a config with Hydra
@given(count=st.integers(-(10**9), 10**9), rate=st.floats(), size=st.integers(-100, 100))
def test_composed_configs_are_checked_before_the_verb_runs(count, rate, size):
    ran = []
    args = [f"count={count}", f"inner.rate={rate}", f"sizes=[1,{size}]"]
    valid = count >= 1 and 0 <= rate <= 1 and 1 <= size <= 8
    if valid:
        cfg = toy(*args, action=lambda cfg: ran.append(cfg) or cfg)
        assert ran == [cfg] and cfg.count == count and cfg.sizes == [1, size]
        return
    with pytest.raises(SystemExit) as refused:
        toy(*args, action=lambda cfg: ran.append(cfg))
    message = str(refused.value.code)
    assert not ran and message.startswith("honed-toy go: ") and "\n" not in message
    if count < 1:  # fields are checked in order, nested configs where they stand
        assert f"count={count}: must be an integer >= 1" in message
    elif not 1 <= size <= 8:
        assert f"sizes=[1,{size}]: each item must be an integer in [1, 8]" in message
    else:
        assert f"inner.rate={rate}: must be a finite number in [0, 1]" in message


def test_every_float_refuses_nan_and_infinities_unless_its_range_admits_them():
    assert toy("anything=nan").anything != toy("anything=nan").anything  # NaN: admitted on purpose
    with pytest.raises(SystemExit, match=r"^honed-toy go: scale=nan: must be a finite number > 0$"):
        toy("scale=nan")
    with pytest.raises(SystemExit, match=r"^honed-toy go: scale=inf: must be a finite number > 0$"):
        toy("scale=inf")

    @dataclass
    class Undeclared:
        x: float = 0.0

    with pytest.raises(ConfigError, match="^x=nan: must be a finite number$"):
        check_numbers(Undeclared(x=float("nan")))

    @dataclass
    class Options:
        options: dict[str, Any] = field(default_factory=dict)

    with pytest.raises(
        ConfigError, match=r"^options=\{'max_step_rad':inf\}: each item must be a finite number$"
    ):
        check_numbers(Options({"max_step_rad": float("inf")}))
    check_numbers(Options({"max_step_rad": 0.2, "name": "arm", "flag": True}))


def test_help_shows_each_fields_type_and_range(capsys):
    toy("--help")
    out = capsys.readouterr().out
    assert "(int >= 1) How many." in out
    assert "(float > 0) A positive factor." in out
    assert "(float any, nan/inf allowed)" in out
    assert "(list[int], each in [1, 8]) Sizes, each in 1..8." in out
    assert "inner.rate" in out and "(float in [0, 1]) A probability." in out
    assert "(str) Not a number." in out
    assert describe(Toy)[0].split()[0] == "count"


def test_unknown_fields_and_presets_get_one_line_naming_the_fix():
    with pytest.raises(SystemExit, match=r"no field 'cuont'; did you mean count\? \(`honed-toy go --help`"):
        toy("cuont=3")
    with pytest.raises(SystemExit, match=r"^honed-toy go: this verb has no presets; .*preset=debug: none$"):
        toy("preset=debug")


def test_errors_raised_on_purpose_become_one_line_and_bugs_keep_their_traceback():
    class StoreBroken(UserError):
        pass

    with pytest.raises(SystemExit) as ended:
        toy(action=_raise(StoreBroken("store x: index.json\n is unreadable; run honed-data repair")))
    assert ended.value.code == "honed-toy go: store x: index.json is unreadable; run honed-data repair"
    with pytest.raises(KeyError):
        toy(action=_raise(KeyError("a bug")))


def test_well_known_third_party_errors_are_translated():
    import serial
    from huggingface_hub.errors import LocalEntryNotFoundError
    from safetensors import SafetensorError

    port = serial.SerialException("could not open port /dev/ttyUSB9: [Errno 2] No such file")
    assert "honed-hw ports find=true" in (user_message(port) or "")
    header = SafetensorError("Error while deserializing header: HeaderTooLarge")
    assert "not a safetensors file" in (user_message(header) or "")
    assert "never loads pickles" in (user_message(header) or "")
    try:  # as transformers raises it: an OSError caused by the hub error
        try:
            raise LocalEntryNotFoundError("Cannot find the requested files in the disk cache")
        except LocalEntryNotFoundError as hub:
            raise OSError("We couldn't connect to 'https://huggingface.co'") from hub
    except OSError as wrapped:
        assert "the Hugging Face hub cannot be reached" in (user_message(wrapped) or "")
    assert user_message(OSError("disk on fire")) is None  # not from a known library: a bug's traceback


def _command(*args: str, traceback: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HONED_TRACEBACK": "1" if traceback else "0"}
    return subprocess.run(
        [str(BIN / "honed-sim"), *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_a_real_command_prints_one_line_and_the_traceback_only_when_asked():
    plain = _command("video", "task=no_such_task", traceback=False)
    assert plain.returncode != 0
    (line,) = plain.stderr.strip().splitlines()
    assert line.startswith("honed-sim video: unknown task 'no_such_task'; valid task names: ")
    assert "pick_cube" in line
    verbose = _command("video", "task=no_such_task", traceback=True)
    assert verbose.returncode != 0
    assert "Traceback (most recent call last)" in verbose.stderr and "UnknownNameError" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1] == plain.stderr.strip()
