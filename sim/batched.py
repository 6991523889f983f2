"""The batched env seam: N worlds of one task as torch tensors ``[num_envs, ...]`` with auto-reset.

:class:`BatchedEnv` is what every backend offers; :class:`AutoResetEnv` is the step bookkeeping they
share (action checks, episode tallies, endings, auto-reset, ``final_observation``);
:class:`TwinBatchedEnv` is the twin on a physics backend (``mujoco``, ``warp``). ``BATCHED_ENVS``
maps a backend name to the factory that builds its env (``honed.sim.make_batched_env``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from honed.features import TASK, Features
from honed.registry import Registry
from honed.sim.config import SimConfig
from honed.sim.core import TwinCore, check_joint_targets

Observation = dict[str, Any]
"""Feature key -> tensor [num_envs, ...] on the env's device; ``task`` -> list of num_envs strings."""
StepResult = tuple[Observation, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]
"""(obs, reward (N,) float32, terminated (N,) bool, truncated (N,) bool, info)."""
Seeds = int | Sequence[int] | None
Mask = torch.Tensor | np.ndarray | Sequence[bool] | None


@runtime_checkable
class BatchedEnv(Protocol):
    """N worlds of one task behind one API, whatever simulates them.

    ``step`` takes actions (N, A) and returns ``(obs, reward, terminated, truncated, info)``, tensors
    [N, ...] on ``device``; worlds whose episode ended are reset in the same call (``obs`` holds their
    first observation of the next episode, ``info["final_observation"]`` their last one). ``reset``
    starts new episodes in all worlds or in those ``mask`` selects.
    """

    @property
    def cfg(self) -> SimConfig:
        """The world's configuration (task, cameras, image size, control rate)."""
        ...

    @property
    def features(self) -> Features:
        """Names, shapes and dtypes of observations and actions."""
        ...

    @property
    def instructions(self) -> tuple[str, ...]:
        """The language instructions the task's episodes carry in ``task``."""
        ...

    @property
    def control_hz(self) -> float:
        """Control steps per second."""
        ...

    @property
    def action_low(self) -> torch.Tensor:
        """(A,) float32 lower bounds of the action on ``device``; targets below are clipped."""
        ...

    @property
    def action_high(self) -> torch.Tensor:
        """(A,) float32 upper bounds of the action on ``device``; targets above are clipped."""
        ...

    @property
    def num_envs(self) -> int:
        """Worlds stepped together."""
        ...

    @property
    def device(self) -> torch.device:
        """Where observations, rewards and episode flags come back."""
        ...

    def reset(self, seed: Seeds = None, mask: Mask = None) -> Observation: ...

    def step(self, actions: torch.Tensor | np.ndarray) -> StepResult: ...

    def close(self) -> None: ...


class EpisodeTally:
    """Return and length of each world's running episode, for a batched env's ``info``: ``close``
    reports the finished worlds' totals (0 elsewhere) and starts their next episode from zero."""

    def __init__(self, num_envs: int):
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.returns = np.zeros(num_envs)

    def restart(self, ids: np.ndarray | slice = slice(None)) -> None:
        self.steps[ids] = 0
        self.returns[ids] = 0

    def add(self, reward: np.ndarray) -> None:
        self.steps += 1
        self.returns += reward

    def close(self, done: np.ndarray) -> dict[str, torch.Tensor]:
        out = {
            "episode_return": torch.from_numpy(np.where(done, self.returns, 0.0)),
            "episode_length": torch.from_numpy(np.where(done, self.steps, 0)),
        }
        self.restart(done)
        return out


@dataclass
class Advance:
    """What one control step of every world produced, before the shared bookkeeping."""

    reward: torch.Tensor | np.ndarray
    """(N,) reward of the step."""
    success: torch.Tensor | np.ndarray
    """(N,) bool: the task is solved at the end of the step."""
    terminated: torch.Tensor | np.ndarray
    """(N,) bool: the episode ended in a terminal state (the backend's rule)."""
    diverged: torch.Tensor | np.ndarray
    """(N,) bool: the physics went non-finite; the episode ends there, truncated."""
    truncated: torch.Tensor | np.ndarray | None = None
    """(N,) bool: the backend's own time limit ended the episode (None: ``max_steps`` decides)."""


def _host(x: torch.Tensor | np.ndarray, dtype: type) -> np.ndarray:
    """(N,) flags or rewards as a numpy array (the bookkeeping is a few numbers per world)."""
    return np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=dtype)


def select_rows(obs: Observation, ids: np.ndarray) -> Observation:
    """Rows ``ids`` of a batch of observations."""
    index = torch.as_tensor(ids, dtype=torch.long)
    return {k: [v[i] for i in ids] if k == TASK else v[index.to(v.device)] for k, v in obs.items()}


