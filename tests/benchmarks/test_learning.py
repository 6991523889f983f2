"""``honed-bench learning`` end to end at toy size: demos, training with in-training evaluation, the
benchmark on the chosen checkpoint."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from honed.benchmarks.learning import (
    VERB,
    LearningBenchConfig,
    check_docs_section,
    command_line,
    docs_key,
    run_bench,
    table,
    train_config,
)


def test_best_checkpoint_is_benchmarked_and_reported(tmp_path, capsys, monkeypatch):
    import honed.evaluation.evaluate as evaluate_module

    executed: list[int] = []  # actions per chunk of every evaluation, in training and after
    real = evaluate_module.evaluate_policy
    monkeypatch.setattr(evaluate_module, "evaluate_policy",
                        lambda policy, ecfg, *rest: executed.append(ecfg.n_action_steps) or real(policy, ecfg, *rest))  # fmt: skip
    cfg = dataclasses.replace(VERB.presets["debug"], output=str(tmp_path), eval_every=2, eval_episodes=2,
                              select="best", threads=1, num_workers=0, eval_n_action_steps=4)  # fmt: skip
    out = run_bench(cfg)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == out
    assert [e["step"] for e in out["in_training_evaluations"]] == [2, 4]
    assert executed == [4, 4, 4] and out["eval_n_action_steps"] == 4 and out["n_action_steps"] == 8
    best = json.loads((tmp_path / "pick_cube_state/run/checkpoints/best.json").read_text())
    assert out["checkpoint"] == "best" and out["checkpoint_step"] == best["step"]
    saved = json.loads((tmp_path / "pick_cube_state/eval/results.json").read_text())
    assert saved["episodes"] == out["eval_episodes"] == 2 and saved["n_action_steps"] == 4
    assert docs_key(cfg) == "learning_pick_cube_state_demos2_executing4"  # demo counts but 100 are named
    assert f"best (step {best['step']})" in table(out)
    assert f"Training ran at {out['train_samples_per_s']} samples/s" in table(out)


@pytest.mark.parametrize("select, every", [("best", 0), ("first", 2)])
def test_a_checkpoint_choice_it_cannot_make_is_refused_before_work(tmp_path, select, every):
    cfg = LearningBenchConfig(output=str(tmp_path), select=select, eval_every=every)
    with pytest.raises(SystemExit, match="select="):
        run_bench(cfg)
    assert not any(tmp_path.iterdir())


def test_recovery_demos_are_recorded_apart_from_plain_ones(tmp_path, capsys):
    cfg = dataclasses.replace(VERB.presets["debug"], output=str(tmp_path), recoveries=1.0, threads=1,
                              num_workers=0, steps=2)  # fmt: skip
    out = run_bench(cfg)
    from honed.data.store import EpisodeStore

    assert out["recoveries"] == 1.0
    assert EpisodeStore.open(tmp_path / "pick_cube/store_state_recoveries1").num_episodes == 2
    assert not (tmp_path / "pick_cube/store_state").exists()


def test_snapped_gripper_demos_are_recorded_apart_and_named_in_the_docs_section(tmp_path, capsys):
    from honed.data.store import EpisodeStore

    cfg = dataclasses.replace(VERB.presets["debug"], output=str(tmp_path), snap_gripper=True, threads=1,
                              num_workers=0, steps=2)  # fmt: skip
    out = run_bench(cfg)
    assert out["snap_gripper"] is True and docs_key(cfg) == "learning_pick_cube_state_snap_demos2"
    episode = EpisodeStore.open(tmp_path / "pick_cube/store_state_snap").episode(0)
    gripper_command = episode.array("action")[:, 5]
    assert np.all(np.isclose(gripper_command, 1.0, atol=1e-4) | np.isclose(gripper_command, -0.15, atol=1e-4))
    assert not (tmp_path / "pick_cube/store_state").exists()


def test_named_recovery_kinds_reach_the_expert_and_get_their_own_store(tmp_path, capsys):
    """recovery_kinds=[land]: every demo's marked mistake is a landing, whose jaws never close (a retry's
    do) and whose mark runs on through the descent (a correction's ends with the approach)."""
    from honed.data.store import EpisodeStore

    cfg = dataclasses.replace(VERB.presets["debug"], output=str(tmp_path), recoveries=1.0, recovery_kinds=["land"],
                              threads=1, num_workers=0, steps=2)  # fmt: skip
    out = run_bench(cfg)
    assert out["recovery_kinds"] == ["land"]
    assert docs_key(cfg) == "learning_pick_cube_state_recoveries1_land_demos2"
    store = EpisodeStore.open(tmp_path / "pick_cube/store_state_recoveries1_land")
    for e in range(store.num_episodes):
        episode = store.episode(e)
        [[start, stop]] = episode.meta["not_imitated"]
        gripper_command = episode.array("action")[:stop, 5]
        assert start == 0 and np.all(np.diff(gripper_command) > -1e-3)  # opens, never closes
        assert stop > 45  # past the approach (a ``correct`` mark ends there): the descent onto the cube
    assert not (tmp_path / "pick_cube/store_state_recoveries1").exists()


@pytest.mark.parametrize(
    "recoveries, kinds, message",
    [(0.0, ["land"], "set recoveries > 0"), (0.5, ["retry", "slip"], r"\['slip'\].*land")],
)
def test_recovery_kinds_it_cannot_stage_are_refused_before_work(tmp_path, recoveries, kinds, message):
    cfg = LearningBenchConfig(output=str(tmp_path), recoveries=recoveries, recovery_kinds=kinds)
    with pytest.raises(SystemExit, match=message):
        run_bench(cfg)
    assert not any(tmp_path.iterdir())


def test_state_runs_record_demos_without_camera_frames(tmp_path, capsys):
    from honed.data.store import EpisodeStore
    from honed.features import ACTION, IMAGE_PREFIX, PRIVILEGED, STATE

    cfg = dataclasses.replace(VERB.presets["debug"], output=str(tmp_path), threads=1, num_workers=0, steps=2)
    run_bench(cfg)
    store = EpisodeStore.open(tmp_path / "pick_cube/store_state")
    assert store.num_episodes == 2
    assert not [k for k in store.features if k.startswith(IMAGE_PREFIX)]
    assert {STATE, PRIVILEGED, ACTION} <= set(store.features)


@pytest.mark.parametrize("recoveries", [-0.5, 1.5])
def test_a_recovery_fraction_outside_0_to_1_is_refused_before_work(tmp_path, recoveries):
    with pytest.raises(SystemExit, match="recoveries"):
        run_bench(LearningBenchConfig(output=str(tmp_path), recoveries=recoveries))
    assert not any(tmp_path.iterdir())


def test_a_longer_chunk_is_trained_and_recorded_under_its_own_docs_section(tmp_path, capsys):
    cfg = dataclasses.replace(VERB.presets["debug"], output=str(tmp_path), horizon=32, n_action_steps=16,
                              threads=1, num_workers=0)  # fmt: skip
    out = run_bench(cfg)
    assert (out["horizon"], out["n_action_steps"]) == (32, 16)
    saved = json.loads((tmp_path / "pick_cube_state/run/checkpoints/last/config.json").read_text())
    assert (saved["config"]["horizon"], saved["config"]["n_action_steps"]) == (32, 16)
    assert docs_key(cfg) == "learning_pick_cube_state_demos2_h32a16"
    cfg = dataclasses.replace(cfg, demos=100)
    assert docs_key(dataclasses.replace(cfg, horizon=16, n_action_steps=8, recoveries=0.3)) == (
        "learning_pick_cube_state_recoveries0.3"
    )
    assert docs_key(dataclasses.replace(cfg, demos=200, recoveries=0.3)) == (
        "learning_pick_cube_state_recoveries0.3_demos200_h32a16"
    )
    narrow = dataclasses.replace(cfg, obs="images", image_width=16, n_obs_steps=1)
    assert docs_key(narrow) == "learning_pick_cube_images_h32a16_w16"
    # observation history is named where it is not the usual one, so such a run gets its own section
    assert docs_key(dataclasses.replace(narrow, n_obs_steps=2)) == "learning_pick_cube_images_h32a16_obs2_w16"
    assert docs_key(dataclasses.replace(cfg, n_obs_steps=1)) == "learning_pick_cube_state_h32a16_obs1"
    assert (
        docs_key(dataclasses.replace(narrow, obs="state", n_obs_steps=2)) == "learning_pick_cube_state_h32a16"
    )
    assert (
        docs_key(dataclasses.replace(narrow, privileged_aux=1.0))
        == "learning_pick_cube_images_h32a16_w16_poseaux1"
    )
    assert (
        docs_key(dataclasses.replace(narrow, image_stages=3))
        == "learning_pick_cube_images_h32a16_w16_stages3"
    )
    assert (
        docs_key(dataclasses.replace(narrow, obs="state", n_obs_steps=2, image_stages=3))
        == "learning_pick_cube_state_h32a16"
    )


def test_a_pose_loss_for_a_state_run_is_refused_before_work(tmp_path):
    with pytest.raises(SystemExit, match="obs=images"):
        run_bench(LearningBenchConfig(output=str(tmp_path), privileged_aux=1.0))
    assert not (tmp_path / "pick_cube").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("image_width", 40),
        ("image_stages", 5),
        ("eval_n_action_steps", 17),
        ("eval_n_action_steps", -1),
        ("privileged_aux", -1.0),
    ],
)
def test_a_bad_width_or_execution_count_is_refused_before_any_demo_is_recorded(tmp_path, field, value):
    cfg = dataclasses.replace(LearningBenchConfig(output=str(tmp_path), obs="images"), **{field: value})
    with pytest.raises(SystemExit, match=field) as refusal:
        run_bench(cfg)
    assert "policy." not in str(refusal.value)  # the fix names this command's own field
    assert not (tmp_path / "pick_cube").exists()


