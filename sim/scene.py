"""Building the twin's MuJoCo model: the SO-101 arm scene plus a task's objects, through MjSpec."""

from __future__ import annotations

import logging
import math
from importlib import resources
from pathlib import Path

import mujoco

from honed.arms import SO101

LOG = logging.getLogger("honed.sim.mujoco")


def log_mujoco_warning(message: str) -> None:
    """MuJoCo's warnings (a world going unstable, say) go to this logger instead of a MUJOCO_LOG.TXT
    written into whatever folder the process runs in; the twin also reads their counts (backends)."""
    LOG.warning("MuJoCo: %s", message)


if mujoco.get_mju_user_warning() is None:  # an application that routed them itself keeps its handler
    mujoco.set_mju_user_warning(log_mujoco_warning)

ARM_XML = "so101.xml"
MAX_PHYSICS_DT = 0.002
"""Largest physics step (s); the control period is split into whole physics steps no larger than this."""


def arm_xml_text() -> str:
    """The default scene's MJCF text (arm + table + cameras)."""
    return resources.files("honed.sim.assets").joinpath(ARM_XML).read_text()


def load_spec(mjcf_override: str | None = None) -> mujoco.MjSpec:
    """Parse the arm scene, or ``mjcf_override`` (a path or an MJCF string) in its place.

    A malformed override raises ValueError carrying MuJoCo's message, before any env is built.
    """
    if not mjcf_override:
        return mujoco.MjSpec.from_string(arm_xml_text())
    text = mjcf_override
    if not mjcf_override.lstrip().startswith("<"):
        path = Path(mjcf_override)
        if not path.is_file():
            raise ValueError(f"mjcf_override: no file {path} (give an MJCF path or an XML string)")
        text = path.read_text()
    try:
        spec = mujoco.MjSpec.from_string(text)
        spec.compile()
    except Exception as e:  # MuJoCo raises ValueError with its parser/compiler message
        raise ValueError(f"mjcf_override is not a valid MJCF scene: {e}") from None
    missing = [j for j in SO101.joints if spec.joint(j) is None]
    if missing:
        raise ValueError(f"mjcf_override lacks the SO-101 joints {missing}; keep the arm's joint names")
    return spec


def load_arm_model(mjcf_override: str | None = None) -> mujoco.MjModel:
    """The arm on its table with no task objects (for drivers' emulators and IK)."""
    return load_spec(mjcf_override).compile()


def physics_substeps(control_hz: float) -> int:
    """Whole physics steps per control step so that each is at most MAX_PHYSICS_DT."""
    if not control_hz > 0:
        raise ValueError(f"control_hz must be positive, got {control_hz}")
    return max(1, math.ceil(1.0 / control_hz / MAX_PHYSICS_DT - 1e-9))


def set_control_rate(model: mujoco.MjModel, control_hz: float) -> int:
    """Set the physics timestep so ``substeps`` of it make one control period; returns substeps."""
    n = physics_substeps(control_hz)
    model.opt.timestep = 1.0 / control_hz / n
    return n
