"""Inverse kinematics on the gripper's ``tcp`` site with MuJoCo's Jacobians (damped least squares).

Used by the scripted experts and by end-effector jogging teleops. Targets are a tcp position and,
optionally, a tool orientation given as a rotation matrix (tool x = the jaws' pointing direction,
tool y = the direction the jaws close along).
"""

from __future__ import annotations

import mujoco
import numpy as np

from honed.arms import SO101


def tilted_rotation(yaw: float, pitch: float) -> np.ndarray:
    """Tool pointing along azimuth ``yaw`` and down by ``pitch`` (pi/2 = straight down), jaws level."""
    x = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), -np.sin(pitch)])
    y = np.array([-np.sin(yaw), np.cos(yaw), 0.0])
    return np.stack([x, y, np.cross(x, y)], axis=1)


class JacobianIK:
    """Damped-least-squares IK over the five arm joints (the gripper joint is left alone)."""

    def __init__(self, model: mujoco.MjModel, site: str = "tcp", damping: float = 1e-3):
        self.model = model
        self.data = mujoco.MjData(model)
        self.site = model.site(site).id
        joints = [model.joint(j) for j in SO101.joints[:5]]
        self.qadr = np.array([j.qposadr[0] for j in joints])
        self.dofs = np.array([j.dofadr[0] for j in joints])
        self.low = np.array([j.range[0] for j in joints])
        self.high = np.array([j.range[1] for j in joints])
        self.damping = damping
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def forward(self, arm_q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """tcp position (3,) and rotation (3, 3) for five arm joint angles."""
        self.data.qpos[self.qadr] = arm_q[:5]
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)
        return self.data.site_xpos[self.site].copy(), self.data.site_xmat[self.site].reshape(3, 3).copy()

    def solve(
        self,
        target_pos: np.ndarray,
        target_rot: np.ndarray | None = None,
        q_init: np.ndarray | None = None,
        iterations: int = 60,
        rot_weight: float = 0.3,
        tol: float = 1e-4,
    ) -> tuple[np.ndarray, float]:
        """Five joint angles reaching the target from ``q_init``; returns (q, position error in m)."""
        q = np.clip(
            np.array(q_init[:5] if q_init is not None else np.zeros(5), dtype=np.float64), self.low, self.high
        )
        err_pos = np.inf
        for _ in range(iterations):
            pos, rot = self.forward(q)
            e_pos = target_pos - pos
            err_pos = float(np.linalg.norm(e_pos))
            errors = [e_pos]
            if target_rot is not None:
                errors.append(rot_weight * rotation_error(rot, target_rot))
            e = np.concatenate(errors)
            if np.linalg.norm(e) < tol:
                break
            mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self.site)
            rows = [self._jacp[:, self.dofs]]
            if target_rot is not None:
                rows.append(rot_weight * self._jacr[:, self.dofs])
            jac = np.concatenate(rows)  # (3 or 6, 5)
            dq = jac.T @ np.linalg.solve(jac @ jac.T + self.damping * np.eye(jac.shape[0]), e)
            q = np.clip(q + np.clip(dq, -0.5, 0.5), self.low, self.high)
        return q, err_pos


def rotation_error(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Axis-angle vector (world frame) rotating ``current`` onto ``target``."""
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, (target @ current.T).ravel())
    err = np.zeros(3)
    mujoco.mju_quat2Vel(err, quat, 1.0)
    return err
