"""The ChunkExecutor: one policy driving a batch of envs, one action per env per control step.

A policy predicts chunks of ``horizon`` actions from ``n_obs_steps`` frames; the executor turns that
into a control loop's one action per step (like openpi's ``ActionChunkBroker``, for a batch). For
each env slot it keeps

- the observation history: the last ``n_obs_steps`` frames, or their encodings where the policy
  encodes frames one by one (:class:`~honed.policies.base.EncodesFrames`); at an episode start the
  history is the first frame repeated;
- the queue of actions left from the slot's last chunk: a slot plans a new chunk when its queue is
  empty, executes ``n_action_steps`` of it (a deployment choice within 1..horizon), then plans again.

Slots plan independently: a step computes chunks only for the slots whose queues ran out, in one
batch. ``reset(mask)`` starts new episodes on the chosen slots only (their queued actions are
dropped and their history refills from their next frame); the other slots keep theirs. A frame is
encoded only for the slots whose next chunk reads it. Sampling noise, for policies that sample
(:class:`~honed.policies.base.SamplesNoise`), may be supplied per slot by the caller.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from honed.features import TASK
from honed.policies.base import Batch, EncodesFrames, Policy, SamplesNoise, check_finite
from honed.policies.contract import check_execution_steps

ENCODED = "encoded"
"""History key of frame encodings (policies that encode frames one by one)."""


def select_rows(frame: Batch, rows: np.ndarray, num_envs: int) -> Batch:
    """The ``rows`` of a batched frame: tensors, arrays and per-env lists indexed; a value shared by
    every env (one instruction for all) kept as it is."""
    out: Batch = {}
    for key, value in frame.items():
        if torch.is_tensor(value):
            out[key] = value[torch.as_tensor(rows, device=value.device)]
        elif isinstance(value, np.ndarray) and value.shape[:1] == (num_envs,):
            out[key] = value[rows]
        elif isinstance(value, list | tuple) and len(value) == num_envs:
            out[key] = [value[int(i)] for i in rows]
        else:
            out[key] = value
    return out


class ChunkExecutor:
    """Observation histories and action queues of ``num_envs`` env slots; see the module docstring."""

    def __init__(self, policy: Policy, num_envs: int, n_action_steps: int = 0):
        """``n_action_steps``: actions of each chunk executed before the next is planned (0: the
        contract's own; otherwise 1..horizon). ValueError naming the range otherwise."""
        contract = policy.contract
        steps = n_action_steps or contract.n_action_steps
        check_execution_steps(steps, contract.horizon, "n_action_steps", "the checkpoint's horizon")
        if num_envs < 1:
            raise ValueError(f"num_envs ({num_envs}) must be at least 1")
        self.policy, self.num_envs, self.n_action_steps = policy, num_envs, steps
        self.n_obs_steps = contract.n_obs_steps
        self.device = policy.device
        self._encoder = policy if isinstance(policy, EncodesFrames) else None  # asked once, not every step
        self._samples = isinstance(policy, SamplesNoise)
        self.keys = [k for k in contract.observation_keys if k != TASK]
        """Frame keys a history of raw frames keeps (policies that do not encode frames one by one)."""
        self._history: dict[str, Tensor] = {}  # key -> (B, n_obs_steps, ...)
        self._chunks: Tensor | None = None  # (B, n_action_steps, A)
        self._left = np.zeros(num_envs, dtype=np.int64)  # actions left in each slot's queue
        self._fresh = np.ones(num_envs, dtype=bool)  # slots whose history refills from their next frame

    def reset(self, mask: Tensor | np.ndarray | None = None) -> None:
        """Start new episodes on the slots ``mask`` (B,) selects (all when None): their queued actions
        are dropped and their history refills from their next frame; other slots keep theirs."""
        chosen = np.ones(self.num_envs, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        if chosen.shape != (self.num_envs,):
            raise ValueError(f"reset mask has shape {chosen.shape}, expected ({self.num_envs},)")
        self._left[chosen] = 0
        self._fresh[chosen] = True

    @property
    def plans(self) -> np.ndarray:
        """(B,) whether each slot computes a chunk at the next :meth:`act`."""
        return self._left == 0

    @property
    def history(self) -> dict[str, Tensor]:
        """The kept history per key, (B, n_obs_steps, ...), oldest first (empty before the first act).
        Rows of frames no chunk will read are left as they were."""
        return dict(self._history)

    def queued(self, slot: int) -> Tensor:
        """The actions (k, A) still queued for ``slot``, next first."""
        if self._chunks is None or not self._left[slot]:
            return torch.empty(0, 0)
        return self._chunks[slot, self.n_action_steps - int(self._left[slot]) :]

    @torch.inference_mode()
    def act(self, frame: Batch, noise: Tensor | None = None) -> Tensor:
        """The next action (B, A) of every slot for one observation frame (state (B, S), images
        (B, H, W, 3), task). ``noise`` (B, ...): the initial noise of each slot's chunk, read only for
        the slots that plan at this step (None: the policy draws its own)."""
        frame = self._on_device(frame)
        if noise is not None and not self._samples:
            raise ValueError(f"a {self.policy.name} policy samples no noise: pass noise=None")
        # the next chunk of these slots reads this frame
        reads = np.flatnonzero(self._left < self.n_obs_steps)
        self._remember(frame, reads)
        plans = np.flatnonzero(self._left == 0)
        if plans.size:
            self._plan(frame, plans, noise)
        assert self._chunks is not None  # every slot planned at its first step
        step = torch.as_tensor(self.n_action_steps - self._left, device=self._chunks.device)
        self._left -= 1
        self._fresh[:] = False
        return self._chunks[torch.arange(self.num_envs, device=step.device), step]  # (B, A)

    def _on_device(self, frame: Batch) -> Batch:
        for key, value in frame.items():
            if torch.is_tensor(value) and value.shape[:1] != (self.num_envs,):
                raise ValueError(
                    f"field {key!r} has {value.shape[0] if value.dim() else 0} envs, the executor runs {self.num_envs}"
                )
        return {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in frame.items()}

    def _encode(self, frames: Batch) -> dict[str, Tensor]:
        if self._encoder is not None:
            return {ENCODED: self._encoder.observe(frames)}  # (k, F)
        missing = [k for k in self.keys if k not in frames]
        if missing:
            raise ValueError(f"observation lacks fields {missing} that this policy reads")
        return {k: frames[k] for k in self.keys}

    def _remember(self, frame: Batch, rows: np.ndarray) -> None:
        """Shift every slot's history by one frame; the new frame enters the ``rows`` that read it
        (filling the whole history of slots starting an episode)."""
        new = self._encode(select_rows(frame, rows, self.num_envs)) if rows.size else {}
        for key, value in new.items():
            if key not in self._history:
                shape = (self.num_envs, self.n_obs_steps, *value.shape[1:])
                self._history[key] = torch.zeros(shape, dtype=value.dtype, device=value.device)
        index = torch.as_tensor(rows, device=self.device)
        fresh = torch.as_tensor(self._fresh[rows], device=self.device)
        for key, kept in self._history.items():
            kept = torch.cat([kept[:, 1:], kept[:, -1:]], dim=1)  # (B, n_obs, ...), newest row below
            if rows.size:
                kept[index, -1] = new[key]
                first = new[key][fresh]  # (f, ...)
                kept[index[fresh]] = first[:, None].expand(-1, self.n_obs_steps, *first.shape[1:])
            self._history[key] = kept

    def _plan(self, frame: Batch, rows: np.ndarray, noise: Tensor | None) -> None:
        index = torch.as_tensor(rows, device=self.device)
        current = select_rows(frame, rows, self.num_envs)
        history = {k: v[index] for k, v in self._history.items()}  # (k, n_obs, ...)
        if noise is not None:
            if noise.shape[:1] != (self.num_envs,):
                raise ValueError(f"noise has {noise.shape[0]} rows, the executor runs {self.num_envs} envs")
            noise = noise.to(self.device)[index]
        if self._encoder is not None:
            chunk = self._encoder.chunk_from_history(history[ENCODED], current, noise)
        else:
            obs = {k: v for k, v in current.items() if not torch.is_tensor(v)} | history
            chunk = self.policy.predict_chunk(obs, noise)  # noise None for a policy without a sampler
        chunk = check_finite(chunk, self.policy.name)  # (k, H, A)
        if self._chunks is None:
            shape = (self.num_envs, self.n_action_steps, chunk.shape[-1])
            self._chunks = torch.zeros(shape, dtype=chunk.dtype, device=chunk.device)
        self._chunks[index] = chunk[:, : self.n_action_steps]
        self._left[rows] = self.n_action_steps


def execution_settings(executor: ChunkExecutor) -> dict[str, Any]:
    """What an evaluation reports of how it drove the policy: executed steps, and the sampler if any."""
    policy = executor.policy
    sampling = policy.sampling() if isinstance(policy, SamplesNoise) else {}
    return {"n_action_steps": executor.n_action_steps, **sampling}