def replace_rows(obs: Observation, ids: np.ndarray, rows: Observation) -> Observation:
    """A copy of ``obs`` whose rows ``ids`` hold ``rows`` (observations of those worlds only)."""
    out: Observation = {}
    for key, value in obs.items():
        if key == TASK:
            merged = list(value)
            for i, text in zip(ids, rows[key], strict=True):
                merged[i] = text
            out[key] = merged
        else:
            merged_t = value.clone()
            merged_t[torch.as_tensor(ids, dtype=torch.long, device=value.device)] = rows[key]
            out[key] = merged_t
    return out


class AutoResetEnv(ABC):
    """The step bookkeeping every batched env shares; a backend supplies four hooks.

    ``step(actions)``: refuses misshapen or non-finite actions naming the world, clips the rest to
    ``[action_low, action_high]`` (counted per world in ``info["action_clipped"]``), advances every
    world one control step, ends episodes (terminated by the backend's rule; truncated at
    ``max_steps`` steps, by the backend's own limit, or because the physics diverged), reads
    ``info["endings"]`` and the last observation of each ended episode, then starts the ended worlds'
    next episodes from their own generators. ``info`` holds, per world, as CPU tensors: ``success``,
    ``action_clipped``, ``diverged``, ``done``, ``episode_return`` and ``episode_length`` (of the episode
    that ended on this step, 0 elsewhere), ``final_mask`` (the worlds whose episode ended: ``done``);
    ``endings`` (a string per world, "" where none ended); and ``final_observation``: the observation
    at the end of this step before any reset, on ``device``. Its rows of ended worlds hold the last
    observation of their episode (RL bootstraps truncated episodes from it); its other rows hold the
    same observation as ``obs`` (when no world ended it is ``obs`` itself).

    ``reset(seed, mask)``: new episodes in the worlds ``mask`` selects (all when None; a bool (N,)
    mask otherwise), leaving the others' state untouched. ``seed``: an int seeds world i with
    ``seed + i``; a sequence gives one seed per selected world, in world order; None restarts every
    world from the env's seed on a full reset (the constructor's, or the last int given to a full
    reset, so repeated ``reset()`` gives the same scenes), while a masked reset draws each selected
    world's next episode from its own generator, as an auto-reset does.
    """

    def __init__(
        self,
        cfg: SimConfig,
        num_envs: int,
        seed: int,
        device: str | torch.device,
        low: np.ndarray,
        high: np.ndarray,
        max_steps: int | None,
    ):
        self.cfg = cfg
        self.num_envs = num_envs
        self.seed = seed
        self.device = torch.device(device)
        self.max_steps = max_steps
        """Episode length limit in control steps (None: the backend ends episodes itself)."""
        self._low, self._high = np.asarray(low, np.float64), np.asarray(high, np.float64)
        self.action_low = torch.as_tensor(self._low, dtype=torch.float32, device=self.device)
        self.action_high = torch.as_tensor(self._high, dtype=torch.float32, device=self.device)
        self.tally = EpisodeTally(num_envs)

    @property
    def control_hz(self) -> float:
        return float(self.cfg.control_hz)

    # --- hooks -----------------------------------------------------------------------------------
    @abstractmethod
    def _advance(self, targets: torch.Tensor) -> Advance:
        """Hold the checked targets (N, A) float64 for one control step in every world."""

    @abstractmethod
    def _observe(self, ids: np.ndarray | None = None) -> Observation:
        """The current observation of every world (``ids`` None) or of worlds ``ids`` only."""

    @abstractmethod
    def _start(self, ids: np.ndarray, seeds: list[int] | None) -> None:
        """Start a new episode in worlds ``ids``: from ``seeds`` (one per world) or, when None, the
        next episode of each world's own generator."""

    def _endings(self) -> list[str]:
        """Where each world's attempt stands, read as episodes end ("" everywhere by default)."""
        return [""] * self.num_envs

    # --- the shared contract ---------------------------------------------------------------------
    def _selected(self, mask: Mask) -> np.ndarray:
        if mask is None:
            return np.arange(self.num_envs)
        flags = np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask)
        if flags.shape != (self.num_envs,) or flags.dtype != np.bool_:
            raise ValueError(
                f"field 'mask' has shape {flags.shape} and dtype {flags.dtype}, expected ({self.num_envs},) bool"
            )
        return np.flatnonzero(flags)

    def _seeds(self, seed: Seeds, ids: np.ndarray, full: bool) -> list[int] | None:
        if seed is None:
            return [self.seed + int(i) for i in ids] if full else None
        if isinstance(seed, int | np.integer):
            if full:
                self.seed = int(seed)
            return [int(seed) + int(i) for i in ids]
        seeds = [int(s) for s in seed]
        if len(seeds) != len(ids):
            raise ValueError(
                f"field 'seed' gives {len(seeds)} seeds for {len(ids)} selected worlds: give one per world or an int"
            )
        return seeds

    def reset(self, seed: Seeds = None, mask: Mask = None) -> Observation:
        ids = self._selected(mask)
        seeds = self._seeds(seed, ids, full=mask is None)
        if len(ids):
            self._start(ids, seeds)
        self.tally.restart(ids)
        return self._observe()

    def step(self, actions: torch.Tensor | np.ndarray) -> StepResult:
        targets, clipped = check_joint_targets(actions, self.num_envs, self._low, self._high)
        out = self._advance(targets)
        reward = _host(out.reward, np.float64)
        self.tally.add(reward)
        terminated, diverged = _host(out.terminated, np.bool_), _host(out.diverged, np.bool_)
        truncated = diverged.copy()
        if out.truncated is not None:
            truncated |= _host(out.truncated, np.bool_)
        if self.max_steps is not None:
            truncated |= self.tally.steps >= self.max_steps
        truncated &= ~terminated
        done = terminated | truncated
        ids = np.flatnonzero(done)
        endings = self._endings() if len(ids) else [""] * self.num_envs  # before the reset
        final = self._observe()
        obs = final
        if len(ids):
            self._start(ids, None)
            obs = replace_rows(final, ids, self._observe(ids))
        info: dict[str, Any] = {
            "success": torch.from_numpy(_host(out.success, np.bool_)),
            "action_clipped": clipped.cpu(),
            "diverged": torch.from_numpy(diverged),
            **self.tally.close(done),
            "done": torch.from_numpy(done),
            "endings": [e if d else "" for e, d in zip(endings, done, strict=True)],
            "final_observation": final,
            "final_mask": torch.from_numpy(done.copy()),
        }
        dev = self.device
        return (
            obs,
            torch.from_numpy(reward.astype(np.float32)).to(dev),
            torch.from_numpy(terminated).to(dev),
            torch.from_numpy(truncated).to(dev),
            info,
        )

    @abstractmethod
    def close(self) -> None: ...


