"""What the emulated servos move: the MuJoCo twin's joints, or a kinematic stand-in for unit tests.

Joints whose servo has torque on track the goal (the twin through its position actuators, so
gravity, contacts and torque limits act); joints with torque off follow the operator's hand when
one holds them and are otherwise limp.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

import mujoco
import numpy as np

from honed.arms import ArmSpec


class JointBackend(ABC):
    """Joint positions (rad), velocities (rad/s) and efforts (fraction of max torque) over time."""

    def __init__(self, arm: ArmSpec):
        self.arm = arm
        n = arm.num_joints
        self.torque_on: np.ndarray = np.zeros(n, dtype=bool)
        self.goal: np.ndarray = np.zeros(n)
        self.torque_scale: np.ndarray = np.ones(n)
        self.sim_time = 0.0
        """Seconds of motion simulated so far; behind the wall clock when the host is too busy to keep up."""

    def drive(self, torque_on: np.ndarray, goal: np.ndarray, torque_scale: np.ndarray) -> None:
        """Set which joints are powered, their goals (rad) and torque limits (fraction)."""
        self.torque_on = np.asarray(torque_on, dtype=bool).copy()
        self.goal = np.clip(np.asarray(goal, dtype=np.float64), self.arm.low, self.arm.high)
        self.torque_scale = np.clip(np.asarray(torque_scale, dtype=np.float64), 0.0, 1.0)

    @abstractmethod
    def advance(self, now: float, hand: np.ndarray | None) -> None:
        """Move time forward to ``now`` (time.monotonic seconds) with the operator's hand pose."""

    @abstractmethod
    def state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(positions, velocities, efforts) of the joints in arm order."""


class KinematicJoints(JointBackend):
    """Each powered joint moves toward its goal at a bounded speed; no dynamics."""

    def __init__(self, arm: ArmSpec, max_speed: float = 6.0, start: float | None = None):
        super().__init__(arm)
        self.max_speed = max_speed
        self.q: np.ndarray = np.zeros(arm.num_joints)
        self.qd: np.ndarray = np.zeros(arm.num_joints)
        self._t = time.monotonic() if start is None else start

    def advance(self, now: float, hand: np.ndarray | None) -> None:
        dt = max(0.0, now - self._t)
        self._t = max(self._t, now)
        if dt == 0.0:
            return
        target = np.where(self.torque_on, self.goal, self.q if hand is None else hand)
        step = np.clip(target - self.q, -self.max_speed * dt, self.max_speed * dt)
        follows_hand = ~self.torque_on & (hand is not None)
        step = np.where(follows_hand, target - self.q, step)
        new_q = np.clip(self.q + step, self.arm.low, self.arm.high)
        self.qd = (new_q - self.q) / dt
        self.q = new_q
        self.sim_time += dt

    def state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        effort = np.where(self.torque_on, np.clip((self.goal - self.q) / 0.5, -1, 1), 0.0)
        return self.q.copy(), self.qd.copy(), effort


class TwinJoints(JointBackend):
    """The arm of the MuJoCo twin, stepped in real time; a host too busy to keep up loses the time beyond
    MAX_CATCH_UP_S per call, so ``sim_time`` then falls behind the wall clock."""

    MAX_CATCH_UP_S = 0.5
    """Longest stretch of simulated time caught up in one call; beyond it the clock is re-anchored."""

    def __init__(self, arm: ArmSpec, model: mujoco.MjModel | None = None, start: float | None = None):
        super().__init__(arm)
        if model is None:
            from honed.sim.scene import load_arm_model

            model = load_arm_model()
        self.model = model
        self.data = mujoco.MjData(model)
        self.qadr = np.array([model.joint(j).qposadr[0] for j in arm.joints])
        self.dadr = np.array([model.joint(j).dofadr[0] for j in arm.joints])
        self.act = np.array([model.actuator(j).id for j in arm.joints])
        self._gain = model.actuator_gainprm[self.act, 0].copy()
        self._bias = model.actuator_biasprm[self.act, :3].copy()
        self._force = model.actuator_forcerange[self.act].copy()
        self._t = time.monotonic() if start is None else start
        mujoco.mj_forward(model, self.data)

    def _apply_drive(self) -> None:
        m, on = self.model, self.torque_on
        m.actuator_gainprm[self.act, 0] = np.where(on, self._gain, 0.0)
        m.actuator_biasprm[self.act, :3] = np.where(on[:, None], self._bias, 0.0)
        m.actuator_forcerange[self.act] = self._force * self.torque_scale[:, None]
        self.data.ctrl[self.act] = self.goal

    def advance(self, now: float, hand: np.ndarray | None) -> None:
        """Held joints move from where they are to where the hand is now in even steps over the elapsed time:
        a late call (a busy host) spreads the hand's motion over the time it took instead of
        teleporting the joint in one physics step, which would blow the simulation up."""
        dt = self.model.opt.timestep
        if now - self._t > self.MAX_CATCH_UP_S:
            self._t = now - self.MAX_CATCH_UP_S
        steps = int((now - self._t) / dt)
        if steps <= 0:
            return
        self._apply_drive()
        held = ~self.torque_on if hand is not None else np.zeros_like(self.torque_on)
        if not held.any():
            for _ in range(steps):
                mujoco.mj_step(self.model, self.data)
        else:
            start = self.data.qpos[self.qadr].copy()
            end = np.asarray(hand, dtype=np.float64)
            speed = (end - start) / (steps * dt)
            for i in range(steps):
                along = start + (end - start) * i / steps
                self.data.qvel[self.dadr] = np.where(held, speed, self.data.qvel[self.dadr])
                self.data.qpos[self.qadr] = np.where(held, along, self.data.qpos[self.qadr])
                mujoco.mj_step(self.model, self.data)
            self.data.qpos[self.qadr] = np.where(held, end, self.data.qpos[self.qadr])
        self._t += steps * dt
        self.sim_time += steps * dt

    def state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q = self.data.qpos[self.qadr].copy()
        qd = self.data.qvel[self.dadr].copy()
        limit = np.maximum(np.abs(self._force[:, 1]), 1e-9)
        effort = self.data.actuator_force[self.act] / limit
        return q, qd, effort
