"""``honed-bench sim`` runs end to end on tiny settings and reports every figure it promises."""

from __future__ import annotations

import json
from contextlib import nullcontext

from honed.benchmarks.sim import SimBenchConfig, run_bench
from honed.sim.config import SimConfig

KEYS = ("batched_env_steps_per_s", "sync_vector_env_steps_per_s", "async_vector_env_steps_per_s",
        "raw_mj_step_bound_env_steps_per_s", "render_fps_96", "render_fps_224")  # fmt: skip


def test_sim_bench_reports_every_figure(capsys):
    run_bench(SimBenchConfig(num_envs=[1, 3], seconds=0.2, rounds=2, warp=False))
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["task"] == "pick_cube" and out["num_envs"] == 3 and out["rounds"] == 2
    assert all(out[k] > 0 for k in KEYS)
    assert [r["num_envs"] for r in out["by_num_envs"]] == [1, 3]
    assert (
        out["batched_vs_raw_bound"]
        == out["batched_env_steps_per_s"] / out["raw_mj_step_bound_env_steps_per_s"]
    )


def test_contenders_take_turns_and_report_medians(monkeypatch):
    import honed.benchmarks.sim as bench

    monkeypatch.setattr(bench, "batched_stepper", lambda cfg, n: nullcontext("batched"))
    monkeypatch.setattr(bench, "vector_stepper", lambda cfg, n, cls: nullcontext(cls.__name__))
    calls: list[str] = []
    by_turn = {
        "batched": [9.0, 1.0, 5.0],
        "SyncVectorEnv": [2.0, 4.0, 3.0],
        "AsyncVectorEnv": [7.0, 8.0, 6.0],
    }
    monkeypatch.setattr(
        bench, "rate", lambda step, n, s: calls.append(step) or by_turn[step][calls.count(step) - 1]
    )
    bounds = iter([30.0, 10.0, 20.0])
    monkeypatch.setattr(bench, "raw_bound", lambda cfg, n, s: next(bounds))
    figures = bench.measure(SimConfig(), 4, 0.1, rounds=3)
    assert calls == ["batched", "SyncVectorEnv", "AsyncVectorEnv"] * 3
    assert figures == {"batched_env_steps_per_s": 5.0, "sync_vector_env_steps_per_s": 3.0,
                       "async_vector_env_steps_per_s": 7.0, "raw_mj_step_bound_env_steps_per_s": 20.0}  # fmt: skip
