"""Expert for ``push_t``: closed-loop pushing strokes chosen with a quasi-static pushing model.

Every stroke starts from the T's measured pose. A planner tries pushes at points along the T's
outline, each along the edge's inward normal for several distances, predicts where each would leave
the T with the ellipsoidal limit-surface model of quasi-static pushing (sticking point contact; Lynch,
Maekawa and Tanie 1992), and takes the one that brings the T closest to its goal for the stroke's time.
The closed jaws are the pusher: the tool points down (tilting outward only where the arm cannot reach
straight down), travels low beside the T when the way is clear and over it otherwise.

Strategies (the demos' modes): ``rotate_first`` turns the T to the goal's yaw before it moves it,
``translate_first`` brings it over the goal first and turns it there; both finish with the same
balanced error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from honed.features import PRIVILEGED, STATE
from honed.sim.experts.base import EXPERTS, SETTLE_SECONDS, Expert
from honed.sim.experts.cartesian import DOWN, IKTracker, Phase, PhaseRunner, ToolPose
from honed.sim.tasks.push_t import (
    BAR_CENTER,
    BAR_HALF,
    STEM_CENTER,
    STEM_HALF,
    SUCCESS_OVERLAP,
    T_HALF_HEIGHT,
    overlap,
    rotation,
)

GRIPPER_CLOSED = -0.05
"""Jaw target (rad): just past closed, so the two jaws push as one block."""
PUSHER_OFFSET = np.array([0.012, -0.015, 0.0])
"""Pushing point in the tool frame relative to the tcp: the closed jaws' centre, 6 mm above their tips."""
PUSHER_HALF = (0.008, 0.012)
"""Half extents (m) of the closed jaws' footprint across (tangential) and along the reach (radial)."""
PUSH_HEIGHT = 0.013
"""Height (m) of the pushing point while pushing: the middle of the 25 mm tall T."""
JAW_TIP_HEIGHT = 0.008
"""Height (m) of the jaws' tips while pushing."""
HOVER_HEIGHT = 0.042
"""Height (m) of the pushing point when passing over the T."""
STANDOFF = 0.008
"""Gap (m) between the jaws and the T before a push starts."""
RETREAT = 0.01
"""Back-off (m) along the push after each stroke."""
CLEARANCE = 0.016
"""Least distance (m) from the pushing point to the T for a low path beside it."""
YAW_SCALE = 0.05
"""Metres of position error one radian of yaw error counts as (both cost about equal overlap)."""
PUSH_DISTANCES = np.array([0.003, 0.006, 0.01, 0.016, 0.025, 0.04, 0.06, 0.08])
"""Push lengths (m) the planner chooses among."""
REACH = (0.11, 0.35)
"""Radial band (m) of pushing points the arm reaches at pushing height."""
T_RADIUS = (0.15, 0.28)
"""Radial band (m) of T positions from which every side of the T stays within reach; pushes avoid leaving it."""
TOP_DOWN_REACH, LOWEST_PITCH = 0.25, np.radians(50)
"""Beyond this tcp radius (m) the tool tilts outward, linearly down to LOWEST_PITCH at REACH's end."""
DEPTH_STEP, MAX_EXTRA_DEPTH = 0.0015, 0.008
"""Extra push depth (m) added after a stroke falls short, and its cap."""
TRAVEL_SPEED, PUSH_SPEED = 0.3, 0.1
"""Mean speeds (m/s) of moves between pushes and of pushes."""


def t_outline() -> np.ndarray:
    """Corners of the T in its frame, counter-clockwise, shape (8, 2)."""
    (bx, by), (bhx, bhy) = BAR_CENTER, BAR_HALF
    (sx, sy), (shx, shy) = STEM_CENTER, STEM_HALF
    top, joint, bottom = by + bhy, by - bhy, sy - shy
    xs = [bx - bhx, bx - bhx, sx - shx, sx - shx, sx + shx, sx + shx, bx + bhx, bx + bhx]
    ys = [top, joint, joint, bottom, bottom, joint, joint, top]
    return np.stack([xs, ys], axis=-1)


