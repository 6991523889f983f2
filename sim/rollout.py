"""Running an agent (expert or policy) for whole episodes in the single twin env, with frames."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from honed.sim.env import TwinEnv


class Agent(Protocol):
    def reset(self, obs: dict[str, Any]) -> None: ...

    def act(self, obs: dict[str, Any]) -> np.ndarray: ...


@dataclass
class EpisodeResult:
    """One episode's outcome."""

    seed: int
    success: bool
    length: int
    frames: list[np.ndarray] = field(default_factory=list, repr=False)


def run_episode(env: TwinEnv, agent: Agent, seed: int, record: bool = False) -> EpisodeResult:
    obs, _ = env.reset(seed=seed)
    agent.reset(obs)
    frames = [env.render()] if record else []
    success, steps = False, 0
    while True:
        obs, _, terminated, truncated, info = env.step(agent.act(obs))
        steps += 1
        success = success or info["success"]
        if record:
            frames.append(env.render())
        if terminated or truncated:
            return EpisodeResult(seed, success, steps, frames)


def run_episodes(
    env: TwinEnv, agent: Agent, seeds: list[int], record: int = 0, desc: str = "episodes"
) -> list[EpisodeResult]:
    """Episodes at the given reset seeds; frames are kept for the first ``record`` of them."""
    results = []
    bar = tqdm(seeds, desc=desc, leave=False)
    for k, seed in enumerate(bar):
        results.append(run_episode(env, agent, seed, record=k < record))
        bar.set_postfix(success=f"{np.mean([r.success for r in results]):.2f}")
    return results
