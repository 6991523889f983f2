"""Training on real episode stores: exact resume, bad data refused up front, NaN stops with its step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from honed.policies import load_policy
from honed.policies.cli import main as train_main
from honed.policies.diffusion.objectives import DDPM
from honed.policies.train import train
from honed.policies.train_config import DEBUG, TrainConfig
from honed.training.guard import TrainingDiverged
from honed.training.state import training_dataset


def config(dataset: Path, output: Path, **overrides) -> TrainConfig:
    cfg = TrainConfig(**{**DEBUG.__dict__, "dataset": str(dataset), "output": str(output), "progress": False})
    cfg.policy = type(DEBUG.policy)(**{**DEBUG.policy.__dict__, "cameras": [], "unet_widths": [16, 32]})
    for key, value in overrides.items():
        if key.startswith("policy_"):
            setattr(cfg.policy, key.removeprefix("policy_"), value)
        else:
            setattr(cfg.policy if key == "language" else cfg, key, value)
    return cfg


def tensors(folder: Path) -> dict[str, torch.Tensor]:
    return {**load_file(str(folder / "model.safetensors")),
            **load_file(str(folder / "training" / "state.safetensors"))}  # fmt: skip


def test_an_evaluation_execution_count_beyond_the_horizon_is_refused_before_work(state_store, tmp_path):
    with pytest.raises(
        ValueError, match=r"eval_n_action_steps \(9\) must be between 1 and policy.horizon \(8\)"
    ):
        train(config(state_store, tmp_path / "run", eval_n_action_steps=9))
    assert not (tmp_path / "run").exists()


def test_two_steps_then_resume_equals_an_uninterrupted_run(state_store, tmp_path):
    straight = train(config(state_store, tmp_path / "a", steps=4, save_every=2, log_every=1))
    train(config(state_store, tmp_path / "b", steps=4, save_every=2, stop_after=2, log_every=1))
    assert (tmp_path / "b" / "checkpoints" / "last").resolve().name == "step_0000002"
    resumed = train(config(state_store, tmp_path / "b", steps=4, save_every=2, resume=True, log_every=1))
    assert resumed["resumed_from"] == 2 and straight["resumed_from"] == 0
    assert resumed["total_wall_s"] > resumed["wall_s"]  # the time before the resume is counted
    a, b = tensors(tmp_path / "a/checkpoints/last"), tensors(tmp_path / "b/checkpoints/last")
    assert a.keys() == b.keys()
    different = [k for k in a if k != "rng.torch" and not torch.equal(a[k], b[k])]
    assert not different, different[:5]
    history = [json.loads(line)["step"] for line in (tmp_path / "b/history.jsonl").read_text().splitlines()]
    assert history == [1, 2, 3, 4]


def test_init_from_starts_a_fresh_run_from_a_checkpoints_weights_and_statistics(state_store, tmp_path):
    train(config(state_store, tmp_path / "a", steps=3, log_every=1))
    start = tmp_path / "a" / "checkpoints" / "last"
    # at lr 0 the weights cannot move: what the new run saves is exactly what it started from
    frozen = train(config(state_store, tmp_path / "b", steps=2, lr=0.0, log_every=1, init_from=str(start)))
    assert frozen["resumed_from"] == 0
    assert [json.loads(line)["step"] for line in (tmp_path / "b/history.jsonl").read_text().splitlines()] == [
        1,
        2,
    ]
    a, b = (
        load_file(str(folder / "model.safetensors")) for folder in (start, tmp_path / "b/checkpoints/last")
    )
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert load_policy(tmp_path / "b/checkpoints/last").contract.digest == load_policy(start).contract.digest
    moved = train(config(state_store, tmp_path / "c", steps=2, lr=1e-3, init_from=str(start)))
    c = load_file(str(tmp_path / "c/checkpoints/last/model.safetensors"))
    assert any(not torch.equal(a[k], c[k]) for k in a) and moved["config"]["init_from"] == str(start)


def test_init_from_a_checkpoint_of_another_config_names_the_differing_fields(state_store, tmp_path):
    train(config(state_store, tmp_path / "a", steps=1))
    cfg = config(state_store, tmp_path / "b", init_from=str(tmp_path / "a/checkpoints/last"))
    cfg.policy.kernel_size = 3
    with pytest.raises(ValueError, match=r"init_from=.*policy.kernel_size=3 \(checkpoint: 5\)"):
        train(cfg)
    assert not (tmp_path / "b" / "checkpoints").exists()


def test_init_from_a_task_embedding_refuses_instructions_it_never_saw(state_store, tmp_path, pk):
    train(config(state_store, tmp_path / "a", steps=1, language="embedding"))
    start = str(tmp_path / "a/checkpoints/last")
    new_words = pk.record_store(tmp_path / "new", [30, 30], tasks=("move the arm", "lift the arm")).root
    with pytest.raises(
        ValueError,
        match=r"instructions \['lift the arm'\] are not among the \['move the arm', 'wave the arm'\]",
    ):
        train(config(new_words, tmp_path / "b", steps=1, language="embedding", init_from=start))
    assert not (tmp_path / "b" / "checkpoints").exists()
    fewer = pk.record_store(tmp_path / "fewer", [30, 30], tasks=("wave the arm",)).root
    summary = train(config(fewer, tmp_path / "c", steps=1, language="embedding", init_from=start))
    assert load_policy(tmp_path / "c/checkpoints/last").contract.tasks == ("move the arm", "wave the arm")
    assert summary["config"]["init_from"] == start


def test_outputs_of_a_run(state_store, tmp_path):
    summary = train(config(state_store, tmp_path / "run", steps=6, save_every=3, log_every=2))
    out = tmp_path / "run"
    assert (out / "loss.png").stat().st_size > 1000
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert json.loads((out / "summary.json").read_text())["final_loss"] == summary["final_loss"]
    assert sorted(p.name for p in (out / "checkpoints").glob("step_*")) == ["step_0000003", "step_0000006"]
    policy = load_policy(out / "checkpoints" / "last")
    assert policy.contract.tasks == ("move the arm", "wave the arm")
    assert policy.contract.control_hz == 30.0
    assert training_dataset(out / "checkpoints" / "last") == state_store.resolve()  # from training/run.json


def test_features_the_data_lacks_are_named_before_training(state_store, tmp_path):
    cfg = config(state_store, tmp_path / "run")
    cfg.policy.cameras = ["wrist"]
    with pytest.raises(ValueError, match="cameras"):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()
    with pytest.raises(ValueError, match="dataset"):
        train(config(tmp_path / "missing", tmp_path / "run"))


def test_nan_loss_stops_naming_step_and_batch_and_keeps_the_last_checkpoint(
    state_store, tmp_path, monkeypatch
):
    calls = {"n": 0}
    real_loss = DDPM.loss

    def loss_turning_nan(self, *args, **kwargs):
        calls["n"] += 1
        out = real_loss(self, *args, **kwargs)
        return out * float("nan") if calls["n"] == 4 else out

    monkeypatch.setattr(DDPM, "loss", loss_turning_nan)
    with pytest.raises(TrainingDiverged, match=r"loss is nan at step 3 on samples \[.*episode \d+ frame \d+"):
        train(config(state_store, tmp_path / "run", steps=6, save_every=2))
    last = (tmp_path / "run" / "checkpoints" / "last").resolve()
    assert last.name == "step_0000002"
    assert torch.isfinite(load_policy(last).denoiser.film.weight).all()


def test_a_text_language_policy_trains_with_ema_and_saves(state_store, tmp_path):
    """Its frozen text model sits among the trainable parameters: swapping the EMA weights in used to
    pair the average's tensors with all parameters and failed at the first checkpoint."""
    train(config(state_store, tmp_path / "run", steps=2, language="text", policy_text_model="tiny"))
    policy = load_policy(tmp_path / "run" / "checkpoints" / "last")
    assert policy.contract.tasks == ("move the arm", "wave the arm")
    assert torch.isfinite(policy.language.project.weight).all()


