"""The shared loop parts on their own: EMA weights swapped in and out, the finite guard's message,
when the periodic evaluation runs and the mode it leaves the model in, and the run's summary."""

from __future__ import annotations

import json

import pytest
import torch

from honed.training.checkpoints import point
from honed.training.ema import EMA, ema_weights
from honed.training.evaluator import PeriodicEvaluator
from honed.training.guard import FiniteGuard, TrainingDiverged
from honed.training.report import TrainLog


def frozen_in_the_middle() -> tuple[torch.nn.Sequential, list[torch.nn.Parameter]]:
    """Three layers, the middle one frozen (as a pretrained text model sits among trained layers)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 5), torch.nn.Linear(5, 2))
    model[1].requires_grad_(False)
    return model, [p for p in model.parameters() if p.requires_grad]


def test_ema_weights_swap_in_the_average_of_the_trained_parameters_only():
    """With a frozen layer among the trained ones, putting the average in used to pair its tensors
    with every parameter, and failed (or would have written them into the wrong layers)."""
    model, params = frozen_in_the_middle()
    ema = EMA(params, power=0.75)
    raw = {k: v.clone() for k, v in model.state_dict().items()}
    for _ in range(2):  # the warm-up's first step copies the weights; the second averages
        with torch.no_grad():
            for p in params:
                p.add_(1.0)
        ema.step()
    moved = {k: v.clone() for k, v in model.state_dict().items()}
    with ema_weights(ema):
        inside = {k: v.clone() for k, v in model.state_dict().items()}
    assert torch.equal(inside["1.weight"], raw["1.weight"])  # the frozen layer is left alone
    for name, shadow in zip(["0.weight", "0.bias", "2.weight", "2.bias"], ema.shadow_params):
        assert torch.equal(inside[name], shadow) and not torch.equal(inside[name], moved[name])
    assert all(torch.equal(v, moved[k]) for k, v in model.state_dict().items())  # raw weights are back
    with pytest.raises(RuntimeError, match="during"), ema_weights(ema):
        raise RuntimeError("during")
    assert all(torch.equal(v, moved[k]) for k, v in model.state_dict().items())
    with ema_weights(None):  # a run without EMA
        assert all(torch.equal(v, moved[k]) for k, v in model.state_dict().items())


def test_the_guard_names_the_step_what_it_trained_on_and_the_last_good_checkpoint(tmp_path):
    guard = FiniteGuard(tmp_path, describe=lambda step: f"samples [{step}, {step + 1}]")
    guard(torch.tensor(0.5), "loss", 3)
    guard(1e30, "gradient norm", 3)
    with pytest.raises(
        TrainingDiverged, match=r"^loss is nan at step 3 on samples \[3, 4\]; stopped, no checkpoint"
    ):
        guard(torch.tensor(float("nan")), "loss", 3)
    (tmp_path / "step_0000002").mkdir()
    point(tmp_path, "last", tmp_path / "step_0000002")
    with pytest.raises(
        TrainingDiverged, match=r"gradient norm is inf at step 7 .* checkpoint is .*step_0000002$"
    ):
        guard(float("inf"), "gradient norm", 7)


def test_the_periodic_evaluation_runs_every_n_steps_and_at_the_end_on_the_ema_weights(tmp_path):
    model, params = frozen_in_the_middle()
    ema = EMA(params, power=0.75)
    with torch.no_grad():
        params[0].add_(1.0)
    seen: list[tuple[bool, torch.Tensor]] = []

    def evaluate(m: torch.nn.Sequential) -> dict[str, float]:
        seen.append((m.training, next(m.parameters()).detach().clone()))
        return {"success_rate": 0.5, "mean_return": 1.0, "mean_length": 3.0}

    evaluator = PeriodicEvaluator(evaluate, every=4, final_step=10)
    assert [s for s in range(1, 11) if evaluator.due(s)] == [4, 8, 10]
    assert [s for s in range(1, 11) if PeriodicEvaluator(evaluate, 0, 10).due(s)] == [10]
    assert not any(PeriodicEvaluator(None, 4, 10).due(s) for s in range(1, 11))
    model.train()
    assert evaluator(model, ema)["success_rate"] == 0.5
    assert seen[0][0] is False and torch.equal(seen[0][1], ema.shadow_params[0])
    assert model.training and torch.equal(model[0].weight, params[0])

    def failing(m: torch.nn.Module) -> dict[str, float]:
        raise RuntimeError("the twin failed")

    with pytest.raises(RuntimeError, match="the twin failed"):
        PeriodicEvaluator(failing, 1, 1)(model, ema)
    assert model.training  # back to training, raw weights, after a failed evaluation too


def test_the_summary_names_only_checkpoints_that_exist(tmp_path):
    """``steps=-5`` used to end with a summary naming ``checkpoints/last``, which no step had written."""
    summary = TrainLog(tmp_path / "run", 0).finish(5, {"steps": 5}, dataset={"episodes": 2})
    assert summary["checkpoint"] is None and summary["best"] is None and summary["dataset"] == {"episodes": 2}
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["checkpoint"] is None


def test_a_resumed_log_drops_the_rows_past_its_step(tmp_path):
    log = TrainLog(tmp_path, 0)
    for step in (1, 2, 3):
        log.step(step, {"loss": float(step)}, 1.0, 1e-3, 8, 0.0, 1)
        log.evaluation(step, {"success_rate": 0.1 * step, "mean_return": 1.0, "mean_length": 5})
    log.finish(3, {})
    resumed = TrainLog(tmp_path, 2)  # its checkpoint was step 2: rows 3 would be written again
    assert [e["step"] for e in resumed.evaluations] == [1, 2]
    rows = [json.loads(line)["step"] for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert rows == [1, 2]
