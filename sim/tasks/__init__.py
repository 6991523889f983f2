"""Tasks registered by name: importing this package registers all of them."""

from honed.sim.tasks import peg_insert, pick, place, push_t  # noqa: F401  (registration)
from honed.sim.tasks.base import TASKS, BatchView, ResetState, Task

__all__ = ["TASKS", "BatchView", "ResetState", "Task"]
