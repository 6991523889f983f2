"""Physics backends behind one seam; importing this package registers those that import here."""

from honed.sim.backends import mujoco_cpu, warp  # noqa: F401  (registration)
from honed.sim.backends.base import BACKENDS, PhysicsBackend

__all__ = ["BACKENDS", "PhysicsBackend"]
