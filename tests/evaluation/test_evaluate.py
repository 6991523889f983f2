"""Evaluation in the batched twin: contract refusal before any episode, and train -> eval end to end."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from honed.data.store import EpisodeStore
from honed.evaluation.evaluate import (
    CompareConfig,
    EvalConfig,
    compare,
    evaluate,
    evaluate_policy,
    seed_warnings,
)
from honed.features import ACTION, Feature, Features, image_key
from honed.policies import Contract, ContractError, DiffusionPolicy, load_policy, save_policy
from honed.policies.train import train
from honed.policies.train_config import DEBUG, TrainConfig
from honed.sim.seeds import HELD_OUT_SEED
from honed.sim.tasks.pick import GRASP_ENDINGS


def seven_joint_policy(pk) -> DiffusionPolicy:
    base = pk.make_contract(cfg=pk.tiny_config())
    features = Features({**base.features, ACTION: Feature((7,), "float32")})
    stats = {**base.stats, ACTION: pk.unit_stats(7)}
    return DiffusionPolicy(pk.tiny_config(), Contract(features, stats, 30.0, 2, 8, 4))


def test_a_policy_with_other_action_features_is_refused_before_any_episode(pk, monkeypatch):
    import honed.evaluation.evaluate as ev

    monkeypatch.setattr(ev, "run_episodes", lambda *a, **k: pytest.fail("an episode ran"))
    with pytest.raises(ContractError, match=r"action: float32\[7\] vs float32\[6\]"):
        evaluate_policy(
            seven_joint_policy(pk), EvalConfig(task="pick_cube", episodes=2, num_envs=2, progress=False)
        )


def test_a_policy_trained_with_the_camera_elsewhere_is_refused_before_any_episode(pk, monkeypatch):
    import honed.evaluation.evaluate as ev

    monkeypatch.setattr(ev, "run_episodes", lambda *a, **k: pytest.fail("an episode ran"))
    base = pk.make_contract(("front",), cfg=pk.tiny_config())
    elsewhere = "on world at 0.500 0.000 0.300 m, quat 0.648 0.284 0.284 0.648, fovy 40.0 deg"
    front = dataclasses.replace(base.features[image_key("front")], placement=elsewhere)
    contract = Contract(Features({**base.features, image_key("front"): front}), base.stats, 30.0, 2, 8, 4)
    policy = DiffusionPolicy(pk.tiny_config(), contract)
    with pytest.raises(
        ContractError, match=r"front: camera placement 'on world at 0.500.*' vs 'on world at 0.450"
    ):
        evaluate_policy(policy, EvalConfig(task="pick_cube", episodes=2, num_envs=2, progress=False))


def test_a_task_embedding_refuses_instructions_it_never_saw(pk, monkeypatch):
    import honed.evaluation.evaluate as ev

    monkeypatch.setattr(ev, "run_episodes", lambda *a, **k: pytest.fail("an episode ran"))
    policy = pk.make_policy(language="embedding")
    with pytest.raises(ContractError, match="never saw"):
        evaluate_policy(policy, EvalConfig(task="pick_cube", episodes=2, num_envs=2, progress=False))


def test_videos_from_a_backend_outside_the_twin_are_refused_before_building_it(pk, tmp_path, monkeypatch):
    import honed.sim as sim

    monkeypatch.setattr(sim, "make_batched_env", lambda *a, **k: pytest.fail("an env was built"))
    cfg = EvalConfig(task="pick_cube", episodes=2, num_envs=2, backend="maniskill", progress=False)
    with pytest.raises(SystemExit, match="backend=maniskill needs videos=0"):
        evaluate_policy(pk.make_policy(), cfg, out=tmp_path)


def test_episodes_are_paired_by_seed(pk):
    policy = pk.make_policy().eval()
    cfg = EvalConfig(task="pick_cube", episodes=3, num_envs=2, seed=40, episode_seconds=2.0, progress=False)
    first, again = evaluate_policy(policy, cfg), evaluate_policy(policy, cfg)
    assert [e["seed"] for e in first["per_episode"]] == [40, 41, 42]
    assert first["per_episode"] == again["per_episode"]  # same initial states, same policy noise
    failed = [e for e in first["per_episode"] if not e["success"]]  # an untrained policy in 2 s
    assert failed and all(e["ending"] in GRASP_ENDINGS for e in failed)
    assert sum(first["failure_endings"].values()) == len(failed)


def test_executed_steps_beyond_the_horizon_are_refused_before_any_episode(pk, monkeypatch):
    import honed.evaluation.evaluate as ev

    monkeypatch.setattr(ev, "run_episodes", lambda *a, **k: pytest.fail("an episode ran"))
    cfg = EvalConfig(task="pick_cube", episodes=2, num_envs=2, n_action_steps=9, progress=False)
    with pytest.raises(SystemExit, match=r"n_action_steps \(9\).*horizon \(8\).*n_action_steps=0"):
        evaluate_policy(pk.make_policy(), cfg)


def test_an_evaluation_executes_and_records_the_steps_it_was_given(pk):
    policy = pk.make_policy().eval()  # the contract executes 4 of 8
    plans = []
    original = policy.chunk_from_history
    policy.chunk_from_history = lambda history, *args: plans.append(1) or original(history, *args)
    cfg = EvalConfig(task="pick_cube", episodes=2, num_envs=2, episode_seconds=0.5, progress=False)
    assert evaluate_policy(policy, cfg)["n_action_steps"] == 4
    own, plans[:] = len(plans), []
    override = evaluate_policy(policy, dataclasses.replace(cfg, n_action_steps=8))
    assert override["n_action_steps"] == 8
    assert len(plans) < own  # fewer plans per episode when more of each chunk is executed


def test_an_evaluation_samples_with_the_sampler_and_steps_it_was_given(pk):
    policy = pk.make_policy().eval()  # trained for DDPM, sampled with DDIM-10 by its config
    steps = []
    original = policy.denoiser.step
    policy.denoiser.step = lambda x, cond: steps.append(1) or original(x, cond)
    cfg = EvalConfig(task="pick_cube", episodes=1, num_envs=1, episode_seconds=0.1, progress=False,
                     n_action_steps=8, sampler="ddpm", num_inference_steps=3)  # fmt: skip
    result = evaluate_policy(policy, cfg)  # 3 control steps: one chunk
    assert (result["sampler"], result["num_inference_steps"], len(steps)) == ("ddpm", 3, 3)
    own = evaluate_policy(policy, dataclasses.replace(cfg, sampler="", num_inference_steps=0))
    assert (own["sampler"], own["num_inference_steps"], len(steps)) == ("ddim", 10, 13)


def test_an_evaluation_scales_the_initial_noise_it_was_given(pk):
    policy = pk.make_policy().eval()
    seen = []
    original = policy.chunk_from_history
    policy.chunk_from_history = lambda history, current, noise: (
        seen.append(noise) or original(history, current, noise)
    )
    cfg = EvalConfig(task="pick_cube", episodes=2, num_envs=2, episode_seconds=0.1, progress=False)
    assert evaluate_policy(policy, cfg)["noise_scale"] == 1.0
    result = evaluate_policy(policy, dataclasses.replace(cfg, noise_scale=0.5))
    assert result["noise_scale"] == 0.5
    torch.testing.assert_close(seen[1], 0.5 * seen[0])  # the same draws, scaled: paired by seed as before
    evaluate_policy(policy, dataclasses.replace(cfg, noise_scale=0.0))
    assert not seen[2].any()


@pytest.mark.parametrize("scale", [-0.5, float("nan"), float("inf")])
def test_a_noise_scale_that_is_no_factor_is_refused_before_any_episode(pk, monkeypatch, scale):
    import honed.evaluation.evaluate as ev

    monkeypatch.setattr(ev, "run_episodes", lambda *a, **k: pytest.fail("an episode ran"))
    with pytest.raises(SystemExit, match=r"noise_scale \(.*\) must be a finite factor >= 0"):
        evaluate_policy(
            pk.make_policy(), EvalConfig(task="pick_cube", episodes=2, noise_scale=scale, progress=False)
        )


@pytest.mark.parametrize(
    ("override", "message"),
    [({"sampler": "euler"}, r"sampler 'euler' does not fit .*'ddim', 'ddpm'"),
     ({"num_inference_steps": -2}, r"num_inference_steps must be at least 1")],
)  # fmt: skip
def test_a_sampler_the_checkpoint_cannot_take_is_refused_before_any_episode(
    pk, monkeypatch, override, message
):
    import honed.evaluation.evaluate as ev

    monkeypatch.setattr(ev, "run_episodes", lambda *a, **k: pytest.fail("an episode ran"))
    cfg = EvalConfig(task="pick_cube", episodes=2, num_envs=2, progress=False, **override)
    with pytest.raises(SystemExit, match=message + ".*num_inference_steps=0 for the checkpoint's own"):
        evaluate_policy(pk.make_policy(), cfg)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory) -> Path:
    """Three expert demonstrations of pick_cube recorded in the twin by honed-record's loop, each
    opening with a staged mistake (marked not to be imitated) and its recovery."""
    from honed.data.record_cli import RecordConfig, record

    root = tmp_path_factory.mktemp("demos") / "store"
    cfg = RecordConfig(store=str(root), robot="so101_twin", teleop="expert", task="pick_cube", episodes=3,
                       realtime=False, progress=False, reset_s=0.0, teleop_options={"recoveries": 1.0})  # fmt: skip
    assert record(cfg) == 0
    return root


def test_train_then_evaluate_end_to_end(demo_store, tmp_path):
    cfg = TrainConfig(**{**DEBUG.__dict__, "dataset": str(demo_store), "output": str(tmp_path / "run"),
                         "task": "pick_cube", "steps": 4, "progress": False, "eval_episodes": 2})  # fmt: skip
    cfg.policy = type(DEBUG.policy)(**{**DEBUG.policy.__dict__, "cameras": [], "unet_widths": [16, 32]})
    summary = train(cfg)
    assert summary["evaluations"][0]["step"] == 4
    frames = EpisodeStore.open(demo_store).num_frames
    assert summary["dataset"]["samples"] < frames  # the staged mistakes start no sample
    checkpoint = tmp_path / "run" / "checkpoints" / "last"
    out = tmp_path / "eval"
    result = evaluate(EvalConfig(checkpoint=str(checkpoint), task="pick_cube", episodes=3, num_envs=2, videos=1,
                                 episode_seconds=1.0, output=str(out), progress=False))  # fmt: skip
    saved = json.loads((out / "results.json").read_text())
    assert saved["episodes"] == 3 and len(saved["per_episode"]) == 3
    # by default on scenes neither the demos (0..2) nor the in-training evaluation drew
    assert [e["seed"] for e in saved["per_episode"]] == [HELD_OUT_SEED + k for k in range(3)]
    assert (
        saved["warnings"] == [] and saved["trained_tasks"] == ["pick_cube"] and saved["other_task"] is False
    )
    assert 0.0 <= saved["success_ci95"][0] <= saved["success_rate"] <= saved["success_ci95"][1] <= 1.0
    assert (out / "eval.png").stat().st_size > 1000 and (out / "index.html").exists()
    kinds = [k for k, v in result["videos"].items() if v]
    assert kinds and all((out / v).stat().st_size > 0 for k in kinds for v in result["videos"][k])
    comparison = compare(CompareConfig(a=str(out), b=str(out), output=str(tmp_path / "cmp")))
    assert comparison["paired_episodes"] == 3 and comparison["p_value"] == 1.0
    assert (tmp_path / "cmp" / "compare.png").exists()
    assert comparison["labels"] == [f"run/last{side}" for side in (" (a)", " (b)")]
    check_recorded_seeds_warn(checkpoint, tmp_path)
    from honed.benchmarks.pose import PoseBenchConfig, run_bench

    with pytest.raises(SystemExit, match="no pose head; train with policy.privileged_aux_weight > 0"):
        run_bench(PoseBenchConfig(checkpoint=str(checkpoint), episodes=2))


def check_recorded_seeds_warn(checkpoint: Path, tmp_path: Path) -> None:
    """Seeds the demos recorded (0..2) are named, in one line and in results.json; a checkpoint whose
    store is gone, or another task's scenes, say nothing."""
    out = tmp_path / "recorded"
    result = evaluate(EvalConfig(checkpoint=str(checkpoint), task="pick_cube", episodes=2, num_envs=2, seed=1,
                                 videos=0, episode_seconds=0.2, output=str(out), progress=False))  # fmt: skip
    (line,) = result["warnings"]
    assert line.startswith(
        "2 of the 2 episodes (seeds 1..2) start from scenes recorded in the training dataset"
    )
    assert line.endswith(f"pass seed={HELD_OUT_SEED} for held-out scenes")
    assert json.loads((out / "results.json").read_text())["warnings"] == [line]
    assert seed_warnings(str(checkpoint), "place_cube", range(3)) == []
    moved = tmp_path / "copy"
    shutil.copytree(checkpoint.resolve(), moved)
    run = json.loads((moved / "training" / "run.json").read_text())
    (moved / "training" / "run.json").write_text(json.dumps({**run, "dataset": str(tmp_path / "gone")}))
    assert seed_warnings(str(moved), "pick_cube", range(3)) == []


