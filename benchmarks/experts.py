"""``honed-bench experts``: success rates of the grasping experts over seeded resets, per noise level."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from honed.cli import Verb, bounded
from honed.sim.experts.run import DEFAULT_NOISE, run_expert


@dataclass
class ExpertBenchConfig:
    """Which experts to run, how often and with what action noise."""

    tasks: list[str] = field(default_factory=lambda: ["pick_cube", "pick_color", "place_cube"])
    """Tasks whose experts run."""
    episodes: int = bounded(50, ge=1)
    """Seeded resets per task and noise level (seeds 0 .. episodes - 1)."""
    noises: list[float] = bounded([DEFAULT_NOISE, 0.03], ge=0)
    """Action noise levels (rad, std); the first is the demos' default."""
    write_docs: bool = False
    """Write the figures into docs/benchmarks.md."""


def bench(cfg: ExpertBenchConfig) -> dict[str, Any]:
    from honed.benchmarks.results import Figure, emit, record_in_docs

    rows, result, figures = [], {}, []
    for task in cfg.tasks:
        for noise in cfg.noises:
            start = time.perf_counter()
            report = run_expert(task, cfg.episodes, seed=0, noise=noise, progress=False)
            seconds = time.perf_counter() - start
            summary = report.summary()
            result[f"{task}@{noise}"] = summary["success_rate"]
            steps = summary["mean_steps_to_success"]
            steps_text = f"{steps:.0f}" if steps is not None else "-"
            rows.append(
                f"| {task} | {noise} | {cfg.episodes} | {summary['success_rate']:.2f} | "
                f"{summary['failed_seeds'] or '-'} | {steps_text} | {cfg.episodes / seconds:.1f} |"
            )
            print(rows[-1], flush=True)
            figures.append(
                Figure(f"{task} expert success, noise {noise} rad", f"{summary['success_rate']:.2f}")
            )
    if cfg.write_docs:
        table = (
            f"Reset seeds 0..{cfg.episodes - 1}, expert seed 0.\n\n"
            "| task | noise (rad) | episodes | success rate | failed seeds | mean steps to success | episodes/s |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(rows)
        )
        record_in_docs("experts", "honed-bench experts write_docs=true", table, figures)
    return emit(result)


VERB = Verb(
    ExpertBenchConfig,
    bench,
    "success rates of the pick and place experts over seeded resets",
    {"debug": ExpertBenchConfig(tasks=["pick_cube"], episodes=2, noises=[DEFAULT_NOISE])},
)
