"""Evaluation runs each world's episodes one after another through one ChunkExecutor: a world whose
episode ends resets its slot alone and starts the next seed, and every seed's episode is the same
whichever world runs it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from honed.evaluation.evaluate import EvalConfig, evaluate, evaluate_policy, run_episodes
from honed.features import STATE, TASK
from honed.policies import POLICIES, CheckpointError, ChunkExecutor, load_policy, save_policy


class ScriptedEnv:
    """A batched env below the evaluation seam: the episode of seed s lasts 2 + s % 4 steps and
    succeeds when s is even; ``observation.state`` holds the seed in [0] and the step within the
    episode in [1]. Its auto-reset starts episodes of seed -1, which the evaluation must replace."""

    def __init__(self, num_envs: int):
        self.num_envs = num_envs
        self.seeds = np.full(num_envs, -1)
        self.t = np.zeros(num_envs, dtype=np.int64)

    def observe(self) -> dict:
        state = torch.zeros(self.num_envs, 12)
        state[:, 0], state[:, 1] = torch.from_numpy(self.seeds), torch.from_numpy(self.t)
        return {STATE: state, TASK: ["hold"] * self.num_envs}

    def reset(self, seed=None, mask=None) -> dict:
        ids = np.arange(self.num_envs) if mask is None else np.flatnonzero(mask)
        seeds = [seed + int(i) for i in ids] if isinstance(seed, int) else list(seed)
        self.seeds[ids], self.t[ids] = seeds, 0
        return self.observe()

    def step(self, actions: torch.Tensor) -> tuple:
        assert actions.shape == (self.num_envs, 6) and torch.isfinite(actions).all()
        self.t += 1
        done = self.t >= 2 + self.seeds % 4
        success = done & (self.seeds % 2 == 0)
        info = {"success": torch.from_numpy(success), "done": torch.from_numpy(done),
                "episode_return": torch.from_numpy(np.where(done, self.t, 0) * 1.0),
                "episode_length": torch.from_numpy(np.where(done, self.t, 0)),
                "diverged": torch.zeros(self.num_envs, dtype=torch.bool), "endings": [""] * self.num_envs}  # fmt: skip
        self.seeds[done], self.t[done] = -1, 0
        reward = torch.zeros(self.num_envs)
        return self.observe(), reward, torch.from_numpy(success), torch.from_numpy(done & ~success), info


def lonely_resets(executor: ChunkExecutor, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Patch ``executor.reset`` to check that the slots a reset leaves out keep their queues and
    histories; returns the log of how many such slots still had queued actions at each reset."""
    kept_busy: list[int] = []
    original = executor.reset

    def reset(mask=None):
        others = [] if mask is None else [j for j in range(executor.num_envs) if not mask[j]]
        before = {j: (executor.queued(j).clone(), executor.history[STATE][j].clone()) for j in others}
        original(mask)
        for j, (queue, history) in before.items():
            torch.testing.assert_close(executor.queued(j), queue)
            torch.testing.assert_close(executor.history[STATE][j], history)
        kept_busy.append(sum(len(q) > 0 for q, _ in before.values()))

    monkeypatch.setattr(executor, "reset", reset)
    return kept_busy


def test_worlds_finishing_at_different_steps_reset_their_slots_alone(pk, monkeypatch):
    seeds = range(10, 19)
    runs = {}
    for num_envs in (1, 2, 3):
        policy = pk.make_hold_policy(n_obs_steps=2, horizon=4, n_action_steps=2)
        executor = ChunkExecutor(policy, num_envs)
        busy = lonely_resets(executor, monkeypatch)
        results = run_episodes(executor, ScriptedEnv(num_envs), seeds)
        assert [e["seed"] for e in results] == list(seeds)
        assert [e["length"] for e in results] == [2 + s % 4 for s in seeds]
        assert [e["success"] for e in results] == [s % 2 == 0 for s in seeds]
        if num_envs > 1:  # episodes end at different steps: other slots were mid-chunk at a reset
            assert max(busy) > 0
        logged = [row for history, _ in policy.log for row in history[:, :, :2].tolist()]
        chunks = [row for row in logged if row[-1][0] != -1]  # worlds left without an episode act on
        for row in chunks:  # every chunk reads frames of one episode: (t - 1, t), or (0, 0) at its start
            (seed, before), (same, t) = row
            assert seed == same and seed in seeds and t % 2 == 0 and before == max(t - 1, 0)
        runs[num_envs] = results, sorted(map(str, chunks))
    assert runs[1] == runs[2] == runs[3]  # each seed's episode is the same on whichever world