def test_a_task_the_checkpoint_was_not_trained_on_is_refused_unless_allowed(
    pk, tmp_path, monkeypatch, capsys
):
    """A state-only pick_cube checkpoint used to evaluate on push_t without a word."""
    import honed.evaluation.evaluate as ev

    policy = pk.make_policy()
    policy.contract = dataclasses.replace(policy.contract, trained_tasks=("pick_cube",))
    save_policy(policy, tmp_path / "ckpt")
    cfg = EvalConfig(checkpoint=str(tmp_path / "ckpt"), task="push_t", episodes=1, num_envs=1, videos=0,
                     episode_seconds=0.1, output=str(tmp_path / "out"), progress=False)  # fmt: skip
    with monkeypatch.context() as m:
        m.setattr(ev, "run_episodes", lambda *a, **k: pytest.fail("an episode ran"))
        with pytest.raises(ContractError, match=r"^task=push_t is not a task the checkpoint was trained on "
                           r"\(pick_cube\): evaluate on pick_cube, or pass allow_other_task=true"):  # fmt: skip
            evaluate(cfg)
    assert not (tmp_path / "out").exists()
    capsys.readouterr()
    evaluate(dataclasses.replace(cfg, allow_other_task=True))
    captured = capsys.readouterr()
    printed = json.loads(captured.out.strip().splitlines()[-1])
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    for summary in (printed, saved):
        assert summary["other_task"] is True and summary["trained_tasks"] == ["pick_cube"]
        assert summary["warnings"] == [
            "task=push_t is not a task the checkpoint was trained on (pick_cube); evaluated there because "
            "allow_other_task=true"
        ]
    assert "honed-eval: warning: task=push_t is not a task" in captured.err


