"""Scripted experts for every twin task; importing this package registers them (and the ``expert`` teleop).

``make_expert(task, seed, noise, strategy)`` builds one; ``run_expert`` measures one over seeded resets;
``ExpertTeleop`` drives the recording loop with one.
"""

from honed.sim.experts import peg_insert, pick, place, push_t  # noqa: F401  (registration)
from honed.sim.experts.base import EXPERTS, Expert, make_expert
from honed.sim.experts.run import ExpertReport, run_expert
from honed.sim.experts.teleop import ExpertTeleop

__all__ = ["EXPERTS", "Expert", "ExpertReport", "ExpertTeleop", "make_expert", "run_expert"]