def test_image_policy_trains_and_loads(image_store, tmp_path):
    cfg = config(image_store, tmp_path / "run", steps=2, batch_size=4)
    cfg.policy.cameras = None
    train(cfg)
    policy = load_policy(tmp_path / "run" / "checkpoints" / "last")
    assert policy.image_keys == ["observation.images.front"]


def test_bf16_autocast_changes_the_arithmetic_not_the_stored_weights(state_store, tmp_path):
    fp32 = train(config(state_store, tmp_path / "fp32", steps=2, log_every=1))
    bf16 = train(config(state_store, tmp_path / "bf16", steps=2, log_every=1, precision="bf16"))
    losses = [[json.loads(line)["loss"] for line in (tmp_path / run / "history.jsonl").read_text().splitlines()]
              for run in ("fp32", "bf16")]  # fmt: skip
    assert losses[0][0] != losses[1][0] and losses[1][0] == pytest.approx(losses[0][0], rel=0.05)
    weights = load_file(str(tmp_path / "bf16/checkpoints/last/model.safetensors"))
    assert all(w.dtype == torch.float32 and torch.isfinite(w).all() for w in weights.values())
    assert fp32["final_loss"] > 0 and bf16["final_loss"] > 0


def test_unknown_precision_is_named(state_store, tmp_path):
    with pytest.raises(ValueError, match="precision='fp16'.*fp32"):
        train(config(state_store, tmp_path / "run", precision="fp16"))