def test_a_checkpoint_that_does_not_name_its_tasks_evaluates_with_a_warning(pk, capsys):
    cfg = EvalConfig(task="pick_cube", episodes=1, num_envs=1, episode_seconds=0.1, progress=False)
    result = evaluate_policy(pk.make_policy(), cfg)
    assert result["other_task"] is None and result["trained_tasks"] == []
    (line,) = result["warnings"]
    assert "does not name the tasks it was trained on" in line
    assert capsys.readouterr().err.count("honed-eval: warning:") == 1


def test_compare_labels_the_runs_by_their_checkpoints(tmp_path, monkeypatch):
    """compare.png used to label the runs by their evaluation folders (eval_pick_cube twice, or a and b)."""
    import honed.evaluation.evaluate as ev

    drawn = []
    monkeypatch.setattr(ev, "plot_comparison", lambda comparison, names, path: drawn.append(names))
    episodes = [{"seed": 100_000, "success": True}, {"seed": 100_001, "success": False}]
    for seed in ("seed0", "seed1"):
        folder = tmp_path / "runs" / seed / "checkpoints" / "best" / "eval_pick_cube"
        folder.mkdir(parents=True)
        config = {"checkpoint": f"runs/{seed}/checkpoints/best"}
        (folder / "results.json").write_text(json.dumps({"per_episode": episodes, "config": config}))
    a, b = (tmp_path / "runs" / s / "checkpoints/best/eval_pick_cube" for s in ("seed0", "seed1"))
    comparison = compare(CompareConfig(a=str(a), b=str(b)))
    assert drawn == [("seed0/best", "seed1/best")] and comparison["labels"] == ["seed0/best", "seed1/best"]


