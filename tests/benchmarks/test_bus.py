"""``honed-bench bus`` end to end on its debug preset against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from honed.benchmarks.bus import VERB
from honed.cli import run


def test_bus_benchmark_debug_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run("bench", {"bus": VERB}, ["bus", "preset=debug", f"output_dir={tmp_path}"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last == result
    assert {"cycle_ms_p50", "cycle_ms_p99", "max_rate_hz", "byte_time_bound_ms"} <= set(last)
    assert last["byte_time_bound_ms"] == pytest.approx((14 + 6 * 8 + 26) * 10 / 1_000_000 * 1000)
    assert last["cycle_ms_p50"] >= last["byte_time_bound_ms"] and last["failures"] == 0
    assert (tmp_path / "bus_so101.png").stat().st_size > 1000 and (tmp_path / "bus_so101.json").exists()
