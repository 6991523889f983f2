"""hardware/bus.py overrides and calls private methods of lerobot's bus classes: their signatures are
pinned here against the installed lerobot, so an upgrade that renames or reshapes one fails by name."""

from __future__ import annotations

import importlib.metadata
import inspect

import pytest
from lerobot.motors.dynamixel import DynamixelMotorsBus
from lerobot.motors.feetech import FeetechMotorsBus

from honed.hardware.bus import DynamixelBus, FeetechBus, HonedBusMixin

# Private methods bus.py replaces: lerobot's public read/write/sync_read/sync_write and connect call
# them, so each must still exist there and take exactly what the override takes.
OVERRIDDEN = ("_connect", "_read", "_write", "_sync_read", "_sync_write")

# Private methods bus.py calls on the lerobot class, with the signature it calls them by.
CALLED = {
    "_serialize_data": "(self, value: 'int', length: 'int') -> 'list[int]'",
    "_decode_sign": "(self, data_name: str, ids_values: dict[int, int]) -> dict[int, int]",
    "_id_to_name": "(self, motor_id: 'int') -> 'str'",
    "_get_motor_id": "(self, motor: 'NameOrID') -> 'int'",
}
FEETECH_CALLED = {
    "_read_model_number": "(self, motor_ids: list[int], raise_on_error: bool = False) -> dict[int, int]"
}

LEROBOT = f"lerobot {importlib.metadata.version('lerobot')}"
PAIRS = [(FeetechBus, FeetechMotorsBus), (DynamixelBus, DynamixelMotorsBus)]


def lerobot_signature(cls: type, name: str) -> str:
    """The signature of ``cls.name`` as lerobot defines it; a missing method fails naming it."""
    method = getattr(cls, name, None)
    assert method is not None, f"{LEROBOT}: {cls.__name__}.{name} is gone; hardware/bus.py relies on it"
    return str(inspect.signature(method))


@pytest.mark.parametrize(("bus", "base"), PAIRS, ids=["feetech", "dynamixel"])
@pytest.mark.parametrize("name", OVERRIDDEN)
def test_overridden_private_methods_match_lerobot(bus: type, base: type, name: str):
    assert getattr(bus, name) is getattr(HonedBusMixin, name), (
        f"{bus.__name__}.{name} is not bus.py's override"
    )
    expected = str(inspect.signature(getattr(HonedBusMixin, name)))
    actual = lerobot_signature(base, name)
    assert actual == expected, (
        f"{LEROBOT}: {base.__name__}.{name}{actual} differs from the override in hardware/bus.py{expected}; "
        "update the override to the new signature"
    )


@pytest.mark.parametrize(
    ("base", "called"),
    [(FeetechMotorsBus, CALLED | FEETECH_CALLED), (DynamixelMotorsBus, CALLED)],
    ids=["feetech", "dynamixel"],
)
def test_called_private_methods_match_lerobot(base: type, called: dict[str, str]):
    for name, expected in called.items():
        actual = lerobot_signature(base, name)
        assert actual == expected, (
            f"{LEROBOT}: {base.__name__}.{name}{actual} is not the {expected} hardware/bus.py calls; "
            "update its calls"
        )