def test_a_pose_loss_run_on_twin_demos_evaluates_without_reading_object_poses(demo_store, tmp_path):
    """With pose_on_not_imitated the staged mistakes' frames start samples too (for the pose loss); the
    cube's offset from the jaws joins the head's targets, and the checkpoint loads back with that head."""
    cfg = TrainConfig(**{**DEBUG.__dict__, "dataset": str(demo_store), "output": str(tmp_path / "run"),
                         "steps": 2, "batch_size": 4, "log_every": 1, "progress": False})  # fmt: skip
    cfg.policy = type(DEBUG.policy)(**{**DEBUG.policy.__dict__, "cameras": ["front"], "unet_widths": [16, 32],
                                       "image_width": 16, "privileged_aux_weight": 1.0,
                                       "pose_on_not_imitated": True, "pose_offsets": [[3, 0]]})  # fmt: skip
    summary = train(cfg)
    assert summary["dataset"]["samples"] == EpisodeStore.open(demo_store).num_frames
    rows = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and all(r["pose_loss"] > 0 for r in rows)
    checkpoint = tmp_path / "run" / "checkpoints" / "last"
    policy = load_policy(checkpoint)
    assert policy.pose_head is not None and "observation.privileged" in policy.contract.stats
    assert set(policy.contract.features) == {"observation.state", "observation.images.front", "action"}
    result = evaluate(EvalConfig(checkpoint=str(checkpoint), task="pick_cube", episodes=2, num_envs=2, videos=0,
                                 episode_seconds=0.5, output=str(tmp_path / "eval"), progress=False))  # fmt: skip
    assert [e["length"] for e in result["per_episode"]] == [15, 15]
    check_pose_bench(checkpoint, demo_store, tmp_path / "pose")
    check_ensemble_pose_bench(checkpoint, tmp_path)