def contact_candidates(spacing: float = 0.0085, margin: float = 0.006) -> tuple[np.ndarray, np.ndarray]:
    """Points along the T's outline (K, 2) and the inward normals there (K, 2), in the T frame."""
    corners = t_outline()
    points, normals = [], []
    for a, b in zip(corners, np.roll(corners, -1, axis=0)):
        edge = b - a
        length = float(np.linalg.norm(edge))
        count = max(1, int((length - 2 * margin) // spacing) + 1)
        offsets = np.linspace(margin, length - margin, count) if count > 1 else np.array([length / 2])
        points.append(a + offsets[:, None] * edge / length)
        inward = np.array([-edge[1], edge[0]]) / length
        normals.append(np.repeat(inward[None], count, axis=0))
    return np.concatenate(points), np.concatenate(normals)


def distance_to_t(points: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Distance (m) from world points (..., 2) to the T at ``pose`` (3,): 0 inside."""
    local = (points - pose[:2]) @ rotation(pose[2])  # (..., 2) in the T frame
    dists = []
    for center, half in ((BAR_CENTER, BAR_HALF), (STEM_CENTER, STEM_HALF)):
        outside = np.maximum(np.abs(local - np.asarray(center)) - np.asarray(half), 0.0)
        dists.append(np.linalg.norm(outside, axis=-1))
    return np.minimum(*dists)


def limit_surface_length(com: np.ndarray) -> float:
    """Ratio of the T's largest friction torque to its largest friction force about ``com`` (m).

    The two parts weigh the same, so each presses on the table evenly over its own area.
    """
    grid = 0.002
    parts = []
    for (cx, cy), (hx, hy) in ((BAR_CENTER, BAR_HALF), (STEM_CENTER, STEM_HALF)):
        xs, ys = np.arange(cx - hx + grid / 2, cx + hx, grid), np.arange(cy - hy + grid / 2, cy + hy, grid)
        pts = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
        parts.append(np.linalg.norm(pts - com, axis=-1).mean())
    return float(np.mean(parts))


def wrap(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped into [-pi, pi), elementwise."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


@dataclass(frozen=True)
class Push:
    """One planned stroke: where the pushing point starts and ends, in the world."""

    start: np.ndarray
    """Pushing point (2,) just short of the T, before the push."""
    end: np.ndarray
    """Pushing point (2,) at the end of the push."""
    direction: np.ndarray
    """Unit push direction (2,)."""
    predicted: np.ndarray
    """The T's pose (3,) the planner expects after the stroke."""


class PushPlanner:
    """Chooses pushes on the T by predicting each candidate's outcome with a limit-surface model."""

    def __init__(self, com: np.ndarray, mu: float, substeps: int = 12):
        self.com = np.asarray(com, dtype=np.float64)
        self.mu = mu
        self.contacts, self.normals = contact_candidates()
        self.c2 = limit_surface_length(self.com) ** 2
        self.substeps = substeps

    def cost(self, poses: np.ndarray, goal: np.ndarray, yaw_weight: float, pos_weight: float) -> np.ndarray:
        """Weighted squared error of poses (..., 3) from the goal (3,)."""
        pos = np.sum((poses[..., :2] - goal[:2]) ** 2, axis=-1)
        yaw = (YAW_SCALE * wrap(poses[..., 2] - goal[2])) ** 2
        radius = np.linalg.norm(poses[..., :2], axis=-1)
        astray = np.maximum(radius - T_RADIUS[1], 0.0) + np.maximum(T_RADIUS[0] - radius, 0.0)
        return pos_weight * pos + yaw_weight * yaw + 10.0 * astray**2

    def predict(self, pose: np.ndarray, distances: np.ndarray) -> np.ndarray:
        """T poses (K, D, 3) after pushing each contact candidate along its normal by each distance."""
        k, d = len(self.contacts), len(distances)
        rot0 = rotation(np.array(pose[2]))
        push_dir = self.normals @ rot0.T  # (K, 2) world push directions, fixed during the stroke
        r = np.repeat((self.contacts - self.com)[:, None], d, axis=1)  # (K, D, 2) contact from com, T frame
        normal = np.repeat(self.normals[:, None], d, axis=1)  # (K, D, 2)
        com = pose[:2] + rot0 @ self.com
        state = np.tile(np.array([com[0], com[1], pose[2]]), (k, d, 1))  # (K, D, 3): com xy, yaw
        step = (distances / self.substeps)[None, :, None]  # (1, D, 1)
        for _ in range(self.substeps):
            rot = rotation(state[..., 2])  # (K, D, 2, 2)
            vp = np.einsum("kdji,kj->kdi", rot, push_dir)  # (K, D, 2) push velocity in the T frame
            twist, slip = self.twist(r, vp, normal)  # (K, D, 3), (K, D, 2)
            state[..., :2] += np.einsum("kdij,kdj->kdi", rot, twist[..., :2]) * step
            state[..., 2] += twist[..., 2] * step[..., 0]
            r = r + slip * step
        origin = state[..., :2] - np.einsum("kdij,j->kdi", rotation(state[..., 2]), self.com)
        return np.concatenate([origin, state[..., 2:]], axis=-1)

    def force_twist(self, r: np.ndarray, force: np.ndarray) -> np.ndarray:
        """Body twist (vx, vy, w) of the T under ``force`` at ``r``, up to scale (ellipsoidal limit surface)."""
        moment = r[..., 0] * force[..., 1] - r[..., 1] * force[..., 0]
        return np.concatenate([force, (moment / self.c2)[..., None]], axis=-1)

    def twist(self, r: np.ndarray, vp: np.ndarray, normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """T twist (..., 3) for pusher velocity ``vp`` at contact ``r`` with inward ``normal`` (T frame).

        Inside the motion cone the contact sticks; outside it, the force lies on the friction cone's
        edge and the pusher slides along the edge. Also returns the contact point's slip velocity.
        """
        tangent = np.stack([-normal[..., 1], normal[..., 0]], axis=-1)
        pushing = np.maximum(np.sum(vp * normal, axis=-1), 0.0)  # (...) normal speed, 0 = contact lost
        ratio = np.sum(vp * tangent, axis=-1) / np.maximum(pushing, 1e-9)  # tangential / normal speed
        edges = [self.force_twist(r, normal + side * self.mu * tangent) for side in (1.0, -1.0)]
        speeds = [contact_velocity(r, edge) for edge in edges]
        ratios = [np.sum(v * tangent, -1) / np.sum(v * normal, -1) for v in speeds]
        above = ratio > np.maximum(*ratios)
        below = ratio < np.minimum(*ratios)
        upper = np.where((ratios[0] >= ratios[1])[..., None], edges[0], edges[1])
        lower = np.where((ratios[0] >= ratios[1])[..., None], edges[1], edges[0])
        edge = np.where(above[..., None], upper, lower)
        edge = edge * (pushing / np.sum(contact_velocity(r, edge) * normal, -1))[..., None]
        sticking = self.sticking_twist(r, vp) * (pushing > 0)[..., None]
        twist = np.where((above | below)[..., None], edge, sticking)
        slip = np.sum((vp - contact_velocity(r, twist)) * tangent, -1)[..., None] * tangent
        return twist, slip * (pushing > 0)[..., None]

    def sticking_twist(self, r: np.ndarray, vp: np.ndarray) -> np.ndarray:
        """Body twist (vx, vy, w) of the T's centre of mass for a sticking push ``vp`` at ``r`` (T frame)."""
        rx, ry, px, py = r[..., 0], r[..., 1], vp[..., 0], vp[..., 1]
        denom = self.c2 + rx**2 + ry**2
        vx = ((self.c2 + rx**2) * px + rx * ry * py) / denom
        vy = (rx * ry * px + (self.c2 + ry**2) * py) / denom
        return np.stack([vx, vy, (rx * vy - ry * vx) / self.c2], axis=-1)

    def choose(
        self, pose: np.ndarray, goal: np.ndarray, pusher: np.ndarray, weights: tuple[float, float]
    ) -> Push | None:
        """The best reachable push for the T at ``pose`` (3,), or None when none is reachable."""
        predicted = self.predict(pose, PUSH_DISTANCES)  # (K, D, 3)
        cost = self.cost(predicted, goal, *weights)
        rot = rotation(np.array(pose[2]))
        contact = pose[:2] + self.contacts @ rot.T  # (K, 2) world
        direction = self.normals @ rot.T  # (K, 2)
        reach = np.array([footprint_reach(p, dirn) for p, dirn in zip(contact, direction)])  # (K,)
        start = contact - direction * (reach + STANDOFF)[:, None]
        end = contact[:, None] + direction[:, None] * (PUSH_DISTANCES[None, :, None] - reach[:, None, None])
        ok = self.feasible(start, end, pose)  # (K, D)
        if not ok.any():
            return None
        seconds = (np.linalg.norm(start - pusher, axis=-1) / TRAVEL_SPEED)[:, None] + (
            PUSH_DISTANCES / PUSH_SPEED
        )[None]
        score = np.where(ok, cost + 2e-6 * seconds, np.inf)
        k, d = np.unravel_index(int(np.argmin(score)), score.shape)
        return Push(start[k], end[k, d], direction[k], predicted[k, d])

    def feasible(self, start: np.ndarray, end: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """(K, D) pushes whose start clears the T and whose whole path lies in the arm's reach."""
        clear = distance_to_t(start, pose) >= PUSHER_HALF[1] - 0.002  # (K,)
        radius_start, radius_end = np.linalg.norm(start, axis=-1), np.linalg.norm(end, axis=-1)
        in_reach = (radius_start >= REACH[0]) & (radius_start <= REACH[1])
        return (clear & in_reach)[:, None] & (radius_end >= REACH[0]) & (radius_end <= REACH[1])


def contact_velocity(r: np.ndarray, twist: np.ndarray) -> np.ndarray:
    """Velocity (..., 2) of the T's material point at ``r`` for a body twist (..., 3)."""
    w = twist[..., 2]
    return np.stack([twist[..., 0] - w * r[..., 1], twist[..., 1] + w * r[..., 0]], axis=-1)


def footprint_reach(point: np.ndarray, direction: np.ndarray) -> float:
    """How far (m) the jaws reach from the pushing point ``point`` (2,) along ``direction``, at any T height.

    A tilted tool leans outward as it goes down, so it meets the T's top edge early when pushing
    toward the arm and with its tips when pushing away.
    """
    radius = max(float(np.linalg.norm(point)), 1e-6)
    radial = point / radius
    along, across = float(direction @ radial), float(direction @ np.array([-radial[1], radial[0]]))
    pitch = pitch_at(radius)
    half = PUSHER_HALF[0] * abs(across) + PUSHER_HALF[1] / np.sin(pitch) * abs(along)
    lean_span = 2 * T_HALF_HEIGHT - PUSH_HEIGHT if along < 0 else PUSH_HEIGHT - JAW_TIP_HEIGHT
    return half + lean_span * abs(along) / np.tan(pitch)


def pitch_at(radius: float) -> float:
    """Tool pitch for a tcp at ``radius`` (m): straight down near the arm, tilted outward far away."""
    s = np.clip((radius - TOP_DOWN_REACH) / (REACH[1] - TOP_DOWN_REACH), 0.0, 1.0)
    return float(DOWN + s * (LOWEST_PITCH - DOWN))


def pusher_pose(point: np.ndarray) -> ToolPose:
    """Tool pose putting the pushing point at ``point`` (3,) (solved for the tcp by fixed point)."""
    tcp = np.asarray(point, dtype=np.float64).copy()
    for _ in range(4):
        pose = ToolPose(tcp, pitch_at(float(np.linalg.norm(tcp[:2]))))
        tcp = point - pose.rotation() @ PUSHER_OFFSET
    return ToolPose(tcp, pitch_at(float(np.linalg.norm(tcp[:2]))))


def at_height(xy: np.ndarray, z: float) -> np.ndarray:
    return np.array([xy[0], xy[1], z])


@EXPERTS.register("push_t")
class PushTExpert(Expert):
    """Pushes the T onto its goal with stroke after stroke, replanned from the T's measured pose."""

    strategies = ("rotate_first", "translate_first")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.tracker = IKTracker(self.model, self.ik)
        self.runner = PhaseRunner(self.tracker, self.control_hz, self.snap_gripper)
        block = self.model.body("tblock")
        self.planner = PushPlanner(block.ipos[:2], float(self.model.geom_friction[block.geomadr[0], 0]))
        self.pusher = np.zeros(3)
        self.clear_episode()

    def clear_episode(self) -> None:
        """Forget the last episode's strokes."""
        self.tempo = 1.0
        self.strokes = 0
        self.first_aim_met = False
        self.extra_depth = DEPTH_STEP
        self.last_push: Push | None = None
        self.last_block = np.zeros(3)
        self.on_target_s = 0.0
        """How long (s) the T has covered its outline to the success overlap without a break."""

    def begin(self, obs: dict[str, Any]) -> None:
        state = np.asarray(obs[STATE], np.float64)
        self.clear_episode()
        self.tempo = float(self.rng.uniform(0.9, 1.1))
        start = self.tracker.start(state[:5])
        self.pusher = start.pos + start.rotation() @ PUSHER_OFFSET
        self.runner.begin([self.hold_phase()], state[:5], state[5])
        self.runner.phases = self.stroke_phases(np.asarray(obs[PRIVILEGED], np.float64))
        self.runner.jump(0)

    def plan(self, state: np.ndarray, privileged: np.ndarray, obs: dict[str, Any]) -> np.ndarray:
        block, goal = self.poses(privileged)
        on_target = overlap(block[None], goal[None])[0] >= SUCCESS_OVERLAP
        self.on_target_s = self.on_target_s + 1.0 / self.control_hz if on_target else 0.0
        return self.runner.step(privileged)

    @property
    def finished(self) -> bool:
        """True once the T has covered its outline (the task's success) for SETTLE_SECONDS."""
        return self.on_target_s >= SETTLE_SECONDS

    def weights(self, pose: np.ndarray, goal: np.ndarray) -> tuple[float, float]:
        """(yaw, position) cost weights: the strategy's emphasis until its first aim is nearly met."""
        yaw_error = abs(float(wrap(np.array(pose[2] - goal[2]))))
        pos_error = float(np.linalg.norm(pose[:2] - goal[:2]))
        if self.strategy == "rotate_first" and yaw_error < 0.15:
            self.first_aim_met = True
        if self.strategy == "translate_first" and pos_error < 0.015:
            self.first_aim_met = True
        if self.first_aim_met:
            return 1.0, 1.0
        return (1.0, 0.2) if self.strategy == "rotate_first" else (0.05, 1.0)

    @staticmethod
    def poses(privileged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """T pose and goal pose (x, y, yaw) from the privileged observation."""
        block = np.array([*privileged[3:5], np.arctan2(privileged[6], privileged[5])])
        goal = np.array([*privileged[7:9], np.arctan2(privileged[10], privileged[9])])
        return block, goal

    def stroke_phases(self, privileged: np.ndarray) -> list[Phase]:
        """The next stroke: move to the push's start (low or over the T), push, back off, replan."""
        block, goal = self.poses(privileged)
        push = self.planner.choose(block, goal, self.pusher[:2], self.weights(block, goal))
        if push is None:  # no reachable push: wait a moment and look again
            return [self.move("wait", self.pusher, 0.5, then=self.next_stroke), self.hold_phase()]
        self.adapt_depth(block)
        self.strokes += 1
        self.last_push, self.last_block = push, block
        far = push.end + self.extra_depth * push.direction
        start, end = at_height(push.start, PUSH_HEIGHT), at_height(far, PUSH_HEIGHT)
        back = at_height(far - RETREAT * push.direction, PUSH_HEIGHT)
        phases = self.low_path(start, block) if self.path_clear(start, block) else self.high_path(start)
        push_seconds = max(0.25, float(np.linalg.norm(end - start)) / PUSH_SPEED)
        phases += [
            self.move("push", end, push_seconds),
            self.move("retreat", back, 0.25, then=self.next_stroke),
            self.hold_phase(),
        ]
        self.pusher = back
        return phases

    def adapt_depth(self, block: np.ndarray) -> None:
        """Push deeper after a stroke that moved the T much less than planned (servo sag under load)."""
        if self.last_push is None:
            return
        push, before = self.last_push, self.last_block
        planned = float((push.predicted[:2] - before[:2]) @ push.direction)
        moved = float((block[:2] - before[:2]) @ push.direction)
        if planned < 0.001:
            return
        if moved < 0.5 * planned:
            self.extra_depth = min(self.extra_depth + DEPTH_STEP, MAX_EXTRA_DEPTH)
        elif moved > 0.9 * planned:
            self.extra_depth = max(self.extra_depth - DEPTH_STEP / 3, 0.0)

    def next_stroke(self, privileged: np.ndarray) -> str:
        self.runner.phases = self.stroke_phases(privileged)
        return self.runner.phases[0].name

    def path_clear(self, start: np.ndarray, block: np.ndarray) -> bool:
        """Whether the straight low path from the pusher to ``start`` stays clear of the T."""
        if self.pusher[2] > PUSH_HEIGHT + 0.01:
            return False
        s = np.linspace(0.0, 1.0, 12)[:, None]
        path = self.pusher[:2] + s * (start[:2] - self.pusher[:2])  # (12, 2)
        return bool(distance_to_t(path, block).min() >= CLEARANCE)

    def low_path(self, start: np.ndarray, block: np.ndarray) -> list[Phase]:
        seconds = max(0.2, float(np.linalg.norm(start - self.pusher)) / TRAVEL_SPEED)
        return [self.move("slide", start, seconds)]

    def high_path(self, start: np.ndarray) -> list[Phase]:
        up = at_height(self.pusher[:2], HOVER_HEIGHT)
        above = at_height(start[:2], HOVER_HEIGHT)
        rise = max(0.2, (HOVER_HEIGHT - self.pusher[2]) / 0.15)
        travel = max(0.3, float(np.linalg.norm(above - up)) / TRAVEL_SPEED)
        return [
            self.move("rise", up, rise),
            self.move("travel", above, travel),
            self.move("descend", start, 0.3),
        ]

    def move(self, name: str, point: np.ndarray, seconds: float, then: Any = None) -> Phase:
        """A phase moving the pushing point to ``point`` (3,) with the jaws closed."""
        pose = pusher_pose(point)
        return Phase(name, seconds * self.tempo, GRIPPER_CLOSED, lambda _: pose, then=then)

    def hold_phase(self) -> Phase:
        """Stay where the last stroke ended (also the script's end, never left)."""
        return Phase("hold", 1e9, GRIPPER_CLOSED, lambda _: self.runner.pose)