class TwinBatchedEnv(AutoResetEnv):
    """N worlds of one twin task on a physics backend (``mujoco``, ``warp``). World i is seeded
    ``seed + i`` and equals a single env (``honed.sim.make_env``) seeded the same.

    ``device`` is where tensors come back. ``observation.state`` is made from the backend's own
    tensors (``PhysicsBackend.tensors``), so when ``device`` is where the backend keeps its state
    (``core.backend.device``: the CPU for ``mujoco``, Warp's device for ``warp``) it is never copied
    through the host; ``observation.privileged``, rewards and success come from the task's numpy
    code (``Task``), images from MuJoCo's renderer. ``backend_options`` go to the backend
    (``threads`` for ``mujoco``; ``warp_device``, ``nconmax``, ``njmax`` for ``warp``).
    """

    def __init__(
        self,
        cfg: SimConfig | None = None,
        num_envs: int = 1,
        backend: str = "mujoco",
        seed: int = 0,
        device: str | torch.device = "cpu",
        **backend_options: Any,
    ):
        cfg = cfg or SimConfig()
        self.core = TwinCore(cfg, num_envs, backend, **backend_options)
        core = self.core
        super().__init__(cfg, num_envs, seed, device, core.low, core.high, core.max_steps)
        self.features = self.core.features
        self.instructions: tuple[str, ...] = tuple(self.core.task.instructions)

    def _advance(self, targets: torch.Tensor) -> Advance:
        out = self.core.advance(targets)
        return Advance(
            reward=out["reward"],
            success=out["success"],
            terminated=out["success"] & self.cfg.terminate_on_success,
            diverged=out["diverged"],
        )

    def _observe(self, ids: np.ndarray | None = None) -> Observation:
        return {k: v if k == TASK else v.to(self.device) for k, v in self.core.observe_tensors(ids).items()}

    def _start(self, ids: np.ndarray, seeds: list[int] | None) -> None:
        if seeds is not None:
            self.core.seed(seeds, ids)
        self.core.reset_worlds(ids)

    def _endings(self) -> list[str]:
        return self.core.endings()

    def close(self) -> None:
        self.core.close()


BATCHED_ENVS: Registry[Any] = Registry("backend")
"""backend name -> factory(cfg, num_envs=, seed=, device=, **options) of a :class:`BatchedEnv`."""
for _name in ("mujoco", "warp"):
    BATCHED_ENVS.register(_name)(partial(TwinBatchedEnv, backend=_name))


@BATCHED_ENVS.register("maniskill")
def _maniskill(cfg: SimConfig | None = None, **kwargs: Any) -> BatchedEnv:
    from honed.sim.maniskill import ManiSkillBatchedEnv

    return ManiSkillBatchedEnv(cfg, **kwargs)