def check_ensemble_pose_bench(checkpoint: Path, tmp_path: Path) -> None:
    """An ensemble's pose reading is the mean of its members' heads; a member without one is named."""
    from honed.benchmarks.pose import PoseBenchConfig, pose_readers, run_bench
    from honed.policies.diffusion.ensemble import join_policies

    first, second = load_policy(checkpoint), load_policy(checkpoint)
    assert isinstance(second, DiffusionPolicy) and second.pose_head is not None
    with torch.no_grad():
        second.pose_head.linear.bias.add_(0.5)
    save_policy(second, tmp_path / "second")
    save_policy(join_policies([first, second], ["first", "second"]), tmp_path / "ens")

    def predicted(out: Path) -> np.ndarray:
        return np.array([r["pred_xy"] for r in json.loads((out / "pose.json").read_text())["per_episode"]])

    readings = {}
    for name in ("second", "ens"):
        out = tmp_path / f"pose_{name}"
        run_bench(
            PoseBenchConfig(
                checkpoint=str(tmp_path / name), episodes=3, num_envs=2, threads=1, output=str(out)
            )
        )
        readings[name] = predicted(out)
    alone = predicted(tmp_path / "pose")
    assert np.abs(readings["second"] - alone).max() > 1e-3
    np.testing.assert_allclose(readings["ens"], (alone + readings["second"]) / 2, atol=2e-5)
    second.pose_head = None
    with pytest.raises(SystemExit, match=r"members \[1\] of ens has no pose head"):
        pose_readers(join_policies([first, second], ["first", "second"]), "ens")


