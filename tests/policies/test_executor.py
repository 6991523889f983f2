"""The ChunkExecutor: per-slot histories and action queues, planning, resets of chosen slots only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from honed.features import STATE
from honed.policies import ChunkExecutor, UnsafeActionError
from honed.policies.executor import ENCODED


def counting_plans(policy) -> list[int]:
    """Patch ``policy.chunk_from_history`` to log how many slots each chunk computation serves."""
    rows: list[int] = []
    original = policy.chunk_from_history

    def spy(history, current, noise=None, generator=None):
        rows.append(history.shape[0])
        return original(history, current, noise, generator)

    policy.chunk_from_history = spy
    return rows


def states(values) -> dict:
    """A frame whose state's first joint holds ``values`` (one per slot), the rest zero."""
    state = torch.zeros(len(values), 12)
    state[:, 0] = torch.tensor(values, dtype=torch.float32)
    return {STATE: state}


def test_each_slot_executes_n_action_steps_then_replans(pk):
    policy = pk.make_policy(("front",), n_action_steps=3).eval()
    batch = pk.make_batch(policy, batch=2)
    plans = counting_plans(policy)
    executor = ChunkExecutor(policy, num_envs=2)
    actions = [executor.act(pk.frame_of(batch)) for _ in range(7)]
    assert [a.shape for a in actions] == [(2, 6)] * 7
    assert plans == [2, 2, 2]  # steps 0, 3 and 6 plan one chunk for both slots
    executor.reset()
    executor.act(pk.frame_of(batch))
    assert plans == [2, 2, 2, 2]


def test_executed_steps_are_chosen_at_construction_within_the_horizon(pk):
    policy = pk.make_policy(n_action_steps=3).eval()  # horizon 8
    batch = pk.make_batch(policy, batch=1)
    plans = counting_plans(policy)
    executor = ChunkExecutor(policy, num_envs=1, n_action_steps=2)
    for _ in range(7):
        executor.act(pk.frame_of(batch))
    assert len(plans) == 4  # steps 0, 2, 4 and 6 plan a chunk
    assert executor.n_action_steps == 2 and policy.contract.n_action_steps == 3  # the contract keeps its own
    assert ChunkExecutor(policy, 1).n_action_steps == 3  # 0: the contract's
    for bad in (9, -1):
        with pytest.raises(
            ValueError, match=rf"n_action_steps \({bad}\) must be between 1 and .* horizon \(8\)"
        ):
            ChunkExecutor(policy, num_envs=1, n_action_steps=bad)


def test_frames_are_encoded_only_when_a_chunk_will_read_them(pk):
    policy = pk.make_policy(n_action_steps=3).eval()  # n_obs_steps = 2
    batch = pk.make_batch(policy, batch=1)
    encoded, clock = [], {"step": 0}
    original = policy.observe
    policy.observe = lambda frame: encoded.append(clock["step"]) or original(frame)
    executor = ChunkExecutor(policy, num_envs=1)
    for step in range(7):
        clock["step"] = step
        executor.act(pk.frame_of(batch))
    assert encoded == [0, 2, 3, 5, 6]  # chunks at steps 0, 3, 6 read frames (0, 0), (2, 3), (5, 6)


def test_the_history_starts_as_the_first_frame_repeated(pk):
    policy = pk.make_hold_policy(n_obs_steps=3, horizon=4, n_action_steps=1)
    executor = ChunkExecutor(policy, num_envs=2)
    executor.act(states([1.0, 2.0]))
    torch.testing.assert_close(executor.history[STATE][:, :, 0], torch.tensor([[1.0] * 3, [2.0] * 3]))
    executor.act(states([3.0, 4.0]))
    torch.testing.assert_close(executor.history[STATE][:, :, 0], torch.tensor([[1.0, 1, 3], [2, 2, 4]]))
    assert [s[:, :, 0].tolist() for s, _ in policy.log] == [[[1, 1, 1], [2, 2, 2]], [[1, 1, 3], [2, 2, 4]]]


