"""``honed-bench policy`` on tiny settings: every named latency figure is reported and printed last."""

from __future__ import annotations

import json

from honed.benchmarks.policy import PolicyBenchConfig, run_bench


def test_latency_benchmark_reports_the_named_keys(capsys):
    result = run_bench(
        PolicyBenchConfig(chunks=1, warmup=0, samplers=["ddim10", "flow10"], compile=False, threads=1)
    )
    for key in ("honed_ddim10_ms_p50", "honed_ddim10_ms_p99", "lerobot_ddim10_ms_p50", "honed_flow10_ms_p50"):
        assert result[key] > 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