def check_pose_bench(checkpoint: Path, demo_store: Path, out: Path) -> None:
    """honed-bench pose reads the head on evaluation first frames (joined to honed-eval by seed, the
    truth being the twin's cube at that seed) and on demo frames."""
    from honed.benchmarks.pose import PoseBenchConfig, run_bench
    from honed.features import PRIVILEGED
    from honed.sim import make_batched_env

    summary = run_bench(PoseBenchConfig(checkpoint=str(checkpoint), episodes=3, num_envs=2, dataset=str(demo_store),
                                        demo_frames=8, threads=1, output=str(out)))  # fmt: skip
    saved = json.loads((out / "pose.json").read_text())
    rows = saved["per_episode"]
    assert [r["seed"] for r in rows] == [100_000, 100_001, 100_002] and summary["demo_frames"] == 8
    env = make_batched_env("pick_cube", 1, cameras=())
    try:
        cube = env.reset(seed=100_002)[PRIVILEGED][0, 3:5].numpy()
    finally:
        env.close()
    np.testing.assert_allclose(rows[2]["true_xy"], cube, atol=1e-5)
    for r in rows:
        assert r["error_mm"] == pytest.approx(
            1000 * np.hypot(*np.subtract(r["pred_xy"], r["true_xy"])), abs=0.02
        )
    assert summary["eval_mean_mm"] == pytest.approx(np.mean([r["error_mm"] for r in rows]), abs=0.02)
    assert summary["demo_mean_mm"] > 0 and (out / "pose.png").stat().st_size > 1000


def test_best_checkpoint_follows_in_training_evaluation_across_a_resume(demo_store, tmp_path, monkeypatch):
    """Checkpoint choice is tested here, so the twin's score per evaluated step is scripted."""
    import honed.policies.train as train_module

    scores = iter([0.6, 0.2, 0.4, 0.3])  # steps 2, 4, 6, 8
    monkeypatch.setattr(train_module, "evaluate_during_training",
                        lambda policy, cfg: {"success_rate": next(scores), "mean_return": 1.0, "mean_length": 9})  # fmt: skip
    cfg = TrainConfig(**{**DEBUG.__dict__, "dataset": str(demo_store), "output": str(tmp_path / "run"),
                         "task": "pick_cube", "steps": 8, "save_every": 100, "eval_every": 2, "progress": False})  # fmt: skip
    cfg.policy = type(DEBUG.policy)(**{**DEBUG.policy.__dict__, "cameras": [], "unet_widths": [16, 32]})
    train(dataclasses.replace(cfg, stop_after=4))
    summary = train(dataclasses.replace(cfg, resume=True))
    root = tmp_path / "run" / "checkpoints"
    assert summary["resumed_from"] == 4 and next(scores, None) is None
    # the readings from before the resume are kept, in the summary and in evaluations.jsonl
    readings = [(e["step"], e["success_rate"]) for e in summary["evaluations"]]
    assert readings == [(2, 0.6), (4, 0.2), (6, 0.4), (8, 0.3)]
    logged = [json.loads(line) for line in (tmp_path / "run/evaluations.jsonl").read_text().splitlines()]
    assert logged == summary["evaluations"]
    assert summary["best"] == {"step": 2, "success_rate": 0.6, "mean_return": 1.0}
    assert (root / "best").resolve().name == "step_0000002"
    assert sorted(p.name for p in root.glob("step_*")) == ["step_0000002", "step_0000006", "step_0000008"]
    assert load_policy(root / "best").contract.tasks == load_policy(root / "last").contract.tasks
    with pytest.raises(ValueError, match="already holds a training run"):  # nor is best another run's to drop
        train(dataclasses.replace(cfg, steps=4, eval_every=4, resume=False))
    assert (root / "best").resolve().name == "step_0000002"
    scores = iter([0.1])
    fresh = train(dataclasses.replace(cfg, steps=4, eval_every=4, resume=False, overwrite=True))
    assert fresh["best"] == {"step": 4, "success_rate": 0.1, "mean_return": 1.0}
    assert [e["step"] for e in fresh["evaluations"]] == [4]  # a fresh run forgets the old readings


def test_camera_policy_evaluates_on_rendered_images(pk, tmp_path):
    policy = pk.make_policy(("front", "wrist"))
    save_policy(policy, tmp_path / "ckpt")
    result = evaluate(EvalConfig(checkpoint=str(tmp_path / "ckpt"), task="place_cube", episodes=2, num_envs=2,
                                 videos=0, episode_seconds=0.5, output=str(tmp_path / "out"), progress=False))  # fmt: skip
    assert [e["length"] for e in result["per_episode"]] == [15, 15]
    assert torch.isfinite(torch.tensor(result["mean_return"]))