def test_reset_of_one_slot_leaves_the_others_queues_and_histories_alone(pk):
    policy = pk.make_policy(n_action_steps=4).eval()  # n_obs_steps 2, horizon 8
    batch = pk.make_batch(policy, batch=3)
    plans = counting_plans(policy)
    executor = ChunkExecutor(policy, num_envs=3)
    executor.act(pk.frame_of(batch, 0))
    executor.act(pk.frame_of(batch, 1))
    before = executor.history[ENCODED].clone()
    queued = [executor.queued(i).clone() for i in range(3)]
    assert [len(q) for q in queued] == [2, 2, 2]
    executor.reset(np.array([False, True, False]))
    assert executor.plans.tolist() == [False, True, False] and len(executor.queued(1)) == 0
    torch.testing.assert_close(
        executor.history[ENCODED], before
    )  # a reset forgets nothing until the next frame
    torch.testing.assert_close(executor.queued(0), queued[0])
    torch.testing.assert_close(executor.queued(2), queued[2])
    new = pk.make_batch(policy, batch=3, seed=5)
    action = executor.act(pk.frame_of(new, 0))
    assert plans == [3, 1]  # only the reset slot plans
    torch.testing.assert_close(action[[0, 2]], torch.stack([queued[0][0], queued[2][0]]))
    after = executor.history[ENCODED]
    first = policy.observe(pk.frame_of(new, 0))[1]  # the reset slot's new frame fills its history
    torch.testing.assert_close(after[1], first.expand(2, -1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(after[[0, 2], 0], before[[0, 2], 1])  # the others' shift by one frame
    torch.testing.assert_close(executor.queued(0), queued[0][1:])


def test_a_slot_acts_as_it_would_alone(pk):
    """Slots reset at different steps take the actions single-slot executors take on the same frames."""
    policy = pk.make_policy(n_action_steps=3).eval()
    frames = [pk.frame_of(pk.make_batch(policy, batch=2, seed=t), 0) for t in range(8)]
    noise = [policy.sample_noise(2, torch.Generator().manual_seed(t)) for t in range(8)]
    together = ChunkExecutor(policy, num_envs=2)
    alone = [ChunkExecutor(policy, num_envs=1) for _ in range(2)]
    for t in range(8):
        if t == 4:
            together.reset(torch.tensor([False, True]))
            alone[1].reset()
        action = together.act(frames[t], noise[t])
        for i, single in enumerate(alone):
            row = {k: v[i : i + 1] for k, v in frames[t].items() if torch.is_tensor(v)}
            torch.testing.assert_close(
                action[i : i + 1], single.act(row, noise[t][i : i + 1]), rtol=1e-5, atol=1e-5
            )


def test_a_policy_without_a_sampler_runs_on_raw_frames_and_takes_no_noise(pk):
    policy = pk.make_hold_policy(n_obs_steps=2, horizon=4, n_action_steps=2)
    executor = ChunkExecutor(policy, num_envs=2)
    action = executor.act(states([0.5, -0.5]))
    torch.testing.assert_close(action[:, 0], torch.tensor([0.5, -0.5]), atol=1e-2, rtol=0)
    assert set(executor.history) == {STATE}
    with pytest.raises(ValueError, match="a hold policy samples no noise: pass noise=None"):
        executor.act(states([0.0, 0.0]), noise=torch.zeros(2, 4, 6))


def test_frames_of_another_batch_size_and_bad_masks_are_refused(pk):
    executor = ChunkExecutor(pk.make_hold_policy(), num_envs=2)
    with pytest.raises(ValueError, match="field 'observation.state' has 3 envs, the executor runs 2"):
        executor.act(states([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"reset mask has shape \(3,\), expected \(2,\)"):
        executor.reset(np.array([True, False, True]))


def test_non_finite_actions_never_leave_the_executor(pk):
    policy = pk.make_policy().eval()
    batch = pk.make_batch(policy, batch=1)
    with torch.no_grad():
        policy.denoiser.film.bias.fill_(float("nan"))
    with pytest.raises(UnsafeActionError, match="non-finite action"):
        ChunkExecutor(policy, num_envs=1).act(pk.frame_of(batch))