def test_each_episode_draws_its_noise_from_its_seed_on_any_world(pk):
    seeds = range(20, 27)
    drawn: dict[int, dict[tuple[int, int], torch.Tensor]] = {}
    for num_envs in (1, 3):
        policy = pk.make_policy().eval()  # samples, state only
        seen: dict[tuple[int, int], torch.Tensor] = {}
        original = policy.chunk_from_history

        def spy(history, current, noise=None, generator=None, seen=seen, original=original):
            for (seed, t), n in zip(current[STATE][:, :2].long().tolist(), noise):
                if seed != -1:  # a world left without an episode acts on
                    seen[(seed, t)] = n.clone()
            return original(history, current, noise, generator)

        policy.chunk_from_history = spy
        run_episodes(ChunkExecutor(policy, num_envs), ScriptedEnv(num_envs), seeds, noise_scale=0.5)
        drawn[num_envs] = seen
    assert drawn[1].keys() == drawn[3].keys() and len(drawn[1]) > len(seeds)
    for (seed, t), noise in drawn[3].items():
        generator = torch.Generator().manual_seed(seed)
        expected = [torch.randn(8, 6, generator=generator) for _ in range(t + 1)][-1]  # one draw per step
        torch.testing.assert_close(noise, 0.5 * expected)
        torch.testing.assert_close(drawn[1][(seed, t)], noise)


def test_twin_episodes_are_the_same_on_one_world_or_several(pk):
    policy = pk.make_policy().eval()
    cfg = EvalConfig(task="pick_cube", episodes=3, num_envs=1, seed=70, episode_seconds=0.3, progress=False)
    one = evaluate_policy(policy, cfg)["per_episode"]
    several = evaluate_policy(policy, EvalConfig(**{**cfg.__dict__, "num_envs": 2}))["per_episode"]
    assert [e["seed"] for e in one] == [70, 71, 72]
    for alone, beside in zip(one, several):  # the same scenes and noise; batches round differently
        assert alone == {**beside, "return": pytest.approx(beside["return"], rel=1e-5)}


@pytest.fixture
def hold_checkpoint(pk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A saved checkpoint of the sampler-less test policy, registered under its name for loading."""
    monkeypatch.setitem(POLICIES._entries, "hold", pk.HoldPolicy)
    save_policy(pk.make_hold_policy(seed=3), tmp_path / "hold")
    return tmp_path / "hold"


def test_a_policy_without_a_sampler_evaluates_end_to_end(hold_checkpoint, tmp_path, capsys):
    out = tmp_path / "eval"
    cfg = EvalConfig(checkpoint=str(hold_checkpoint), task="pick_cube", episodes=3, num_envs=2, videos=1,
                     episode_seconds=0.3, output=str(out), progress=False)  # fmt: skip
    result = evaluate(cfg)
    saved = json.loads((out / "results.json").read_text())
    assert [e["seed"] for e in saved["per_episode"]] == [cfg.seed + k for k in range(3)]
    assert saved["n_action_steps"] == 2 and "sampler" not in saved and saved["noise_scale"] == 1.0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["episodes"] == 3
    assert sum(len(v) for v in result["videos"].values()) >= 1
    with pytest.raises(
        SystemExit, match="a hold policy samples no noise: leave sampler, num_inference_steps"
    ):
        evaluate(EvalConfig(**{**cfg.__dict__, "sampler": "ddim"}))


def test_frozen_parameters_stay_out_of_the_checkpoint_and_are_rebuilt(pk, hold_checkpoint):
    weights = load_file(hold_checkpoint / "model.safetensors")
    assert set(weights) == {"gain"}  # the backbone is rebuilt from the config's seed
    loaded = load_policy(hold_checkpoint)
    expected = pk.make_hold_policy(seed=3)
    torch.testing.assert_close(loaded.backbone.weight, expected.backbone.weight)
    assert not torch.equal(loaded.backbone.weight, pk.make_hold_policy(seed=4).backbone.weight)
    trained = pk.make_hold_policy(seed=3)
    with torch.no_grad():
        trained.gain.mul_(2)
    save_policy(trained, hold_checkpoint)
    torch.testing.assert_close(load_policy(hold_checkpoint).gain, 2 * torch.ones(6))
    save_file({}, str(hold_checkpoint / "model.safetensors"), metadata={"policy": "hold"})
    with pytest.raises(CheckpointError, match=r"missing \['gain'\]"):  # the rest loads strictly
        load_policy(hold_checkpoint)
    trained.backbone.requires_grad_(True)
    with pytest.raises(
        ValueError, match=r"names \['backbone.weight', 'backbone.bias'\] frozen .* yet they are trained"
    ):
        save_policy(trained, hold_checkpoint)
