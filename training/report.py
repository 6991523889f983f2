"""What a training run reports: TensorBoard scalars, the progress rate, ``summary.json`` and ``loss.png``.

A loop builds ``TrainLog(out, start_step)`` (after a resume, the rows past ``start_step`` are dropped,
so its logs read as one uninterrupted run), calls ``step`` after every optimizer step and ``evaluation``
after every evaluation, and ``finish`` once, with what its summary adds (``honed-train``: the dataset).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from honed.policies.checkpoint import write_json  # noqa: E402
from honed.training.checkpoints import BEST  # noqa: E402

HISTORY = "history.jsonl"
EVALUATIONS = "evaluations.jsonl"


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The JSON rows of a ``.jsonl`` log (none if it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_row(path: Path, row: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")


def keep_rows_up_to(path: Path, step: int) -> list[dict[str, Any]]:
    """Drop a log's rows past ``step`` (a fresh run, step 0, drops them all); returns those kept."""
    rows = [r for r in read_rows(path) if r["step"] <= step]
    if rows:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path.unlink(missing_ok=True)
    return rows


class TrainLog:
    """Logs every ``log_every`` steps to TensorBoard and ``history.jsonl``, and each in-training
    evaluation to ``evaluations.jsonl``; both survive a resume (rows past the resumed step are dropped)."""

    def __init__(self, out: Path, start_step: int):
        """``out``: the run's output directory; ``start_step``: the step a resumed run continues from
        (0 for a fresh run)."""
        out.mkdir(parents=True, exist_ok=True)
        self.out, self.start_step = out, start_step
        self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=start_step)
        self.history, self.evaluations_log = out / HISTORY, out / EVALUATIONS
        rows = keep_rows_up_to(self.history, start_step)
        self.earlier_s = float(rows[-1].get("elapsed_s", 0.0)) if rows else 0.0  # spent before a resume
        self.evaluations = keep_rows_up_to(self.evaluations_log, start_step)
        self.began = time.perf_counter()
        self.rate = 0.0
        self.window: list[float] = []

    def step(
        self,
        step: int,
        metrics: dict[str, float],
        grad_norm: float,
        lr: float,
        batch: int,
        tic: float,
        every: int,
    ) -> float:
        """Record optimisation step ``step`` (counted from 1; ``tic``: its ``perf_counter`` start, ``batch``:
        its samples) and write the scalars every ``every`` steps; returns the smoothed samples/s."""
        rate = batch / max(time.perf_counter() - tic, 1e-9)
        self.rate = rate if self.rate == 0 else 0.9 * self.rate + 0.1 * rate
        self.window.append(metrics["loss"])
        if step % every == 0:
            loss = sum(self.window) / len(self.window)
            self.window.clear()
            for name, value in {**metrics, "loss": loss, "grad_norm": grad_norm, "lr": lr}.items():
                self.writer.add_scalar(f"train/{name}", value, step)
            self.writer.add_scalar("train/samples_per_s", self.rate, step)
            append_row(
                self.history,
                {
                    "step": step,
                    "loss": loss,
                    **{k: v for k, v in metrics.items() if k != "loss"},
                    "samples_per_s": self.rate,
                    "elapsed_s": self.elapsed(),
                },
            )
        return self.rate

    def elapsed(self) -> float:
        """Seconds the run has taken so far, across resumes."""
        return round(self.earlier_s + time.perf_counter() - self.began, 2)

    def evaluation(self, step: int, result: dict[str, Any]) -> None:
        """Record the evaluation after step ``step`` (its success rate, mean return and mean length)."""
        row = {"step": step, **{k: result[k] for k in ("success_rate", "mean_return", "mean_length")}}
        self.evaluations.append(row)
        append_row(self.evaluations_log, row)
        self.writer.add_scalar("eval/success_rate", result["success_rate"], step)
        self.writer.add_scalar("eval/mean_return", result["mean_return"], step)
        self.writer.add_scalar("eval/mean_length", result["mean_length"], step)

    def finish(self, steps: int, config: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """Write ``summary.json`` (and ``loss.png``) and return the summary: ``steps`` (the run's total),
        timings, the final loss, the evaluations, the ``last`` and ``best`` checkpoints (null unless they
        exist), ``config`` (the run's config as a dict) and ``extra`` (e.g. ``dataset=...``)."""
        self.writer.close()
        rows = read_rows(self.history)
        root = self.out / "checkpoints"
        last, best = root / "last", root / BEST
        summary = {
            "steps": steps,
            "resumed_from": self.start_step,
            "wall_s": round(time.perf_counter() - self.began, 2),
            "total_wall_s": self.elapsed(),
            "samples_per_s": round(self.rate, 1),
            "final_loss": rows[-1]["loss"] if rows else None,
            **extra,
            "evaluations": self.evaluations,
            "checkpoint": str(last.resolve()) if last.exists() else None,
            "best": json.loads(best.read_text()) if best.exists() and (root / "best").exists() else None,
            "config": config,
        }
        write_json(self.out / "summary.json", summary)
        if rows:
            plot_history(rows, self.evaluations, self.out / "loss.png")
        return summary


def plot_history(rows: list[dict[str, Any]], evaluations: list[dict[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label="training loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    if evaluations:
        twin = ax.twinx()
        twin.plot([e["step"] for e in evaluations], [e["success_rate"] for e in evaluations], "o-", color="C1",
                  label="twin success")  # fmt: skip
        twin.set_ylabel("success rate")
        twin.set_ylim(0, 1)
    ax.set_title("training")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