@pytest.mark.parametrize(("horizon", "steps"), [(18, 8), (16, 17)])
def test_a_chunk_shape_the_policy_cannot_take_is_refused_before_work(tmp_path, horizon, steps):
    with pytest.raises(SystemExit, match="horizon"):
        run_bench(LearningBenchConfig(output=str(tmp_path), horizon=horizon, n_action_steps=steps))
    assert not (tmp_path / "pick_cube").exists()


def test_a_run_continues_from_a_checkpoint_under_its_own_docs_section(tmp_path, capsys):
    first = dataclasses.replace(VERB.presets["debug"], output=str(tmp_path / "a"), threads=1, num_workers=0,
                                steps=2)  # fmt: skip
    run_bench(first)
    start = tmp_path / "a/pick_cube_state/run/checkpoints/last"
    later = dataclasses.replace(first, output=str(tmp_path / "b"), init_from=str(start))
    out = run_bench(later)
    summary = json.loads((tmp_path / "b/pick_cube_state/run/summary.json").read_text())
    assert summary["config"]["init_from"] == str(start) and out["init_from"] == str(start)
    assert docs_key(later) == "learning_pick_cube_state_demos2_continued_from2"
    assert f"continued from `{start}`" in table(out)


def test_a_start_checkpoint_that_is_missing_is_refused_before_any_demo_is_recorded(tmp_path):
    with pytest.raises(SystemExit, match="init_from="):
        run_bench(LearningBenchConfig(output=str(tmp_path), init_from=str(tmp_path / "nowhere")))
    assert not any(tmp_path.iterdir())