def test_a_fresh_run_into_a_folder_holding_a_run_is_refused_and_the_run_kept(state_store, tmp_path):
    """A fresh 2-step run into a 4-step run's folder used to prune by the highest step names (the old
    run's) and delete its own steps as written, leaving ``last`` pointing at nothing."""
    out = tmp_path / "run"
    train(config(state_store, out, steps=4, save_every=2, log_every=1))
    before = sorted(p.name for p in (out / "checkpoints").iterdir())
    summary = (out / "summary.json").read_text()
    with pytest.raises(ValueError, match=r"output=.*run already holds a training run \(last checkpoint "
                       r"step_0000004\): pass resume=true .*, a new output=.*, or overwrite=true to remove its "
                       r"checkpoints, tensorboard, summary.json, history.jsonl, loss.png first"):  # fmt: skip
        train(config(state_store, out, steps=2, save_every=1))
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == before
    assert (out / "checkpoints" / "last").resolve().name == "step_0000004"
    assert (out / "summary.json").read_text() == summary
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(
        ValueError, match=r"output=.*mine is not empty and holds no training run: pass a new output="
    ):
        train(config(state_store, mine, steps=1))
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    with pytest.raises(SystemExit) as refused:  # the command says it in one line, before opening the data
        train_main(["preset=debug", "dataset=/nonexistent", f"output={out}"])
    assert str(refused.value).startswith(f"honed-train: output={out} already holds") and "\n" not in str(
        refused.value
    )


def test_overwrite_removes_the_earlier_run_first_and_names_what_it_removed(state_store, tmp_path, capsys):
    out = tmp_path / "run"
    train(config(state_store, out, steps=4, save_every=2, log_every=1))
    (out / "notes.txt").write_text("mine")
    with pytest.raises(
        ValueError, match="resume=true continues the run in output, overwrite=true removes it"
    ):
        train(config(state_store, out, steps=2, resume=True, overwrite=True))
    with pytest.raises(ValueError, match="cameras"):  # a refused run removes nothing
        train(config(state_store, out, steps=2, overwrite=True, policy_cameras=["wrist"]))
    assert (out / "checkpoints" / "last").resolve().name == "step_0000004"
    summary = train(config(state_store, out, steps=2, save_every=1, log_every=1, overwrite=True))
    assert "overwrite=true: removed checkpoints, tensorboard, summary.json, history.jsonl, loss.png" in (
        capsys.readouterr().err
    )
    assert sorted(p.name for p in (out / "checkpoints").glob("step_*")) == ["step_0000001", "step_0000002"]
    assert Path(summary["checkpoint"]) == (out / "checkpoints" / "step_0000002").resolve()
    assert [json.loads(line)["step"] for line in (out / "history.jsonl").read_text().splitlines()] == [1, 2]
    assert (out / "notes.txt").read_text() == "mine"


def test_init_from_on_other_data_names_every_task_trained_on(tmp_path, pk):
    picks = pk.record_store(tmp_path / "picks", [30, 30], meta={"twin_task": "pick_cube"}).root
    places = pk.record_store(tmp_path / "places", [30, 30], meta={"twin_task": "place_cube"}).root
    train(config(picks, tmp_path / "a", steps=1))
    start = tmp_path / "a" / "checkpoints" / "last"
    assert load_policy(start).contract.trained_tasks == ("pick_cube",)
    train(config(places, tmp_path / "b", steps=2, stop_after=1, init_from=str(start)))
    both = ("pick_cube", "place_cube")
    assert load_policy(tmp_path / "b/checkpoints/last").contract.trained_tasks == both
    train(config(places, tmp_path / "b", steps=2, resume=True, init_from=str(start)))
    assert load_policy(tmp_path / "b/checkpoints/last").contract.trained_tasks == both