def test_a_store_with_fewer_demos_is_topped_up_on_the_next_seeds(tmp_path, capsys):
    from honed.benchmarks.learning import demo_store, record_demos
    from honed.data.store import EpisodeStore

    cfg = dataclasses.replace(VERB.presets["debug"], output=str(tmp_path))
    store = demo_store(cfg)
    assert record_demos(cfg, store) > 0
    assert record_demos(dataclasses.replace(cfg, demos=3), store) > 0
    held = EpisodeStore.open(store)
    assert [held.episode(i).meta["seed"] for i in range(held.num_episodes)] == [0, 1, 2]
    assert record_demos(dataclasses.replace(cfg, demos=3), store) == 0.0  # nothing left to record


def test_a_run_that_would_replace_a_section_of_other_settings_is_refused_before_work(tmp_path, monkeypatch):
    from honed.benchmarks import results

    docs = tmp_path / "benchmarks.md"
    monkeypatch.setattr(results, "DOCS", docs)
    cfg = dataclasses.replace(VERB.presets["debug"], output=str(tmp_path / "out"), write_docs=True)
    recorded = command_line(dataclasses.replace(cfg, steps=16))
    results.record_in_docs(docs_key(cfg), recorded, "| table |", [results.Figure("success", "1%")])
    with pytest.raises(SystemExit, match=r"would replace the .* figures .*steps 16 -> 4.*label=<name>"):
        run_bench(cfg)
    assert not (tmp_path / "out").exists()  # refused before any demo was recorded
    assert "steps=16 " in docs.read_text()  # and the recorded run is kept
    # a label records it beside the other; the same settings again (elsewhere, on more threads) may replace it
    assert docs_key(dataclasses.replace(cfg, label="short")).endswith("_short")
    check_docs_section(dataclasses.replace(cfg, label="short"))
    check_docs_section(dataclasses.replace(cfg, steps=16, threads=2, output="elsewhere"))
    with pytest.raises(SystemExit, match="label='a b'"):
        run_bench(dataclasses.replace(cfg, label="a b"))


def test_the_training_seed_reaches_training_and_names_its_own_section(tmp_path):
    cfg = dataclasses.replace(VERB.presets["debug"], output=str(tmp_path), seed=3)
    assert train_config(cfg, tmp_path / "store", tmp_path / "run").seed == 3
    assert docs_key(cfg).endswith("_seed3") and " seed=3 " in command_line(cfg)
    assert "seed=" not in command_line(dataclasses.replace(cfg, seed=0))


def test_the_objective_and_denoiser_reach_the_policy_and_name_their_own_section(tmp_path):
    cfg = dataclasses.replace(
        VERB.presets["debug"], output=str(tmp_path), objective="flow", denoiser="transformer"
    )
    policy = train_config(cfg, tmp_path / "store", tmp_path / "run").policy
    assert (policy.objective, policy.sampler, policy.denoiser) == ("flow", "euler", "transformer")
    assert docs_key(cfg).endswith("_flow_transformer")
    assert " objective=flow denoiser=transformer " in command_line(cfg)
    default = dataclasses.replace(cfg, objective="ddpm", denoiser="unet")
    assert train_config(default, tmp_path / "store", tmp_path / "run").policy.sampler == "ddim"
    assert "flow" not in docs_key(default) and "objective=" not in command_line(default)


@pytest.mark.parametrize("field, value", [("objective", "score"), ("denoiser", "mlp")])
def test_an_unknown_objective_or_denoiser_is_refused_before_any_demo_is_recorded(tmp_path, field, value):
    cfg = dataclasses.replace(VERB.presets["debug"], output=str(tmp_path), **{field: value})
    with pytest.raises(SystemExit, match=f"{value}"):
        run_bench(cfg)
    assert not any(tmp_path.iterdir())
